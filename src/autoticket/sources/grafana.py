"""Grafana unified alerting webhook contact point (payload `version` "1").

Grafana's notification is Alertmanager's webhook payload plus a few fields
(`orgId`, `title`, `state`, `message`, and per alert `values`, `silenceURL`,
`dashboardURL`, `panelURL`, `imageURL`, `valueString`). The Alertmanager
adapter does the shared checks; this one adds Grafana's links and values.
Mapping: docs/sources/grafana.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import Event
from autoticket.sources.alertmanager import AlertmanagerSource
from autoticket.sources.base import json_type, optional_str
from autoticket.sources.signature import HmacScheme

__all__ = ["GrafanaSource"]

_LINKS = (
    ("silenceURL", "silence"),
    ("dashboardURL", "dashboard"),
    ("panelURL", "panel"),
    ("imageURL", "image"),
)


class GrafanaSource(AlertmanagerSource):
    """Grafana webhook notifications: one event per alert of the group."""

    name: ClassVar[str] = "grafana"
    events_field: ClassVar[str] = "alerts"
    # The contact point's optional "HMAC Signature" setting (Grafana 12+): bare
    # lowercase hex HMAC-SHA256 of the body. With a "Timestamp Header" set there,
    # Grafana signs "timestamp:body" instead, which this scheme does not check.
    signature: ClassVar[HmacScheme | None] = HmacScheme("X-Grafana-Alerting-Signature")

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        events = super().parse(payload, headers, delivery_id=delivery_id, received_at=received_at)
        org = payload.get("orgId")
        if org is not None and (type(org) is not int or org < 0):
            raise PayloadError("orgId", f"expected a non-negative integer, got {json_type(org)}")
        for index, event in enumerate(events):
            self._grafana_fields(payload["alerts"][index], f"alerts[{index}]", event)
            if org is not None:
                event.source_meta["org_id"] = str(org)
        return events

    @staticmethod
    def _grafana_fields(alert: dict[str, Any], path: str, event: Event) -> None:
        for key, link in _LINKS:
            if url := optional_str(alert, key, f"{path}.{key}"):
                event.links[link] = url
        # externalURL is Grafana's own address here, not an Alertmanager's.
        if external := event.links.pop("alertmanager", None):
            event.links["grafana"] = external
        if "am_fingerprint" in event.source_meta:
            event.source_meta["grafana_fingerprint"] = event.source_meta.pop("am_fingerprint")
        values = alert.get("values")
        if values is not None:
            if type(values) is not dict:
                raise PayloadError(f"{path}.values", f"expected an object, got {json_type(values)}")
            shown: list[str] = []
            for key, value in values.items():
                if value is not None and (type(value) not in (int, float)):
                    raise PayloadError(
                        f"{path}.values.{key}", f"expected a number, got {json_type(value)}"
                    )
                shown.append(f"{key}={'null' if value is None else value}")
            if shown:
                event.annotations.setdefault("values", ", ".join(shown))
        if value_string := optional_str(alert, "valueString", f"{path}.valueString"):
            event.source_meta["value_string"] = value_string[:1000]
