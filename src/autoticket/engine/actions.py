"""The one path from a change of an incident to its ticket action.

Every source of a ticket action — the pipeline's decide stage, a timer, a
person, and later the release judge and two-way sync — hands its change to
`Actions`: it saves the incident, writes the timeline entry, builds the
`TicketAction` with a version-derived idempotency key and records the
`Decision` that explains it. `record` then writes the actions and decisions
in the caller's transaction, so a change and its action commit together.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.coalesce import Coalescer
from autoticket.engine.templates import rendered_text
from autoticket.engine.ticket_body import on_call, on_call_lookup, render_body, safe_link
from autoticket.model import (
    OWNER_FALLBACKS,
    PAUSE_HOLD,
    SILENCE_HOLD,
    SILENCE_HOLDS,
    SILENCE_REOPEN_HOLD,
    STORM_PREFIX,
    Decision,
    Delivery,
    Event,
    Incident,
    Severity,
    SilenceNote,
    TicketAction,
    TicketDetails,
    TicketVerdict,
    Timer,
)
from autoticket.pipeline.base import CorrelationState
from autoticket.store import outbox as outbox_store
from autoticket.store import timers as timer_store
from autoticket.store.events import add_decisions

log = logging.getLogger("autoticket.engine")

__all__ = [
    "Actions",
    "action_key",
    "apply_verdict",
    "incident_ref",
    "record",
    "remote_tag",
    "ticket_labels",
    "ticket_payload",
]


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


def remote_tag(incident_id: int) -> str:
    """The correlation tag an external sink stores on its ticket (label, custom field,
    subject tag, dedup key) to find it again after a crash between create and record."""
    return f"autoticket-{incident_id}"


def ticket_payload(incident: Incident, reasons: list[str]) -> dict[str, Any]:
    """The fields every action carries; decide adds `body` and the event's labels."""
    return {
        "incident_id": incident.id,
        "incident_ref": incident_ref(incident),
        "remote_tag": remote_tag(incident.id),
        "route": incident.route,
        "group_labels": dict(sorted(incident.group_labels.items())),
        "title": incident.title,
        "team": incident.team,
        "priority": incident.priority,
        "severity": incident.severity.label,
        "status": incident.status.value,
        "at": incident.updated_at.isoformat(),
        "opened_at": incident.opened_at.isoformat(),
        "reasons": reasons,
    }


