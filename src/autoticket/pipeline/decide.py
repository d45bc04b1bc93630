"""decide: incident changes in, ticket verdicts out.

One verdict per incident per batch: which ticket action its changes call
for (open, reopen or update, or none when its route files no ticket), its
priority and its team. Decide only reads the incidents; the engine applies
the verdict and turns it into an outbox action (engine/actions.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from autoticket.config import Config, RouteConfig
from autoticket.model import AlertStatus, Event, IncidentChange, TicketDetails, TicketVerdict
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.pipeline.silencing import Silencing

__all__ = ["DecideStage"]

# Which ticket action a set of change kinds leads to, strongest first.
_ACTION_FOR = (("opened", "open"), ("reopened", "reopen"))


class DecideStage:
    name = "decide"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.silencing = Silencing(config)

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        by_incident: dict[int, list[IncidentChange]] = {}
        for change in batch.changes:
            by_incident.setdefault(change.incident_id, []).append(change)
        first_seen: dict[int, datetime] = {}
        worst: dict[int, Event] = {}
        seen: dict[int, set[str]] = {}
        owner_of: dict[int, str | None] = {}  # the owner source of the earliest event
        also: dict[int, dict[str, None]] = {}  # sinks of `continue`d routes, in order
        for event in batch.events:
            iid, at = event.incident_id, event.received_at
            if iid is None or iid not in by_incident:
                continue
            if iid not in first_seen or at < first_seen[iid]:
                first_seen[iid] = at
                owner_of[iid] = event.owner_source
            if iid not in worst or _more_telling(event, worst[iid]):
                worst[iid] = event
            if event.also_sinks:
                also.setdefault(iid, {}).update(dict.fromkeys(event.also_sinks))
            labels = seen.setdefault(iid, set())
            if event.service:
                labels.add(f"service={event.service}")
            if alertname := event.labels.get("alertname"):
                labels.add(f"alertname={alertname}")
        silenced, unsilenced = self.silencing.verdicts(batch, by_incident, ctx.stored())
        verdicts: list[TicketVerdict] = []
        for incident_id, changes in by_incident.items():
            incident = ctx.stored().incident(incident_id)
            route = self.config.route(incident.route)
            kinds = [c.kind for c in changes]
            added = sum(len(c.event_ids) for c in changes if c.kind == "alert_added")
            grown = self.config.growth_steps(incident.alert_count)
            if added and grown > self.config.growth_steps(incident.alert_count - added):
                kinds.append("grew")  # past a `raise_priority_at` count: its priority rises
            team = incident.team or (route.team if route is not None else None)
            owner = _owner_source(incident.team, team, owner_of.get(incident_id, "?"))
            files_ticket = route is not None and route.action == "ticket"
            verdicts.append(
                TicketVerdict(
                    incident_id=incident_id,
                    action=next((a for k, a in _ACTION_FOR if k in kinds), "update")
                    if files_ticket
                    else None,
                    rule=route.name if route is not None else incident.route,
                    changes=kinds,
                    priority=self.config.priority_for(
                        route,
                        incident.severity.label,
                        incident.alert_count,
                        worst[incident_id].tier if incident_id in worst else None,
                    ),
                    team=team,
                    sinks=_sinks(route, kinds, also.get(incident_id)),
                    first_received_at=first_seen.get(incident_id),
                    details=_details(worst[incident_id]) if incident_id in worst else None,
                    seen=frozenset(seen.get(incident_id, ())),
                    owner_source=owner,
                    silenced=None if incident_id in unsilenced else silenced.get(incident_id),
                    unsilenced=unsilenced.get(incident_id),
                )
            )
        return StageResult(replace(batch, verdicts=verdicts))


def _sinks(route: RouteConfig | None, kinds: list[str], also: dict[str, None] | None) -> list[str]:
    """The route's sinks; opening (or reopening), also those of the later routes its
    events matched through `continue`. Later actions reach every sink that got the
    ticket (engine/actions.record)."""
    sinks = list(route.sinks) if route is not None else []
    if also and ("opened" in kinds or "reopened" in kinds):
        sinks += [s for s in also if s not in sinks]
    return sinks


def _owner_source(own: str | None, team: str | None, of_event: str | None) -> str | None:
    """label | catalog | default_team (from enrich), route (the route's team filled
    in), none; None when no event of the incident is in the batch to say."""
    if own is None:
        return "route" if team is not None else "none"
    return of_event if of_event != "?" else None


def _more_telling(event: Event, than: Event) -> bool:
    """The ticket describes the most severe firing event, the earliest on a tie."""
    return _rank(event) > _rank(than)


def _rank(event: Event) -> tuple[bool, int, float]:
    firing = event.status is AlertStatus.FIRING
    return (firing, int(event.severity), -event.received_at.timestamp())


def _details(event: Event) -> TicketDetails:
    annotations = event.annotations
    return TicketDetails(
        summary=annotations.get("summary") or event.title,
        description=annotations.get("description") or event.description,
        service=event.service,
        environment=event.environment,
        alertname=event.labels.get("alertname"),
        runbook=event.runbook,
        links=dict(event.links),
        annotations=dict(annotations),
    )
