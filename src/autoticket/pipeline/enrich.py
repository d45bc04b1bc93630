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

The catalog entry is found by the event's `service` (or `job`) label, by one
of a service's `aliases`, or, for an alert with neither label, by its
Kubernetes namespace and workload (`kubernetes:`). Found by an alias or by
Kubernetes keys, the catalog's name is written into the `service` label, so
that the alerts of one service correlate as one whatever they call it. A
service's `dashboards` join the event's links (`dashboard <name>`).
"""

from __future__ import annotations

from autoticket.config import CatalogConfig
from autoticket.model import Decision, Event
from autoticket.pipeline.base import Batch, Context, StageResult

__all__ = ["MAX_TEAM", "WORKLOAD_LABELS", "EnrichStage"]

MAX_TEAM = 128  # the width of the team columns
WORKLOAD_LABELS = ("deployment", "statefulset", "daemonset", "cronjob", "job_name", "container")


class EnrichStage:
    name = "enrich"

    def __init__(self, catalog: CatalogConfig) -> None:
        self.catalog = catalog
        self.aliases = {
            alias: name for name, entry in catalog.services.items() for alias in entry.aliases
        }
        self.workloads = {
            (entry.kubernetes.namespace, entry.kubernetes.workload): name
            for name, entry in catalog.services.items()
            if entry.kubernetes is not None
        }

    def _catalog_name(self, event: Event) -> tuple[str | None, str | None]:
        """The event's service as the catalog names it, and how it was found when
        not by its own name (`alias …`, `kubernetes …`)."""
        service = event.service
        if service:
            if service in self.catalog.services:
                return service, None
            canonical = self.aliases.get(service)
            return (canonical, f"alias {service!r}") if canonical else (service, None)
        if not self.workloads:
            return None, None
        labels = event.labels
        namespace = labels.get("namespace")
        if not namespace:
            return None, None
        for label in WORKLOAD_LABELS:
            name = self.workloads.get((namespace, labels.get(label, "")))
            if name is not None:
                return name, f"kubernetes {namespace}/{labels[label]}"
        pod = labels.get("pod", "")
        for (ns, workload), name in self.workloads.items():
            if ns == namespace and pod.startswith(f"{workload}-"):
                return name, f"kubernetes {namespace}/{pod}"
        return None, None

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        services = self.catalog.services
        for event in batch.events:
            service = event.service
            found_by = None
            if not service or service not in services:  # the common case needs no lookup
                service, found_by = self._catalog_name(event)
            if found_by is not None and service is not None:
                event.labels["service"] = service  # correlate keys by the catalog's name
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
                for name, url in entry.dashboards.items():
                    event.links.setdefault(f"dashboard {name}", url)
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
                        **({"service_found_by": found_by} if found_by else {}),
                        "tier": event.tier,
                        "runbook": event.runbook,
                        "owner_source": event.owner_source,
                    },
                )
            )
        return StageResult(batch)
