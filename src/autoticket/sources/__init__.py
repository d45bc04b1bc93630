"""Source adapters: request bodies from monitoring tools in, canonical events out.

Add an adapter by writing a `Source` subclass and listing it in `_ADAPTERS`;
it then needs `examples/payloads/<name>.json` and `<name>.expected.json`
(tests/sources/test_registry.py fails without them).
"""

from __future__ import annotations

from autoticket.errors import PayloadError
from autoticket.model import Delivery, Event
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
from autoticket.sources.release_judge import ReleaseJudgeSource

__all__ = [
    "GO_ZERO_TIME",
    "INTERNAL_SOURCES",
    "MAX_EVENTS",
    "SOURCES",
    "AlertmanagerSource",
    "GenericSource",
    "Source",
    "UnknownSource",
    "decode_json",
    "get_source",
    "known_sources",
    "parse_delivery",
    "parse_optional_time",
    "parse_time",
]

_ADAPTERS: list[type[Source]] = [AlertmanagerSource, GenericSource]

SOURCES: dict[str, type[Source]] = {cls.name: cls for cls in _ADAPTERS}
# Sources the service writes itself: parsed like the others, never served at ingest.
INTERNAL_SOURCES: dict[str, type[Source]] = {ReleaseJudgeSource.name: ReleaseJudgeSource}


def known_sources() -> list[str]:
    """Registered source names, sorted."""
    return sorted(SOURCES)


def get_source(name: str) -> Source:
    """A fresh adapter for `name` (adapters are stateless and cheap)."""
    cls = SOURCES.get(name)
    if cls is None:
        raise UnknownSource(name, SOURCES)
    return cls()


def parse_delivery(delivery: Delivery, max_events: int | None = None) -> list[Event]:
    """The one way a delivery becomes events: its adapter by name, JSON, then parse.

    Ingest, normalize, `replay --dry-run` and dead-letter replay all call
    this, so they agree on what is valid. Every failure is a PayloadError
    naming the field: `source` (404) for an adapter that is not registered,
    `body` (400) for malformed JSON, more than `max_events` events (413), a
    path into the payload (422) otherwise.
    """
    cls = SOURCES.get(delivery.source) or INTERNAL_SOURCES.get(delivery.source)
    if cls is None:
        raise PayloadError("source", str(UnknownSource(delivery.source, SOURCES)), status=404)
    payload = decode_json(delivery.body)
    if max_events is not None and isinstance(payload, dict):
        items = payload.get(cls.events_field)
        if isinstance(items, list) and len(items) > max_events:
            raise PayloadError(
                cls.events_field,
                f"too many events: {len(items)} in one delivery (at most {max_events}, "
                "ingest.max_events_per_delivery); send smaller groups (Alertmanager: "
                "max_alerts in the webhook config)",
                status=413,
            )
    return cls().parse(
        payload, delivery.headers, delivery_id=delivery.id, received_at=delivery.received_at
    )
