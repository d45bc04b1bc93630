"""The route stage: pick each event's route; drop ignored and unrouted events.

Every event gets a `route` Decision explaining the pick (or the miss). Dropped
events leave the batch; their decisions go to `Batch.dropped`, where they are
counted (they are not stored per incident).
"""

from __future__ import annotations

from dataclasses import replace

from autoticket.model import Decision, Event
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.policy import RouteTable

__all__ = ["RouteStage"]


class RouteStage:
    """Stage "route": sets `event.route` from the first matching route of the table."""

    name: str = "route"

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        kept: list[Event] = []
        dropped: list[Decision] = []
        evaluate = self.table.evaluate
        for event in batch.events:
            found, skipped = evaluate(event)
            if found is None:
                decision = Decision(
                    stage="route",
                    outcome="unrouted",
                    rule=None,
                    subject=event.id,
                    inputs={
                        "reason": f"no route matched ({len(skipped)} checked); event dropped",
                        "skipped": skipped,
                    },
                )
                event.decisions.append(decision)
                decision.inputs["source"] = event.source
                dropped.append(decision)
                continue
            route = found.route
            event.route = route.name
            ignored = route.action == "ignore"
            reason = f"{found.reason}; action ignore, event dropped" if ignored else found.reason
            inputs: dict[str, object] = {"reason": reason, "skipped": skipped}
            if found.also:
                inputs["continued"] = [r.name for r in found.also]
                event.also_sinks = tuple(
                    dict.fromkeys(s for r in found.also if r.action == "ticket" for s in r.sinks)
                )
            decision = Decision(
                stage="route",
                outcome="ignored" if ignored else "matched",
                rule=route.name,
                subject=event.id,
                inputs=inputs,
            )
            event.decisions.append(decision)
            if ignored:
                decision.inputs["source"] = event.source
                dropped.append(decision)
            else:
                kept.append(event)
        return StageResult(replace(batch, events=kept, dropped=[*batch.dropped, *dropped]))
