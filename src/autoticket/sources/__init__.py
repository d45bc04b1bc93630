"""Source adapters: request bodies from monitoring tools in, canonical events out.

Add an adapter by writing a `Source` subclass and listing it in `_ADAPTERS`
(start its `parse` with `self.body_object` / `self.body_objects`, and take
settings from `sources.<name>` in the config as constructor keywords: see
`Config.adapter_settings`); it then needs `examples/payloads/<name>.json` and `<name>.expected.json`
(tests/sources/test_registry.py fails without them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from autoticket.sources.cloudevents import CloudEventsSource
from autoticket.sources.cloudwatch import CloudWatchSource
from autoticket.sources.datadog import DatadogSource
from autoticket.sources.falco import FalcoSource
from autoticket.sources.generic import MAX_EVENTS, GenericSource
from autoticket.sources.github_actions import GitHubActionsSource
from autoticket.sources.grafana import GrafanaSource
from autoticket.sources.kubernetes import KubernetesSource
from autoticket.sources.logs import LogsSource
from autoticket.sources.prometheus import PrometheusSource
from autoticket.sources.release_judge import ReleaseJudgeSource
from autoticket.sources.sentry import SentrySource
from autoticket.sources.signature import GENERIC_SIGNATURE, HmacScheme, verify_signature
from autoticket.sources.suricata import SuricataSource
from autoticket.sources.wazuh import WazuhSource

__all__ = [
    "GENERIC_SIGNATURE",
    "GO_ZERO_TIME",
    "INTERNAL_SOURCES",
    "MAX_EVENTS",
    "SOURCES",
    "AlertmanagerSource",
    "CloudEventsSource",
    "CloudWatchSource",
    "DatadogSource",
    "FalcoSource",
    "GenericSource",
    "GitHubActionsSource",
    "GrafanaSource",
    "HmacScheme",
    "KubernetesSource",
    "LogsSource",
    "PrometheusSource",
    "SentrySource",
    "Source",
    "SuricataSource",
    "UnknownSource",
    "WazuhSource",
    "decode_json",
    "get_source",
    "known_sources",
    "parse_delivery",
    "parse_optional_time",
    "parse_time",
    "verify_signature",
]

_ADAPTERS: list[type[Source]] = [
    AlertmanagerSource,
    CloudEventsSource,
    CloudWatchSource,
    DatadogSource,
    FalcoSource,
    GenericSource,
    GitHubActionsSource,
    GrafanaSource,
    KubernetesSource,
    LogsSource,
    PrometheusSource,
    SentrySource,
    SuricataSource,
    WazuhSource,
]

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


def parse_delivery(
    delivery: Delivery,
    max_events: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Event]:
    """The one way a delivery becomes events: its adapter by name, JSON, then parse.

    Ingest, normalize, `replay --dry-run` and dead-letter replay all call
    this, so they agree on what is valid. Every failure is a PayloadError
    naming the field: `source` (404) for an adapter that is not registered,
    `body` (400) for malformed JSON, more than `max_events` events (413), a
    path into the payload (422) otherwise. `settings` holds, per source, the
    keyword arguments its adapter is built with (`Config.adapter_settings`).
    """
    cls = SOURCES.get(delivery.source) or INTERNAL_SOURCES.get(delivery.source)
    if cls is None:
        raise PayloadError("source", str(UnknownSource(delivery.source, SOURCES)), status=404)
    payload = decode_json(delivery.body)
    if max_events is not None:
        if cls.events_field:
            items = payload.get(cls.events_field) if isinstance(payload, dict) else None
        else:
            items = payload
        if isinstance(items, list) and len(items) > max_events:
            raise PayloadError(
                cls.events_field or "body",
                f"too many events: {len(items)} in one delivery (at most {max_events}, "
                "ingest.max_events_per_delivery); send smaller groups (Alertmanager: "
                "max_alerts in the webhook config)",
                status=413,
            )
    adapter = cls(**settings.get(delivery.source, {})) if settings else cls()
    return adapter.parse(
        payload, delivery.headers, delivery_id=delivery.id, received_at=delivery.received_at
    )