@dataclass(slots=True)
class Actions:
    """What one source decided in one transaction: ticket actions and their reasons."""

    config: Config
    actions: list[TicketAction] = field(default_factory=list)
    decisions: list[tuple[int | None, Decision]] = field(default_factory=list)
    # Enrichment lookups by (lookup, outcome), for the success-rate metric.
    enriched: dict[tuple[str, str], int] = field(default_factory=dict)
    # Runs a delivery a timer made (the release judge's event) through the
    # pipeline now, in this transaction (engine/feed.py); returns its events.
    # None outside the engine's round: the caller queues the delivery instead.
    feed: Callable[[Delivery], list[Event]] | None = None
    # Live readings (Prometheus SLIs) of the releases whose checks are due, by
    # release id, read before this transaction (engine/round.py): a check
    # judges on its release's, and waits a step when it has none. None (no
    # live reader, as in replay): checks judge on the pushed samples alone.
    live: dict[int, Any] | None = None
    # Timers decided here (a ticket's pause), written by `record`; the round reads
    # `soonest_timer` so no batch segment runs past one (engine/round.py).
    timers: list[Timer] = field(default_factory=list)

    def soonest_timer(self) -> datetime | None:
        return min((t.due_at for t in self.timers), default=None)

    def flush_timers(self, conn: Connection) -> None:
        timer_store.schedule(conn, self.timers)
        self.timers = []

    def ticket(
        self,
        incident: Incident,
        action: str,
        *,
        source: str,
        outcome: str,
        rule: str | None,
        reasons: list[str],
        inputs: dict[str, Any] | None = None,
        sinks: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        key_name: str | None = None,
    ) -> TicketAction:
        """Enqueue `action` (open | update | resolve | reopen) for `incident`'s ticket.

        The decision records `inputs` plus the idempotency key; `extra` goes
        into the action's payload besides the ticket fields. `key_name` names
        the change in the key when it says more than the action (a person's
        `acknowledged` is a ticket `update`).
        """
        key = action_key(incident, key_name or action)
        if incident.held is not None:
            # The incident files no ticket (yet): nothing to open, update or resolve.
            self.explain(
                incident.id,
                Decision(
                    source,
                    f"{action} held",
                    rule,
                    str(incident.id),
                    {**(inputs or {}), "held": incident.held, "reasons": reasons},
                ),
            )
            return TicketAction(incident.id, action, key, [], {})
        payload = ticket_payload(incident, reasons)
        if extra:
            payload.update(extra)
        opening = action in ("open", "reopen")
        if opening and source != "decide" and "oncall" not in payload and incident.team:
            # Filed later than decided (a pause, a silence, a storm's end): who is on
            # call now, when the ticket opens (decide looked up its own already).
            responder, _, looked_up = on_call_lookup(
                self.config, incident.team, incident.updated_at
            )
            self.enriched[("oncall", looked_up)] = self.enriched.get(("oncall", looked_up), 0) + 1
            if responder is not None:
                payload["oncall"] = responder
        chosen = list(sinks) if sinks is not None else self.config.sinks_for(incident.route)
        ticket_action = TicketAction(incident.id, action, key, chosen, payload)
        self.actions.append(ticket_action)
        self.explain(
            incident.id,
            Decision(
                source, outcome, rule, str(incident.id), {**(inputs or {}), "idempotency_key": key}
            ),
        )
        return ticket_action

    def explain(self, incident_id: int | None, decision: Decision) -> None:
        """A decision that leads to no ticket action (or explains one)."""
        self.decisions.append((incident_id, decision))


def record(conn: Connection, actions: Actions, now: datetime) -> None:
    """Write the actions to the outbox and the decisions, in the caller's transaction.

    With `continue` routes, a ticket may live in more sinks than its route names:
    every later action of an incident also goes to each sink that got its ticket."""
    actions.flush_timers(conn)
    if actions.config.routes_continue and actions.actions:
        opened = outbox_store.opened_sinks(conn, {a.incident_id for a in actions.actions})
        for action in actions.actions:
            more = [s for s in opened.get(action.incident_id, ()) if s not in action.sinks]
            action.sinks.extend(more)
    outbox_store.enqueue(conn, actions.actions, now)
    add_decisions(conn, actions.decisions, now)


