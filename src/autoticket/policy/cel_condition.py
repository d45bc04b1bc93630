"""Optional CEL condition of a route, compiled once and evaluated per event.

Evaluation never raises: an error (a missing map key, a type mismatch) or a
non-boolean result means "no match", and the result says why, so the route
stage can explain its decision.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cel

from autoticket.model import Event
from autoticket.policy.matchers import PolicyError

__all__ = [
    "CONDITION_VARIABLES",
    "CelCondition",
    "ConditionResult",
    "effective_team",
    "event_variables",
]


def effective_team(event: Event) -> str:
    """The team a route sees: the enriched team, else the `team` label, else ""."""
    return event.team or event.labels.get("team") or ""


CONDITION_VARIABLES: dict[str, Callable[[Event], Any]] = {
    "labels": lambda e: e.labels,
    "annotations": lambda e: e.annotations,
    "severity": lambda e: e.severity.label,
    "severity_level": lambda e: int(e.severity),
    "source": lambda e: e.source,
    "kind": lambda e: str(e.kind),
    "status": lambda e: str(e.status),
    "title": lambda e: e.title,
    "team": effective_team,
    "service": lambda e: e.service or "",
    "environment": lambda e: e.environment,
}
"""What a condition may read, and how each is taken from the event."""

# Identifiers the library reports as variables although they are not ours to bind.
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
# `xs.all(x, ...)` and friends bind `x`; Program.variables() reports it as a variable.
_MACRO_BINDER = re.compile(
    r"\.\s*(?:all|exists|exists_one|existsOne|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_MAX_DETAIL = 300
# A string literal given to `.matches(...)`: CEL only checks the regex when it
# runs, so each one is tried once at compile time (see `_check_regex_literals`).
_MATCHES_LITERAL = re.compile(
    r"""\.\s*matches\s*\(\s*([rR]?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))\s*\)"""
)


def event_variables(event: Event) -> dict[str, Any]:
    """All condition variables of an event (for explanations and previews)."""
    return {name: get(event) for name, get in CONDITION_VARIABLES.items()}


@dataclass(frozen=True, slots=True)
class ConditionResult:
    matched: bool
    reason: str


_TRUE = ConditionResult(True, "condition is true")
_FALSE = ConditionResult(False, "condition is false")


class CelCondition:
    """A compiled CEL expression over an event's variables."""

    __slots__ = ("_getters", "_program", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._program = cel.compile(source)
        except Exception as exc:  # the library raises ValueError; be safe about others
            raise PolicyError("condition", f"invalid CEL condition: {exc}") from None
        _check_regex_literals(source)
        used = set(self._program.variables())
        bound = set(_MACRO_BINDER.findall(source))
        unknown = sorted(used - set(CONDITION_VARIABLES) - _TYPE_NAMES - bound)
        if unknown:
            raise PolicyError("condition", _unknown_reason(unknown[0]))
        # Only the variables the expression reads are converted per event: this
        # roughly halves evaluation time compared to passing all of them.
        self._getters = tuple(
            (name, get) for name, get in CONDITION_VARIABLES.items() if name in used
        )

    def __repr__(self) -> str:
        return f"CelCondition({self.source!r})"

    def evaluate(self, event: Event) -> ConditionResult:
        """True/False with a reason; never raises."""
        try:
            variables = {name: get(event) for name, get in self._getters}
            result = self._program.execute(variables)
        except Exception as exc:
            return ConditionResult(False, _error_reason(exc))
        except BaseException as exc:  # pyo3 panics derive from BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return ConditionResult(False, _error_reason(exc))
        if result is True:
            return _TRUE
        if result is False:
            return _FALSE
        shown = _clip(repr(result))
        return ConditionResult(
            False, f"condition returned {type(result).__name__} {shown}, not a bool (no match)"
        )


def _check_regex_literals(source: str) -> None:
    """A regex literal the engine rejects is a config error now, not a "no match" per event.

    The engine (Rust `regex`) is linear-time like RE2; the literal is checked
    by that same engine, on an empty string, so what passes here runs later.
    """
    for literal in _MATCHES_LITERAL.findall(source):
        try:
            cel.compile(f'"".matches({literal})').execute({})
        except BaseException as exc:  # pyo3 panics derive from BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            reason = f"invalid regex {literal} in condition: {_regex_error(str(exc))}"
            raise PolicyError("condition", reason) from None


def _regex_error(message: str) -> str:
    """The `error: ...` line of the engine's multi-line message, without its boilerplate."""
    for line in message.splitlines():
        line = line.strip()
        if line.startswith("error:"):
            return line.removeprefix("error:").split(". Check function")[0].strip()
    return "not a valid regex"


def _unknown_reason(name: str) -> str:
    known = ", ".join(CONDITION_VARIABLES)
    close = difflib.get_close_matches(name, list(CONDITION_VARIABLES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown variable {name!r} in condition{hint}; known variables: {known}"


def _error_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return (
            f"condition failed (no match): no such key {key!r}; guard the lookup, "
            f"e.g. '{key}' in labels && ..."
        )
    return f"condition failed (no match): {_clip(str(exc) or type(exc).__name__)}"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
