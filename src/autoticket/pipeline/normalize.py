"""normalize: raw deliveries in, canonical events out; unreadable ones to dead letters.

Every event leaves storable (no NUL, a fingerprint that fits) and within the
ingest caps on labels and text (`pipeline/limits.py`).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from autoticket.errors import PayloadError
from autoticket.model import DeadLetter, Event
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.pipeline.limits import EventLimits, cap_event
from autoticket.sources import parse_delivery

__all__ = ["MAX_FINGERPRINT", "NormalizeStage"]

MAX_FINGERPRINT = 64


def _clean(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def _clean_map(values: dict[str, str]) -> dict[str, str]:
    if not any("\x00" in k or "\x00" in v for k, v in values.items()):
        return values
    return {_clean(k): _clean(v) for k, v in values.items()}


def _storable(event: Event) -> Event:
    """What every database accepts: no NUL characters, a fingerprint that fits its column.

    PostgreSQL rejects NUL in text; a long caller-supplied fingerprint is
    replaced by its hash (stable, so grouping is unchanged).
    """
    event.title = _clean(event.title)
    event.description = _clean(event.description)
    event.labels = _clean_map(event.labels)
    event.annotations = _clean_map(event.annotations)
    event.links = _clean_map(event.links)
    if len(event.fingerprint) > MAX_FINGERPRINT or "\x00" in event.fingerprint:
        event.fingerprint = hashlib.sha256(event.fingerprint.encode()).hexdigest()[:32]
    return event


class NormalizeStage:
    name = "normalize"

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        events = list(batch.events)
        dead = list(batch.dead_letters)
        ingest = ctx.config.ingest
        limits = EventLimits.of(ingest)
        for delivery in batch.deliveries:
            try:
                parsed = parse_delivery(
                    delivery, ingest.max_events_per_delivery, ctx.config.adapter_settings
                )
                for event in parsed:
                    cap_event(_storable(event), limits)
                events.extend(parsed)
            except PayloadError as exc:
                dead.append(DeadLetter(delivery, self.name, exc.reason, exc.field))
        return StageResult(replace(batch, events=events, dead_letters=dead, parsed=len(events)))