def apply_verdict(
    verdict: TicketVerdict,
    state: CorrelationState,
    actions: Actions,
    coalescer: Coalescer | None = None,
) -> None:
    """Decide's verdict on one incident: its team and priority, then its ticket action.

    With a `coalescer`, an update not worth a comment of its own is folded
    into the next one (engine/coalesce.py) and explained as such.
    """
    incident = state.incident(verdict.incident_id)
    if verdict.team and not incident.team:
        incident.team = verdict.team
    incident.priority = verdict.priority
    step = _hold_or_lift(incident, verdict, actions.config)
    state.save_incident(incident)
    if isinstance(step, timedelta):  # a pause starts: the ticket waits for it
        _pause(incident, verdict, step, actions)
        return
    if isinstance(step, SilenceNote):  # a silence holds the ticket while it lasts
        _silence(incident, verdict, step, state, actions)
        return
    if incident.held is not None and verdict.action is not None:
        actions.explain(
            incident.id,
            Decision(
                "decide",
                "ticket held",
                verdict.rule,
                str(incident.id),
                {"held": incident.held, "changes": verdict.changes},
            ),
        )
        return
    if step is not None:  # a hold just lifted: the ticket opens (or reopens) now
        verdict = replace(verdict, action=step.action, changes=step.changes)
    if verdict.action is None:
        actions.explain(
            incident.id,
            Decision(
                "decide",
                "no ticket",
                incident.route,
                str(incident.id),
                {"changes": verdict.changes},
            ),
        )
        return
    first = verdict.first_received_at or incident.updated_at
    extra: dict[str, Any] = {"first_received_at": first.isoformat()}
    if verdict.owner_source is not None:
        extra["owner_source"] = verdict.owner_source
        extra["owner_fallback"] = verdict.owner_source in OWNER_FALLBACKS
    responder, _, looked_up = on_call_lookup(actions.config, incident.team, incident.updated_at)
    actions.enriched[("oncall", looked_up)] = actions.enriched.get(("oncall", looked_up), 0) + 1
    if responder is not None:
        extra["oncall"] = responder
    elif looked_up == "failed":
        # Filed with what is known; the next action of the ticket looks again.
        extra["missing"] = ["on-call responder: the lookup failed"]
        actions.explain(
            incident.id,
            Decision(
                "decide",
                "enrichment degraded",
                verdict.rule,
                str(incident.id),
                {"lookup": "oncall", "team": incident.team, "retried": "at the next action"},
            ),
        )
    if verdict.details is not None:
        extra["body"] = render_body(actions.config, incident, verdict.details, verdict)
        extra["labels"] = ticket_labels(verdict.details)
        _templated(incident, verdict, extra, actions)
    reasons = verdict.changes
    inputs: dict[str, Any] = {
        "changes": verdict.changes,
        "priority": verdict.priority,
        "severity": incident.severity.label,
        "sinks": verdict.sinks,
    }
    if verdict.owner_source is not None:
        inputs["owner_source"] = verdict.owner_source
    if coalescer is not None:
        at = incident.updated_at
        if verdict.action != "update":
            coalescer.sent(incident, verdict, at)
        else:
            send = coalescer.update(incident, verdict, at, extra.get("body"))
            if send is None:
                actions.explain(
                    incident.id,
                    Decision(
                        "decide",
                        "update folded",
                        verdict.rule,
                        str(incident.id),
                        {
                            "changes": verdict.changes,
                            "next_update_at": _iso(coalescer.next_send(incident.id)),
                        },
                    ),
                )
                return
            reasons, inputs["worth"] = send
    actions.ticket(
        incident,
        verdict.action,
        source="decide",
        outcome=verdict.action,
        rule=verdict.rule,
        reasons=reasons,
        inputs=inputs,
        sinks=verdict.sinks,
        extra=extra,
    )


INFO_HOLD = "severity info"
SHADOW_HOLD = "shadow route"
TRANSIENT_HOLD = "resolved within its pause"


@dataclass(frozen=True, slots=True)
class _Lift:
    """A hold lifted: the ticket action to send now, and why."""

    action: str
    changes: list[str]


