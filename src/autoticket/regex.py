"""Regexes that come from configuration, run by RE2: linear time whatever the input.

Python's `re` backtracks: a route matcher such as `.*-.*-canary` against a
90 KB label, or a custom redaction pattern such as `(a+)+$`, can hold the GIL
for seconds and stall the whole process. RE2 (`google-re2`) never backtracks,
so matching costs time proportional to the input. The price is its syntax,
the same as Alertmanager's (Go `regexp`): no backreferences or lookaround,
and `\\d`, `\\w`, `\\s`, `\\b` are ASCII-only. A pattern RE2 cannot run is a
`RegexError` at config load, never a slow match later. The built-in redaction
patterns are ours, written for `re`, and stay there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

__all__ = ["ConfigRegex", "RegexError", "compile_config_regex"]

# A pattern's compiled program may use at most this much memory (RE2's default);
# a pattern that needs more is refused rather than matched slowly.
_MAX_MEM = 8 << 20
# `fullmatches` remembers results for values up to this long, at most this many:
# label values repeat a lot, and a dict lookup is ten times cheaper than a match.
_MEMO_VALUE_MAX = 256
_MEMO_SIZE = 4096


class RegexError(ValueError):
    """A configured pattern RE2 cannot compile; `reason` says why, for the user."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid regular expression {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class ConfigRegex:
    """A compiled RE2 pattern with the `re.Pattern` methods the pipeline uses.

    `span(name)` of a match also accepts a group name (RE2's match object
    takes only numbers), so redaction can mask just a `secret` group.
    """

    __slots__ = ("_filter", "_memo", "_regex", "groupindex", "pattern")

    def __init__(self, pattern: str, regex: Any, prefilter: Any) -> None:
        self.pattern = pattern
        self._regex = regex
        self._filter = prefilter
        self.groupindex: dict[str, int] = dict(regex.groupindex)
        self._memo: dict[str, bool] = {}

    def may_match(self, text: str) -> bool:
        """False only if no part of `text` can match: a required literal is missing.

        RE2's FilteredRE2 derives the literals ("atoms") every match contains,
        and looks for all of them in one pass, so one call over an event's
        joined text rules a pattern out for all its fields. Several times
        cheaper than a search; anchors do not matter to it.
        """
        return self._filter.Match(text, True) is not None

    def __repr__(self) -> str:
        return f"ConfigRegex({self.pattern!r})"

    def fullmatches(self, text: str) -> bool:
        """Whether the whole of `text` matches (Alertmanager's anchoring); memoized."""
        memo = self._memo
        found = memo.get(text)
        if found is None:
            found = self._regex.fullmatch(text) is not None
            if len(text) <= _MEMO_VALUE_MAX:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[text] = found
        return found

    def fullmatch(self, text: str) -> _Match | None:
        found = self._regex.fullmatch(text)
        return None if found is None else _Match(found, self.groupindex)

    def search(self, text: str) -> _Match | None:
        found = self._regex.search(text)
        return None if found is None else _Match(found, self.groupindex)

    def sub(self, repl: Callable[[Any], str], text: str) -> str:
        """Replace every match by `repl(match)`; `text` itself when nothing matched."""
        if self._regex.search(text) is None:  # the common case: one scan, no rebuilding
            return text
        groupindex = self.groupindex
        return str(self._regex.sub(lambda m: repl(_Match(m, groupindex)), text))


class _Match:
    """An RE2 match whose `span` and `group` take group names too."""

    __slots__ = ("_groupindex", "_match")

    def __init__(self, match: Any, groupindex: dict[str, int]) -> None:
        self._match = match
        self._groupindex = groupindex

    @property
    def string(self) -> str:
        return str(self._match.string)

    def _index(self, group: int | str) -> int:
        return self._groupindex[group] if isinstance(group, str) else group

    def span(self, group: int | str = 0) -> tuple[int, int]:
        start, end = self._match.span(self._index(group))
        return int(start), int(end)

    def group(self, group: int | str = 0) -> str:
        return str(self._match.group(self._index(group)) or "")


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error is raised to the caller; RE2 would also print it
    options.max_mem = _MAX_MEM
    return options


_OPTIONS = _options()


def compile_config_regex(pattern: str) -> ConfigRegex:
    """Compile a pattern from the config with RE2, or raise RegexError saying why."""
    try:
        compiled = re2.compile(pattern, _OPTIONS)
        prefilter = re2.Filter()
        prefilter.Add(pattern, _OPTIONS)
        prefilter.Compile()
    except re2.error as exc:
        raise RegexError(pattern, _reason(exc, pattern)) from None
    except (TypeError, ValueError, UnicodeError) as exc:
        raise RegexError(pattern, str(exc)) from None
    return ConfigRegex(pattern, compiled, prefilter)


# Python-only constructs people bring from `re`, and what to write instead.
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\(\?<?[=!]"), "lookahead and lookbehind are not supported"),
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences are not supported"),
    (re.compile(r"\(\?>|[*+?}][+]"), "atomic groups and possessive quantifiers are not supported"),
    (re.compile(r"\\Z"), "write \\z for the end of the text (RE2 has no \\Z)"),
)


def _reason(exc: BaseException, pattern: str) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    hints = [hint for rx, hint in _HINTS if rx.search(pattern)]
    reason = text or "not a valid RE2 pattern"
    if hints:
        reason += f" ({'; '.join(hints)})"
    return reason + "; patterns use RE2 syntax, as Alertmanager does"
