"""What people do to incidents: acknowledge, resolve, label."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions, record
from autoticket.model import IncidentStatus
from autoticket.store import escalations
from autoticket.store.alerts import close_firing_episodes
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.incidents import get_incident, set_context
from autoticket.store.locks import lock_keys
from autoticket.store.rows import incident_from_row
from autoticket.store.timeline import add_entries, entry

__all__ = ["IncidentNotFound", "acknowledge", "add_label", "resolve_now"]


class IncidentNotFound(LookupError):
    pass


def _change(
    conn: Connection,
    config: Config,
    incident_id: int,
    now: datetime,
    action: str,
    new_status: IncidentStatus,
    who: str,
    note: str,
    via: str = "api",
) -> dict[str, object]:
    row = get_incident(conn, incident_id)
    if row is None:
        raise IncidentNotFound(incident_id)
    lock_keys(conn, [row.correlation_key])
    row = get_incident(conn, incident_id)
    incident = incident_from_row(row)
    if incident.status is new_status:
        return {"id": incident.id, "status": incident.status.value, "changed": False}
    if incident.status is IncidentStatus.RESOLVED:
        raise ValueError(f"incident {incident_id} is resolved; it reopens when an alert fires")
    incident.status = new_status
    incident.updated_at = now
    incident.version += 1
    if new_status is IncidentStatus.RESOLVED:
        incident.resolved_at = now
        incident.resolve_due_at = None
        incident.firing = 0
        # Repeats of the closed episodes are stale copies: only a new episode reopens.
        close_firing_episodes(conn, incident.id, now)
    state = SqlCorrelationState(conn)
    state.save_incident(incident)
    state.add_timeline(incident.id, now, action, f"{note} by {who}", {"by": who})
    state.flush()
    # A person has it: the escalation pages nobody else.
    escalations.stop(conn, incident.id, now, who, via, action)
    actions = Actions(config)
    actions.ticket(
        incident,
        "resolve" if action == "resolved" else "update",
        source="manual",
        outcome=action,
        rule=None,
        reasons=[action],
        inputs={"by": who},
        key_name=action,
    )
    record(conn, actions, now)
    return {"id": incident.id, "status": incident.status.value, "changed": True}


def acknowledge(
    conn: Connection,
    config: Config,
    incident_id: int,
    now: datetime,
    who: str,
    via: str = "api",
) -> dict[str, object]:
    """Acknowledge the incident (`via` api or ui) and stop its escalation."""
    return _change(
        conn,
        config,
        incident_id,
        now,
        "acknowledged",
        IncidentStatus.ACKNOWLEDGED,
        who,
        "acknowledged",
        via,
    )


def resolve_now(
    conn: Connection,
    config: Config,
    incident_id: int,
    now: datetime,
    who: str,
    via: str = "api",
) -> dict[str, object]:
    return _change(
        conn,
        config,
        incident_id,
        now,
        "resolved",
        IncidentStatus.RESOLVED,
        who,
        "resolved manually",
        via,
    )


def add_label(
    conn: Connection, incident_id: int, now: datetime, label: str, who: str
) -> dict[str, object]:
    """Feedback labels (e.g. `noise`, `useful`, `wrong-team`) for later tuning."""
    row = get_incident(conn, incident_id)
    if row is None:
        raise IncidentNotFound(incident_id)
    if lock_keys(conn, [row.correlation_key]):
        row = get_incident(conn, incident_id)  # under the lock: no label lost to a race
    context = dict(row.context or {})
    labels = sorted(set(context.get("labels", [])) | {label})
    context["labels"] = labels
    set_context(conn, incident_id, context)
    add_entries(
        conn,
        [
            entry(
                incident_id,
                now,
                "label",
                f"labelled {label!r} by {who}",
                {"label": label, "by": who},
            )
        ],
    )
    return {"id": incident_id, "labels": labels}