def _hold_or_lift(
    incident: Incident, verdict: TicketVerdict, config: Config
) -> _Lift | timedelta | SilenceNote | None:
    """Whether the incident's ticket waits, and for what.

    A new info incident is held (unless its route has `ticket_info`); a new
    incident whose firing alerts a silence covers waits for it (as does the
    reopening of a ticket), the silence is returned; a new incident of a
    severity its route pauses waits that long (returned: the caller sets the
    timer). An info hold lifts once the incident grew worse, a transient's
    once it fires again (each pausing first where the route says so), a
    pause's once it grew to a severity the route does not pause, a silence's
    once an alert no silence covers fires; on a lift the action and its
    reasons are returned. Else None.
    """
    if verdict.action is None:
        return None
    route = config.route(incident.route)
    tickets_info = route is not None and route.ticket_info
    pause = route.pause.get(incident.severity.label) if route is not None else None  # type: ignore[call-overload]
    shadow = route is not None and route.shadow
    held = incident.held
    if held is None:
        if verdict.action == "reopen" and verdict.silenced is not None:
            incident.held = SILENCE_REOPEN_HOLD
            return verdict.silenced
        if verdict.action != "open" or incident.correlation_key.startswith(STORM_PREFIX):
            return None  # a storm is many services' incident: it tickets at once
        if shadow:
            incident.held = SHADOW_HOLD
            return None
        if incident.severity <= Severity.INFO and not tickets_info:
            incident.held = INFO_HOLD
            return None
        if verdict.silenced is not None:
            incident.held = SILENCE_HOLD
            return verdict.silenced
        if pause is not None:
            incident.held = PAUSE_HOLD
        return pause
    if held in SILENCE_HOLDS:
        if verdict.unsilenced is None:
            return None
        incident.held = None
        why = f"alert {verdict.unsilenced!r} fires and no silence covers it"
        return _Lift("reopen" if held == SILENCE_REOPEN_HOLD else "open", [*verdict.changes, why])
    if held == SHADOW_HOLD and not shadow:
        why = "its route is no longer in shadow mode"
    elif held == INFO_HOLD and (incident.severity > Severity.INFO or tickets_info):
        why = f"severity {incident.severity.label}: no longer held as info"
    elif held == TRANSIENT_HOLD and incident.firing > 0:
        why = "fires again after it resolved within its pause"
    elif held == PAUSE_HOLD and pause is None:
        # Grown to a severity its route does not pause: filed now, as it would have
        # been had the worse alert come with the first (whatever the batching).
        why = f"severity {incident.severity.label}: its route does not pause it"
    else:
        return None
    if pause is not None:
        flap = config.correlation.flapping
        if held == TRANSIENT_HOLD and flap.enabled and len(incident.toggles) >= 2:
            # A transient back for the second time within the flapping window is
            # likely a flapper: it files once it fires as long as a flapping
            # incident must be quiet to resolve (`flapping.stable_for`).
            pause = max(pause, flap.stable_for)
        incident.held = PAUSE_HOLD
        return pause
    incident.held = None
    return _Lift("open", [*verdict.changes, why])


def _templated(
    incident: Incident, verdict: TicketVerdict, extra: dict[str, Any], actions: Actions
) -> None:
    """Apply the route's and the sinks' templates to the payload fields in `extra`
    (engine/templates.py); a template that fails is explained, the default kept."""
    config = actions.config
    route = config.route(incident.route)
    specs = config.sink_specs
    sinks = verdict.sinks or config.sinks_for(incident.route)
    own = {s: t for s in sinks if s in specs and (t := specs[s].template) is not None}
    chosen = route.template if route is not None else None
    if chosen is None and not own:
        return
    details = verdict.details
    assert details is not None
    context = template_context(incident, verdict, details, extra)
    if context["oncall"] is None:
        context["oncall"] = on_call(config, incident.team, incident.updated_at)[0]
    updates, errors = rendered_text(config, context, chosen, own)
    extra.update(updates)
    for template, error in errors:
        log.warning("ticket template failed: %s (incident %s)", error, incident.id)
        actions.explain(
            incident.id,
            Decision(
                "decide",
                "template failed",
                verdict.rule,
                str(incident.id),
                {"template": template, "error": error, "fallback": "the default"},
            ),
        )


def template_context(
    incident: Incident, verdict: TicketVerdict, details: TicketDetails, extra: dict[str, Any]
) -> dict[str, Any]:
    """The variables a ticket template sees (engine/templates.TEMPLATE_VARIABLES)."""
    links = {k: link for k, v in details.links.items() if (link := safe_link(v))}
    return {
        "title": incident.title,
        "body": extra.get("body", ""),
        "summary": details.summary,
        "description": details.description,
        "service": details.service,
        "environment": details.environment,
        "alertname": details.alertname,
        "severity": incident.severity.label,
        "priority": verdict.priority,
        "team": incident.team or verdict.team,
        "oncall": extra.get("oncall"),
        "alert_count": incident.alert_count,
        "firing": incident.firing,
        "first_seen": incident.opened_at.isoformat().replace("+00:00", "Z"),
        "last_seen": incident.updated_at.isoformat().replace("+00:00", "Z"),
        "runbook": safe_link(details.runbook),
        "links": links,
        "annotations": dict(details.annotations),
        "labels": dict(extra.get("labels", {})),
        "incident_id": incident.id,
        "route": incident.route,
        "changes": list(verdict.changes),
    }


