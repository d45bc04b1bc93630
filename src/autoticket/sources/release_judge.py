"""The release judge's own events: a failed (or held) release as a deploy event.

The judge (lifecycle/release_check.py) writes one delivery of this source
per release verdict that needs a person, in the generic event format, and
the engine runs it through the pipeline like any alert: route, catalog
owner, correlate, decide, outbox. Its fingerprint is the release's, so a
retried or repeated check joins the same alert and never opens a second
incident. It is internal: `POST /api/v1/ingest/release-judge` is not served
(it is not in `SOURCES`), so no sender can forge a release verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from autoticket.model import Event, EventKind
from autoticket.sources.generic import GenericSource

__all__ = ["ReleaseJudgeSource"]


class ReleaseJudgeSource(GenericSource):
    name: ClassVar[str] = "release-judge"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        events = super().parse(payload, headers, delivery_id=delivery_id, received_at=received_at)
        return [replace(e, kind=EventKind.DEPLOY) for e in events]
