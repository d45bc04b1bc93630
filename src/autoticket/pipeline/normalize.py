"""normalize: raw deliveries in, canonical events out; unreadable ones to dead letters."""

from __future__ import annotations

from autoticket.errors import PayloadError
from autoticket.pipeline.base import Batch, Context, DeadLetter, StageResult
from autoticket.sources import UnknownSource, decode_json, get_source

__all__ = ["NormalizeStage"]


class NormalizeStage:
    name = "normalize"

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        events = list(batch.events)
        dead = list(batch.dead_letters)
        for delivery in batch.deliveries:
            try:
                source = get_source(delivery.source)
                payload = decode_json(delivery.body)
                events.extend(
                    source.parse(
                        payload,
                        delivery.headers,
                        delivery_id=delivery.id,
                        received_at=delivery.received_at,
                    )
                )
            except PayloadError as exc:
                dead.append(DeadLetter(delivery, self.name, exc.reason, exc.field))
            except UnknownSource as exc:
                dead.append(DeadLetter(delivery, self.name, str(exc), "source"))
        return StageResult(Batch(events=events, dead_letters=dead))
