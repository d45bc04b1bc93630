"""Which label and annotation keys name a secret, and when a value looks machine-made.

A key is split into words (separators and camelCase, case-folded), so
`db_password`, `DB-PASSWORD`, `dbPassword` and `DbPassword` read alike.
A *strong* key names a secret outright (`password`, `api_key`, `Authorization`):
its whole value is masked. A *weak* key (`key`, `signature`, `hmac`) also names
harmless things (`sort_key: name`), so its value is masked only when it
`looks_random`.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["ENTROPY_KIND", "KEY_KINDS", "KeyRule", "key_rule", "looks_random"]

# The kind under which a random-looking value of a weak key is masked.
ENTROPY_KIND = "high_entropy"

KeyRule = tuple[str, bool]  # (kind, strong)

# A key's last word (or last words) -> kind. Checked longest first.
_STRONG_TAILS: dict[tuple[str, ...], str] = {
    ("private", "key", "id"): "private_key_id",
    ("private", "key"): "private_key",
    ("client", "secret"): "client_secret",
    ("access", "key"): "access_key",
    ("secret", "key"): "secret",
    ("api", "key"): "api_key",
    ("session", "id"): "session",
    ("session", "key"): "session",
    ("auth", "key"): "auth",
    ("password",): "password",
    ("passwd",): "password",
    ("passphrase",): "password",
    ("pwd",): "password",
    ("pass",): "password",
    ("secret",): "secret",
    ("token",): "token",
    ("apikey",): "api_key",
    ("accesskey",): "access_key",
    ("secretkey",): "secret",
    ("privatekey",): "private_key",
    ("clientsecret",): "client_secret",
    ("credential",): "credential",
    ("credentials",): "credential",
    ("creds",): "credential",
    ("authorization",): "authorization",
    ("auth",): "auth",
    ("cookie",): "cookie",
    ("session",): "session",
    ("sessionid",): "session",
}
# One-word keys that end in a strong word without a separator (`dbpassword`).
_STRONG_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("apikey", "api_key"),
    ("privatekey", "private_key"),
    ("clientsecret", "client_secret"),
    ("accesstoken", "token"),
    ("authtoken", "token"),
)
_WEAK_LAST = frozenset({"key", "sig", "signature", "hmac", "salt"})
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

_cache: dict[str, KeyRule | None] = {}


def _words(key: str) -> tuple[str, ...]:
    return tuple(w.casefold() for w in _WORDS.findall(key))


def _rule(key: str) -> KeyRule | None:
    words = _words(key)
    while words and words[-1].isdigit():  # `password_2`, `token1`
        words = words[:-1]
    if not words:
        return None
    for size in (3, 2, 1):
        kind = _STRONG_TAILS.get(words[-size:]) if len(words) >= size else None
        if kind is not None:
            return kind, True
    for suffix, kind in _STRONG_SUFFIXES:
        if words[-1].endswith(suffix):
            return kind, True
    if words[-1] in _WEAK_LAST:
        return ENTROPY_KIND, False
    return None


def key_rule(key: str) -> KeyRule | None:
    """(kind, strong) if `key` names a secret, else None; cached, as keys repeat."""
    try:
        return _cache[key]
    except KeyError:
        pass
    if len(_cache) >= 4096:
        _cache.clear()
    found = _cache[key] = _rule(key)
    return found


# One unbroken token of the characters secrets are encoded with (base64,
# base64url, hex, percent-encoding): a value with spaces is prose, not a key.
_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~%:-]+")
_CHUNKS = re.compile(r"[-_.:/~]")
MIN_RANDOM_LENGTH = 16
MIN_ENTROPY_BITS = 3.0
MIN_CHUNK = 12


def looks_random(value: str) -> bool:
    """Whether `value` looks like a generated secret rather than a name.

    All of: at least 16 characters; one token without spaces; a separator-free
    run of 12+ characters that mixes digits and letters or both cases (names
    are words: `tls-checkout-api-2024`, `db-creds`); and at least 3.0 bits of
    Shannon entropy per character (random hex gives ~3.7, base64 ~4.5+;
    `aaaaaaaaaaaaaaaa1` and `abcabcabc…` stay below).
    """
    if len(value) < MIN_RANDOM_LENGTH or not _TOKEN.fullmatch(value):
        return False
    if not any(len(c) >= MIN_CHUNK and _mixed(c) for c in _CHUNKS.split(value)):
        return False
    n = len(value)
    entropy = -sum(c / n * math.log2(c / n) for c in Counter(value).values())
    return entropy >= MIN_ENTROPY_BITS


def _mixed(chunk: str) -> bool:
    digit = lower = upper = False
    for ch in chunk:
        if ch.isdigit():
            digit = True
        elif ch.islower():
            lower = True
        elif ch.isupper():
            upper = True
    return (digit and (lower or upper)) or (lower and upper)


KEY_KINDS: frozenset[str] = frozenset(
    {*_STRONG_TAILS.values(), *(kind for _, kind in _STRONG_SUFFIXES), ENTROPY_KIND}
)
