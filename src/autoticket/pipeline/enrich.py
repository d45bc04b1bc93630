"""enrich: who owns this? Adds team, tier and runbook from labels and the catalog.

Precedence for the owner team (first that applies wins):
1. a `team` label on the event (the sender knows best);
2. the catalog entry of the event's `service` label;
3. the catalog's `default_team`;
4. none (the route may still name a team).
`event.owner_source` records which (label, catalog, default_team); decide adds
`route` and `none`, and a ticket whose owner is one of the last three is
flagged `owner_fallback` (model.OWNER_FALLBACKS) and counted as unowned.
Tier and runbook come from the catalog entry; a `runbook_url` annotation wins
over the catalog's runbook.
"""

from __future__ import annotations

from autoticket.config import CatalogConfig
from autoticket.model import Decision
from autoticket.pipeline.base import Batch, Context, StageResult

__all__ = ["MAX_TEAM", "EnrichStage"]

MAX_TEAM = 128  # the width of the team columns


class EnrichStage:
    name = "enrich"

    def __init__(self, catalog: CatalogConfig) -> None:
        self.catalog = catalog

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        services = self.catalog.services
        for event in batch.events:
            service = event.service
            entry = services.get(service) if service else None
            label_team = event.labels.get("team", "")[:MAX_TEAM]
            if label_team:
                event.team, how, event.owner_source = label_team, "label team", "label"
            elif entry is not None:
                event.team, how = entry.team, f"catalog service {service!r}"
                event.owner_source = "catalog"
            elif self.catalog.default_team:
                event.team, how = self.catalog.default_team, "catalog default_team"
                event.owner_source = "default_team"
            else:
                how = "no team label, no catalog entry, no default"
            if entry is not None:
                event.tier = entry.tier
                event.runbook = entry.runbook
            runbook_annotation = event.annotations.get("runbook_url")
            if runbook_annotation:
                event.runbook = runbook_annotation
            event.decisions.append(
                Decision(
                    stage=self.name,
                    outcome=f"team={event.team}" if event.team else "no owner",
                    rule=how,
                    subject=event.id,
                    inputs={
                        "service": service,
                        "tier": event.tier,
                        "runbook": event.runbook,
                        "owner_source": event.owner_source,
                    },
                )
            )
        return StageResult(batch)
