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
from collections.abc import Callable
from dataclasses import dataclass

from autoticket.pipeline.secret_keys import ENTROPY_KIND, looks_random
from autoticket.regex import ConfigRegex

__all__ = [
    "BUILTIN_PATTERNS",
    "PATTERN_KINDS",
    "SecretPattern",
]


@dataclass(frozen=True, slots=True)
class SecretPattern:
    name: str
    regex: re.Pattern[str] | ConfigRegex  # built-ins: re; custom patterns: RE2
    keywords: tuple[str, ...] | None  # None: no prefilter, always run
    fold: bool = False  # compare keywords against the case-folded text
    # A match is masked only if `accept(secret)` holds (e.g. the value looks random).
    accept: Callable[[str], bool] | None = None
    # Texts shorter than this cannot match.
    min_len: int = 0
    # The keywords are context: looked for in the whole event, not in the field.
    context: bool = False
    # The field must hold `=` or `:` (a `key=value` pattern): skips the labels
    # that merely contain a keyword (`service: auth-gateway`).
    needs_sep: bool = False


# Never match where a previous pass already put a marker: keeps redaction idempotent.
_NOT_MASKED = r"(?!\[REDACTED:)"
# Value of an HTTP credential (token68-ish, but up to the next delimiter so
# nothing trailing leaks when a token has unusual characters; a backslash ends
# it too, as in the escaped quotes of JSON nested in a string).
_HEADER_VALUE = r"[^\s\"'<>,;\\]+"
# A quote, possibly escaped (`\"` when JSON sits inside a JSON string).
_QUOTE = r"(?:\\?[\"'])"

# Key names whose value is a secret, per kind. Order: the more specific first.
# A left boundary (start, a non-alphanumeric, or a camelCase hump) keeps the
# short names from matching inside words (`bypass=`, `oauth=`, `compass=`).
_B = r"(?:(?<![A-Za-z0-9])|(?-i:(?<=[a-z0-9])(?=[A-Z])))"
_KEY_CORES: tuple[tuple[str, str], ...] = (
    ("private_key_id", r"private[_-]?key[_-]?id"),
    ("private_key", r"private[_-]?key"),
    ("client_secret", r"client[_-]?secret"),
    ("access_key", r"access[_-]?key"),
    ("api_key", r"api[_-]?key"),
    ("secret", r"secret(?:[_-]?key)?"),
    ("password", r"pass(?:word|wd|phrase)"),
    ("credential", _B + r"(?:credentials?|creds)"),
    ("session", _B + r"session(?:[_-]?(?:id|key))?"),
    ("auth", _B + r"auth(?:[_-]?key)?"),
    ("token", r"token"),
)
_KEY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "private_key_id": ("private",),
    "private_key": ("private",),
    "client_secret": ("secret",),
    "access_key": ("access_key", "access-key", "accesskey"),
    "api_key": ("api_key", "api-key", "apikey"),
    "secret": ("secret",),
    "password": ("passw", "passphrase"),
    "credential": ("cred",),
    "session": ("session",),
    "auth": ("auth",),
    "token": ("token",),
}
# Values the short names `pwd` and `pass` take that are not passwords:
# `PWD=/home/app` (a directory), `pass=12 fail=0` (a test count).
_NOT_A_PASSWORD = re.compile(r"[/~].*|\d{1,6}")
# Optional closing quote of a JSON/YAML key, then `=`, `:`, `=>` or `:=`.
_SEP = _QUOTE + r"?[ \t]*(?:=>|:=|[:=])[ \t]*"


def _value(
    unquoted: str = r"[^\s\"'&<>]+", scheme: str = r"(?i:bearer|basic)[ \t]+"
) -> str:  # pragma: no mutate block (import time)
    """The value after a key: quoted (up to the matching quote, escapes allowed;
    to the end of the line if unclosed), quoted with escaped quotes (up to the
    next `\\"`), or `unquoted`. An auth scheme word in front is kept as
    context. The opening is atomic so that, when a marker follows, the regex
    cannot back off and take the quote or scheme for a value."""
    return (
        rf"(?>(?:{scheme})?(?P<bs>\\(?=[\"']))?(?P<q>[\"'])?(?(q)(?:{scheme})?))"
        + _NOT_MASKED
        + r"(?![ \t])"
        + r"(?P<secret>(?(bs)(?:(?!\\(?P=q))[^\r\n])+"
        r"|(?(q)(?:\\.|(?!(?P=q))[^\\\r\n])+"
        rf"|{unquoted})))"
    )


