"""Alertmanager-style label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

Semantics follow Alertmanager: regexes are fully anchored, and a missing label
matches as the empty string (`foo=""` matches when foo is absent). Regexes are
RE2, as in Alertmanager (`autoticket.regex`): matching is linear in the value's
length, so no label value can make routing slow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from autoticket.regex import ConfigRegex, RegexError, compile_config_regex

__all__ = ["MatchOp", "Matcher", "PolicyError", "parse_matcher", "parse_matchers"]


class PolicyError(ValueError):
    """A route, matcher or condition that cannot be compiled.

    `field` is a path relative to the route (`matchers.1`, `condition`) or None;
    `reason` is a sentence a user can act on. It lives here, in the lowest module
    of the package, so that every policy module can raise it without import cycles.
    """

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


# Two-character operators first, so `=~` is not read as `=` followed by `~`.
_OPS: tuple[MatchOp, ...] = (MatchOp.RE, MatchOp.NRE, MatchOp.NE, MatchOp.EQ)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WS = " \t\r\n"
# Characters that end an unquoted value; `"'{}` inside one are reported as errors.
_UNQUOTED_STOP = frozenset(_WS + "\"',{}")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_QUOTE_TABLE = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"})


def _quote(text: str) -> str:
    return '"' + text.translate(_QUOTE_TABLE) + '"'


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label test. Construct directly or with `parse_matcher`; regexes compile here."""

    name: str
    op: MatchOp
    value: str
    regex: ConfigRegex | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        op = MatchOp(self.op)
        object.__setattr__(self, "op", op)
        if op in (MatchOp.RE, MatchOp.NRE):
            if self.regex is None:
                object.__setattr__(self, "regex", _compile_regex(self.value, str(self)))
        elif self.regex is not None:
            object.__setattr__(self, "regex", None)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Test a label set; an absent label is the empty string."""
        return self.matches_value(labels.get(self.name, ""))

    def matches_value(self, value: str) -> bool:
        """Test the value of this matcher's label (already looked up)."""
        op = self.op
        if op is MatchOp.EQ:
            return value == self.value
        if op is MatchOp.NE:
            return value != self.value
        regex = self.regex
        hit = regex is not None and regex.fullmatches(value)
        return hit if op is MatchOp.RE else not hit

    def __str__(self) -> str:
        name = self.name if _IDENT.fullmatch(self.name) else _quote(self.name)
        return f"{name}{self.op.value}{_quote(self.value)}"


def _compile_regex(pattern: str, where: str) -> ConfigRegex:
    try:
        # fullmatches() anchors like Alertmanager's ^(?:re)$ without wrapping, so
        # a leading global flag such as (?i) stays legal.
        return compile_config_regex(pattern)
    except RegexError as exc:
        raise PolicyError(None, f"invalid regex in {where!r}: {exc.reason}") from None


class _Syntax(Exception):
    """Internal: a parse problem, turned into PolicyError with the full text."""


