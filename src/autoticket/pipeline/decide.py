"""decide: incident changes in, ticket actions out.

One action per incident per batch, keyed by the incident's version, so a
retried or replayed batch produces the same idempotency keys and the outbox
unique constraint turns duplicates into no-ops.
"""

from __future__ import annotations

import hashlib

from autoticket.config import Config
from autoticket.model import Decision, Incident, IncidentChange, TicketAction
from autoticket.pipeline.base import Batch, Context, StageResult

__all__ = ["DecideStage", "action_key", "incident_ref", "ticket_payload"]

# Which ticket action a set of change kinds leads to, strongest first.
_ACTION_FOR = (("opened", "open"), ("reopened", "reopen"))


def incident_ref(incident: Incident) -> str:
    """An identity of the incident that does not depend on database ids.

    Sequences are not rolled back on PostgreSQL, so a batch retried after a
    crash may get another incident id; the key and the opening time are the
    same, and so is this reference (and every idempotency key built on it).
    """
    digest = hashlib.sha256(
        f"{incident.correlation_key}\x00{incident.opened_at.isoformat()}".encode()
    ).hexdigest()
    return digest[:20]


def action_key(incident: Incident, action: str) -> str:
    return f"incident:{incident_ref(incident)}:v{incident.version}:{action}"


def ticket_payload(incident: Incident, reasons: list[str]) -> dict[str, object]:
    return {
        "title": incident.title,
        "team": incident.team,
        "priority": incident.priority,
        "severity": incident.severity.label,
        "status": incident.status.value,
        "at": incident.updated_at.isoformat(),
        "opened_at": incident.opened_at.isoformat(),
        "reasons": reasons,
    }


class DecideStage:
    name = "decide"

    def __init__(self, config: Config) -> None:
        self.config = config

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        by_incident: dict[int, list[IncidentChange]] = {}
        for change in batch.changes:
            by_incident.setdefault(change.incident_id, []).append(change)
        actions: list[TicketAction] = []
        decisions: list[Decision] = []
        for incident_id, changes in by_incident.items():
            incident = ctx.state.incident(incident_id)
            route = self.config.route(incident.route)
            kinds = [c.kind for c in changes]
            if route is not None and route.team and not incident.team:
                incident.team = route.team
            priority = self.config.priority_for(route, incident.severity.label)
            if priority != incident.priority:
                incident.priority = priority
            ctx.state.save_incident(incident)
            action = next((a for k, a in _ACTION_FOR if k in kinds), "update")
            if route is None or route.action != "ticket":
                decisions.append(
                    Decision(
                        self.name, "no ticket", incident.route, str(incident.id), {"changes": kinds}
                    )
                )
                continue
            payload = ticket_payload(incident, kinds)
            payload["first_received_at"] = min(
                (e.received_at for e in batch.events if e.incident_id == incident_id),
                default=incident.updated_at,
            ).isoformat()
            key = action_key(incident, action)
            actions.append(TicketAction(incident_id, action, key, list(route.sinks), payload))
            decisions.append(
                Decision(
                    self.name,
                    action,
                    route.name,
                    str(incident.id),
                    {
                        "changes": kinds,
                        "priority": priority,
                        "severity": incident.severity.label,
                        "sinks": route.sinks,
                        "idempotency_key": key,
                    },
                )
            )
        return StageResult(
            Batch(
                events=batch.events,
                changes=batch.changes,
                actions=actions,
                dead_letters=batch.dead_letters,
            ),
            decisions,
        )