def _held_extra(incident: Incident, verdict: TicketVerdict, actions: Actions) -> dict[str, Any]:
    """What the ticket action would have carried, kept for when the hold lifts."""
    start = verdict.first_received_at or incident.updated_at
    extra: dict[str, Any] = {"first_received_at": start.isoformat()}
    if verdict.details is not None:
        extra["body"] = render_body(actions.config, incident, verdict.details, verdict)
        extra["labels"] = ticket_labels(verdict.details)
        _templated(incident, verdict, extra, actions)
    if verdict.owner_source is not None:
        extra["owner_source"] = verdict.owner_source
        extra["owner_fallback"] = verdict.owner_source in OWNER_FALLBACKS
    return extra


# How often an incident held by a silence without an end (a YAML silence) is
# looked at again: the config may have dropped it meanwhile.
OPEN_ENDED_RECHECK = timedelta(hours=1)


def _silence(
    incident: Incident,
    verdict: TicketVerdict,
    note: SilenceNote,
    state: CorrelationState,
    actions: Actions,
) -> None:
    """Hold the ticket while the silence lasts; lifecycle/silence_end.py looks again then."""
    at = incident.updated_at
    due = note.until if note.until is not None else at + OPEN_ENDED_RECHECK
    until = note.until.isoformat() if note.until is not None else None
    payload = {
        "rule": verdict.rule,
        "changes": verdict.changes,
        "sinks": verdict.sinks,
        "action": "reopen" if incident.held == SILENCE_REOPEN_HOLD else "open",
        "extra": _held_extra(incident, verdict, actions),
    }
    actions.timers.append(Timer(timer_store.SILENCE_END, str(incident.id), due, payload, set_at=at))
    state.add_timeline(
        incident.id,
        at,
        "silenced",
        f"{verdict.action} held by {note.text}" + (f" until {until}" if until else " (no end set)"),
        {"silence": note.silence_id, "kind": note.kind, "until": until},
    )
    actions.explain(
        incident.id,
        Decision(
            "decide",
            "ticket held",
            verdict.rule,
            str(incident.id),
            {
                "held": incident.held,
                "mechanism": note.kind,
                "reason": note.kind,
                "silence": note.silence_id,
                "by": note.text,
                "until": until,
                "changes": verdict.changes,
            },
        ),
    )


def _pause(incident: Incident, verdict: TicketVerdict, pause: timedelta, actions: Actions) -> None:
    """Set the pause timer; it keeps what the open would have carried (lifecycle/pause.py)."""
    start = verdict.first_received_at or incident.updated_at
    due = start + pause
    extra = _held_extra(incident, verdict, actions)
    payload = {
        "pause_seconds": pause.total_seconds(),
        "rule": verdict.rule,
        "changes": verdict.changes,
        "sinks": verdict.sinks,
        "extra": extra,
    }
    actions.timers.append(
        Timer(timer_store.TICKET_PAUSE, str(incident.id), due, payload, set_at=start)
    )
    actions.explain(
        incident.id,
        Decision(
            "decide",
            "ticket paused",
            verdict.rule,
            str(incident.id),
            {"pause": str(pause), "until": due.isoformat(), "changes": verdict.changes},
        ),
    )


def ticket_labels(details: TicketDetails) -> dict[str, str]:
    """What a tracker files a ticket under: service, environment, alert, and the safe
    links (runbook, source) — absent values are left out."""
    labels = {
        "service": details.service,
        "environment": details.environment,
        "alertname": details.alertname,
        "runbook": safe_link(details.runbook),
        "source": safe_link(details.links.get("generator")),
        "alertmanager": safe_link(details.links.get("alertmanager")),
    }
    return {k: v for k, v in labels.items() if v}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
