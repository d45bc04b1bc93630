"""The built-in secret kinds the redact stage masks: one named regex each.

Each pattern carries `keywords`: literal strings of which at least one must be
present for the regex to possibly match. They are the cheap prefilter that lets
the stage skip regex work on the (vast majority of) text without secrets, so
they must stay a superset: every match of `regex` contains one of them
(compared case-folded when `fold` is set, exactly otherwise; casefold() agrees
with the unicode case-insensitive matching of `re`, e.g. long s ~ "s").

Order matters: patterns run in sequence, so a specific vendor token is masked
under its own kind before the generic `key=value` patterns see it, and a
greedy generic pattern never cuts a vendor token in half.

If the regex has a group named `secret`, only that group is masked and the
rest of the match (the key, the scheme, the header name) is kept as context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoticket.regex import ConfigRegex

__all__ = [
    "BUILTIN_KINDS",
    "BUILTIN_PATTERNS",
    "SENSITIVE_KEYS",
    "SecretPattern",
]


@dataclass(frozen=True, slots=True)
class SecretPattern:
    name: str
    regex: re.Pattern[str] | ConfigRegex  # built-ins: re; custom patterns: RE2
    keywords: tuple[str, ...] | None  # None: no prefilter, always run
    fold: bool = False  # compare keywords against the case-folded text


# Never match where a previous pass already put a marker: keeps redaction idempotent.
_NOT_MASKED = r"(?!\[REDACTED:)"
# Value of an HTTP credential (token68-ish, but up to the next delimiter so
# nothing trailing leaks when a token has unusual characters; a backslash ends
# it too, as in the escaped quotes of JSON nested in a string).
_HEADER_VALUE = r"[^\s\"'<>,;\\]+"
# A quote, possibly escaped (`\"` when JSON sits inside a JSON string).
_QUOTE = r"(?:\\?[\"'])"

# Key names whose value is a secret, per kind. Order: the more specific first.
_KEY_CORES: tuple[tuple[str, str], ...] = (
    ("client_secret", r"client[_-]?secret"),
    ("access_key", r"access[_-]?key"),
    ("api_key", r"api[_-]?key"),
    ("secret", r"secret(?:[_-]?key)?"),
    ("password", r"pass(?:word|wd|phrase)"),
    ("token", r"token"),
)
_KEY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "client_secret": ("secret",),
    "access_key": ("access_key", "access-key", "accesskey"),
    "api_key": ("api_key", "api-key", "apikey"),
    "secret": ("secret",),
    "password": ("passw", "passphrase"),
    "token": ("token",),
}
# Optional closing quote of a JSON/YAML key, then `=`, `:`, `=>` or `:=`.
_SEP = _QUOTE + r"?[ \t]*(?:=>|:=|[:=])[ \t]*"
# The value: quoted (up to the matching quote, escapes allowed; to the end of
# the line if unclosed), quoted with escaped quotes (up to the next `\"`), or
# unquoted (up to whitespace, a quote, `&` or `<>`). An auth scheme word in
# front is kept as context. The opening is atomic so that, when a marker
# follows, the regex cannot back off and take the quote or scheme for a value.
_VALUE = (
    r"(?>(?:(?i:bearer|basic)[ \t]+)?(?P<bs>\\(?=[\"']))?(?P<q>[\"'])?)"
    + _NOT_MASKED
    + r"(?P<secret>(?(bs)(?:(?!\\(?P=q))[^\r\n])+"
    r"|(?(q)(?:\\.|(?!(?P=q))[^\\\r\n])+"
    r"|[^\s\"'&<>]+)))"
)


def _kv(kind: str, core: str) -> SecretPattern:
    return SecretPattern(
        kind, re.compile(rf"(?i:{core}){_SEP}{_VALUE}"), _KEY_KEYWORDS[kind], fold=True
    )


def _p(name: str, regex: str, keywords: tuple[str, ...], fold: bool = False) -> SecretPattern:
    return SecretPattern(name, re.compile(regex), keywords, fold)


BUILTIN_PATTERNS: tuple[SecretPattern, ...] = (
    # The whole PEM/PGP block; an unterminated (truncated) block to the end of the text.
    _p(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        r"(?s:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
        ("PRIVATE KEY",),
    ),
    _p(
        "aws_access_key_id",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        ("AKIA", "ASIA"),
    ),
    _p(
        "github_token",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"
        r"(?![A-Za-z0-9_])",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _p("gitlab_token", r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}", ("glpat-",)),
    _p("slack_token", r"(?<![A-Za-z0-9])(?:xox[abpr]-|xapp-)[A-Za-z0-9-]{10,}", ("xox", "xapp-")),
    _p(
        "slack_webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/-]{8,})",
        ("hooks.slack.com",),
    ),
    _p(
        "stripe_key",
        r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        ("k_live_", "k_test_"),
    ),
    _p("google_api_key", r"(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", ("AIza",)),
    # sk-..., sk-proj-..., sk-ant-...: long, and mixed case with digits, so that
    # kebab-case names that happen to start with "sk-" are left alone.
    _p(
        "openai_key",
        r"(?<![A-Za-z0-9_-])sk-(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Z])"
        r"(?=[A-Za-z0-9_-]*[a-z])[A-Za-z0-9_-]{32,}",
        ("sk-",),
    ),
    _p("npm_token", r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])", ("npm_",)),
    _p("pypi_token", r"(?<![A-Za-z0-9_-])pypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-AgE",)),
    _p(
        "jwt",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        ("eyJ",),
    ),
    # scheme://user:password@host: only the password; it may hold an unencoded '@'.
    _p(
        "url_password",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]]*:"
        r"(?P<secret>[^\s/?#\[\]]+)@",
        ("@",),
    ),
    _p(
        "bearer_token",
        r"(?i:(?:proxy-)?authorization"
        + _QUOTE
        + r"?[ \t]*[:=][ \t]*"
        + _QUOTE
        + r"?(?:bearer|token)[ \t]+)"
        + _NOT_MASKED
        + rf"(?P<secret>{_HEADER_VALUE})",
        ("authorization",),
        fold=True,
    ),
    # A bare "Bearer <token>" outside a header: needs a long value with a digit,
    # so that prose ("bearer authentication failed") is left alone.
    _p(
        "bearer_token",
        r"(?i:(?<![A-Za-z0-9])bearer)[ \t]+"
        + _NOT_MASKED
        + r"(?=[^\s\"'<>,;\\]*[0-9])(?P<secret>[^\s\"'<>,;\\]{16,})",
        ("bearer",),
        fold=True,
    ),
    _p(
        "basic_auth",
        r"(?i:(?:proxy-)?authorization"
        + _QUOTE
        + r"?[ \t]*[:=][ \t]*"
        + _QUOTE
        + r"?basic[ \t]+)"
        + _NOT_MASKED
        + rf"(?P<secret>{_HEADER_VALUE})",
        ("authorization",),
        fold=True,
    ),
    # AWS secret keys are 40 base64 characters: only recognisable next to their key name.
    _p(
        "aws_secret_access_key",
        r"(?i:(?:aws_?)?secret_?access_?key|aws_?secret(?:_?key)?)"
        + _SEP
        + _QUOTE
        + r"?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        ("secret",),
        fold=True,
    ),
    *(_kv(kind, core) for kind, core in _KEY_CORES),
)

BUILTIN_KINDS: frozenset[str] = frozenset(p.name for p in BUILTIN_PATTERNS)

# A whole annotation key that names a secret (`password`, `db_password`,
# `X-Api-Key`, `clientSecret`): its value is masked entirely, whatever it looks like.
SENSITIVE_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"(?i)[A-Za-z0-9_.-]*?{core}")) for kind, core in _KEY_CORES
)