_VALUE = _value()
# Headers whose value may hold spaces and quotes (Digest, cookies): unquoted,
# it runs to the end of the line.
_LINE_VALUE = _value(r"[^\r\n]+", r"[A-Za-z][A-Za-z0-9-]*[ \t]+(?=\S)")
_COOKIE_VALUE = _value(r"[^\r\n]+", r"(?!)")


def _kv(kind: str, core: str) -> SecretPattern:  # pragma: no mutate block (import time)
    return _p(kind, rf"(?i:{core}){_SEP}{_VALUE}", _KEY_KEYWORDS[kind], fold=True)


def _p(
    name: str,
    regex: str,
    keywords: tuple[str, ...] | None,
    fold: bool = False,
    min_len: int = 0,
    accept: Callable[[str], bool] | None = None,
    context: bool = False,
) -> SecretPattern:  # pragma: no mutate block (import time)
    needs_sep = _SEP in regex
    return SecretPattern(
        name, re.compile(regex), keywords, fold, accept, min_len, context, needs_sep
    )


# A DER private key in base64 (PKCS#1, PKCS#8, SEC1, OpenSSH) pasted without its
# PEM header: the encoded start `SEQUENCE { INTEGER version ...` is recognisable,
# and unlike a certificate's or a public key's. Continues over line breaks
# (real or `\n` escaped), as a PEM body is wrapped.
_DER_KEY_START = (
    r"MII[A-Za-z0-9+/]{2}[AQgw]IBA"  # 30 82 LL LL 02 01 00: RSA and PKCS#8, long form
    r"|MIG[A-Za-z0-9+/]AgE[AB]"  # 30 81 LL 02 01 0v: EC P-384/521, PKCS#8 EC
    r"|MHcCAQEE|MC4CAQAw"  # EC P-256 SEC1, Ed25519 PKCS#8
    r"|b3BlbnNzaC1rZXktdjE"  # "openssh-key-v1"
)
_B64_RUN = r"[A-Za-z0-9+/=]"