class _Scanner:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def quoted(self) -> str:
        """Read a double-quoted string starting at the opening quote."""
        text = self.text
        pos = self.pos + 1
        out: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                self.pos = pos + 1
                return "".join(out)
            if ch == "\\":
                nxt = text[pos + 1] if pos + 1 < len(text) else ""
                if nxt not in _ESCAPES:
                    shown = f"\\{nxt}" if nxt else "\\ at the end"
                    raise _Syntax(
                        f"unknown escape '{shown}' in quoted string "
                        '(allowed: \\" \\\\ \\n \\t \\r; write \\\\ for a backslash)'
                    )
                out.append(_ESCAPES[nxt])
                pos += 2
                continue
            out.append(ch)
            pos += 1
        raise _Syntax('unterminated quoted string; close it with "')

    def name(self) -> str:
        if self.peek() == '"':
            name = self.quoted()
            if not name:
                raise _Syntax("empty label name")
            return name
        m = _IDENT.match(self.text, self.pos)
        if m is None:
            found = self.text[self.pos : self.pos + 10]
            if not found:
                raise _Syntax('empty matcher; write e.g. severity="critical"')
            raise _Syntax(
                f"expected a label name at {found!r} (letters, digits and _, not starting "
                "with a digit; quote other names)"
            )
        self.pos = m.end()
        return m.group()

    def op(self, name: str) -> MatchOp:
        for op in _OPS:
            if self.text.startswith(op.value, self.pos):
                self.pos += len(op.value)
                return op
        found = self.text[self.pos : self.pos + 5]
        where = f"found {found!r}" if found else "found nothing"
        raise _Syntax(f"expected an operator =, !=, =~ or !~ after {name!r}, {where}")

    def value(self, op: MatchOp, in_braces: bool) -> str:
        ch = self.peek()
        if ch == '"':
            return self.quoted()
        if ch in ("=", "!", "~"):
            raise _Syntax(f"'{op.value}{ch}' is not an operator; use =, !=, =~ or !~")
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] not in _UNQUOTED_STOP:
            pos += 1
        self.pos = pos
        stop = self.peek()
        if stop in ("'", '"') or (stop in ("{", "}") and not (in_braces and stop == "}")):
            raise _Syntax(
                f"unexpected {stop!r} in unquoted value; put the whole value in double quotes"
            )
        return text[start:pos]


def _one(sc: _Scanner, in_braces: bool) -> Matcher:
    sc.skip_ws()
    name = sc.name()
    sc.skip_ws()
    op = sc.op(name)
    sc.skip_ws()
    value = sc.value(op, in_braces)
    return Matcher(name, op, value)


def _parse_text(text: str) -> list[Matcher]:
    """Parse one config entry: a single matcher or a `{a="b", c=~"d"}` list."""
    sc = _Scanner(text)
    sc.skip_ws()
    if sc.peek() != "{":
        matcher = _one(sc, in_braces=False)
        sc.skip_ws()
        if not sc.at_end():
            rest = text[sc.pos : sc.pos + 10]
            raise _Syntax(
                f"unexpected {rest!r} after the value; quote values that contain spaces or "
                'commas, and use the {a="b", c="d"} form for several matchers'
            )
        return [matcher]
    sc.pos += 1
    found: list[Matcher] = []
    while True:
        sc.skip_ws()
        if sc.peek() == "}":
            break
        found.append(_one(sc, in_braces=True))
        sc.skip_ws()
        ch = sc.peek()
        if ch == ",":
            sc.pos += 1
            continue
        if ch == "}":
            break
        where = repr(text[sc.pos : sc.pos + 10]) if ch else "the end"
        raise _Syntax(f"expected ',' or '}}' after a matcher, found {where}")
    sc.pos += 1
    sc.skip_ws()
    if not sc.at_end():
        raise _Syntax(f"unexpected {text[sc.pos : sc.pos + 10]!r} after '}}'")
    return found


def _parse_or_raise(text: str) -> list[Matcher]:
    try:
        return _parse_text(text)
    except _Syntax as exc:
        raise PolicyError(None, f"invalid matcher {text!r}: {exc}") from None


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; the brace form is accepted if it holds exactly one."""
    found = _parse_or_raise(text)
    if len(found) != 1:
        raise PolicyError(
            None,
            f"invalid matcher {text!r}: expected exactly one matcher, found {len(found)}",
        )
    return found[0]


def parse_matchers(texts: Iterable[str]) -> list[Matcher]:
    """Parse config entries, each a matcher or a brace list, into one flat list.

    Errors carry field `matchers.<i>`, the index of the offending entry, which is
    the path inside a route config.
    """
    out: list[Matcher] = []
    for i, text in enumerate(texts):
        try:
            out.extend(_parse_or_raise(text))
        except PolicyError as exc:
            raise PolicyError(f"matchers.{i}", exc.reason) from None
    return out
