"""Source adapters: request bodies from monitoring tools in, canonical events out.

Add an adapter by writing a `Source` subclass and listing it in `_ADAPTERS`;
it then needs `examples/payloads/<name>.json` and `<name>.expected.json`
(tests/sources/test_registry.py fails without them).
"""

from __future__ import annotations

from autoticket.sources.alertmanager import AlertmanagerSource
from autoticket.sources.base import (
    GO_ZERO_TIME,
    Source,
    UnknownSource,
    decode_json,
    parse_optional_time,
    parse_time,
)
from autoticket.sources.generic import MAX_EVENTS, GenericSource

__all__ = [
    "GO_ZERO_TIME",
    "MAX_EVENTS",
    "SOURCES",
    "AlertmanagerSource",
    "GenericSource",
    "Source",
    "UnknownSource",
    "decode_json",
    "get_source",
    "known_sources",
    "parse_optional_time",
    "parse_time",
]

_ADAPTERS: list[type[Source]] = [AlertmanagerSource, GenericSource]

SOURCES: dict[str, type[Source]] = {cls.name: cls for cls in _ADAPTERS}


def known_sources() -> list[str]:
    """Registered source names, sorted."""
    return sorted(SOURCES)


def get_source(name: str) -> Source:
    """A fresh adapter for `name` (adapters are stateless and cheap)."""
    cls = SOURCES.get(name)
    if cls is None:
        raise UnknownSource(name, SOURCES)
    return cls()