BUILTIN_PATTERNS: tuple[SecretPattern, ...] = (
    # The whole PEM/PGP block (any case); an unterminated (truncated) block to the end.
    _p(
        "private_key",
        r"(?i:-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
        r"(?s:.*?(?i:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)|.*\Z)",
        ("private key",),
        fold=True,
    ),
    _p(
        "private_key",
        rf"(?<![A-Za-z0-9+/])(?:{_DER_KEY_START}){_B64_RUN}{{40,}}"
        rf"(?:(?:\\r|\r)?(?:\\n|\n){_B64_RUN}+)*",
        ("MII", "MIG", "MHcCAQEE", "MC4CAQAw", "b3BlbnNzaC1rZXktdjE"),
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
    # Bot, user, app, refresh (xoxe-), legacy workspace (xoxs-, xoxo-), rotated (xoxe.xoxp-).
    _p(
        "slack_token",
        r"(?<![A-Za-z0-9])(?:xox(?:[abeoprs]|e\.xox[bp])-|xapp-)[A-Za-z0-9-]{10,}",
        ("xox", "xapp-"),
    ),
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
    # OAuth access tokens (ya29.…) and refresh tokens (1//0…) of Google accounts.
    _p(
        "google_oauth_token",
        r"(?<![A-Za-z0-9_.-])ya29\.[A-Za-z0-9_-]{20,}"
        r"|(?<![A-Za-z0-9_:/.-])1//0[A-Za-z0-9_-]{20,}",
        ("ya29.", "1//0"),
    ),
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
    # Azure storage / Service Bus connection strings.
    _p(
        "azure_key",
        r"(?i:(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey))[ \t]*=[ \t]*"
        + _NOT_MASKED
        + r"(?P<secret>[A-Za-z0-9+/]{16,}={0,2})",
        ("accountkey", "sharedaccesskey"),
        fold=True,
    ),
    # Signatures of pre-signed URLs: Azure SAS `sig=`, S3 `X-Amz-Signature=`, GCS
    # `X-Goog-Signature=`, and an API key in a query (`?key=`).
    _p(
        "url_signature",
        r"(?i:(?<![A-Za-z0-9_-])(?:sig|signature|x-amz-signature|x-goog-signature)=)"
        + _NOT_MASKED
        + r"(?P<secret>[A-Za-z0-9%+/=_.~-]{10,})",
        ("sig=", "signature="),
        fold=True,
    ),
    _p(
        "url_signature",
        r"[?&;](?i:key)=" + _NOT_MASKED + r"(?P<secret>[A-Za-z0-9%+/=_.~-]{8,})",
        ("key=",),
        fold=True,
    ),
    # scheme://user:password@host: only the password. It may hold `@`, `/` or
    # `#` unencoded: it runs to the last `@` followed by a host (and a port, then
    # the end of the authority); a `host:port/path` is not taken for user:password.
    _p(
        "url_password",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]]*:"
        r"(?!\d{1,5}[/?#])(?P<secret>[^\s?\[\]\"'<>]+)@"
        r"(?=[A-Za-z0-9.-]+(?::\d+)?(?:[/?#\s\"'<>,;)]|\Z))",
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
    # A bare "Bearer <token>" outside a header: a value with a digit (8+
    # characters) or a long one mixing cases, so that prose ("bearer
    # authentication failed", "Bearer Token") is left alone.
    _p(
        "bearer_token",
        r"(?i:(?<![A-Za-z0-9])bearer)(?:[ \t]+|[ \t]*[:=][ \t]*"
        + _QUOTE
        + r"?)"
        + _NOT_MASKED
        + r"(?P<secret>(?=[^\s\"'<>,;\\]*[0-9])[^\s\"'<>,;\\]{8,}"
        r"|(?=[^\s\"'<>,;\\]*[A-Z])(?=[^\s\"'<>,;\\]*[a-z])[^\s\"'<>,;\\]{20,})",
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
    # Any other scheme (Digest, AWS4-HMAC-SHA256, ApiKey, a bare token): the
    # whole credential, to the end of the line or the closing quote.
    _p(
        "authorization",
        r"(?i:(?<![A-Za-z0-9])(?:proxy-)?authorization)" + _SEP + _LINE_VALUE,
        ("authorization",),
        fold=True,
    ),
    _p(
        "cookie",
        r"(?i:(?<![A-Za-z0-9])(?:set-)?cookie)" + _SEP + _COOKIE_VALUE,
        ("cookie",),
        fold=True,
    ),
    # AWS secret keys are 40 base64 characters: recognisable next to their key name...
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
    _p(
        "password",
        rf"(?i:{_B}(?:pwd|pass)){_SEP}{_VALUE}",
        ("pwd", "pass"),
        fold=True,
        accept=lambda secret: not _NOT_A_PASSWORD.fullmatch(secret),
    ),
    # ... and alone, as one run of exactly 40 mixing upper case, lower case and
    # digits (a git SHA is lower-case hex; a path or a name has separators), in
    # an event that mentions AWS or a key, secret or credential anywhere: a
    # keyword-free scan of every field would cost more than all the rest.
    _p(
        "aws_secret_access_key",
        r"(?<![A-Za-z0-9/+=_.-])(?=[a-z0-9/+]*[A-Z])(?=[A-Z0-9/+]*[a-z])(?=[A-Za-z/+]*[0-9])"
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_.-])",
        ("aws", "akia", "asia", "amazon", "secret", "cred", "key"),
        fold=True,
        min_len=40,
        context=True,
    ),
    # Any other name that ends in key/sig/signature/hmac/salt, with a random-looking value.
    _p(
        ENTROPY_KIND,
        r"(?i:(?<![A-Za-z0-9])[A-Za-z0-9_.-]*?(?:key|sig|signature|hmac|salt))"
        + _SEP
        + _QUOTE
        + r"?"
        + _NOT_MASKED
        + r"(?P<secret>[A-Za-z0-9+/=_.~%:-]{16,})",
        ("key", "sig", "hmac", "salt"),
        fold=True,
        accept=looks_random,
    ),
)

PATTERN_KINDS: frozenset[str] = frozenset(p.name for p in BUILTIN_PATTERNS)
