"""Timer kind `escalate`: page the team's escalation policy, step by step, until acknowledged.

An incident's escalation starts when its ticket opens (or reopens) and its
team has an `escalation_policy` (`start`). Each step notifies its target —
a schedule's on-call, a user, or a team's on-call — at the step's due time,
names that responder on the incident, writes an `escalation` timeline entry
and queues an `update` action (payload `escalation`, `responder`) for the
team's `notify` sinks; then it waits the step's `wait` for the next. After
the last step the policy starts over `repeat` more times, then ends.
Acknowledging the incident (store/escalations.py `stop`) deletes the timer;
a timer that still fires for an incident no longer open ends quietly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions
from autoticket.model import Incident, IncidentStatus, TicketAction, Timer
from autoticket.oncall import CALENDARS, UnknownTeam, on_call, who_is_on_call
from autoticket.oncall.settings import EscalationPolicy, StepTarget
from autoticket.store import escalations
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.locks import lock_incident_keys

__all__ = ["Escalate", "start"]


def start(conn: Connection, actions: Iterable[TicketAction], config: Config) -> int:
    """Schedule the first step for each opened or reopened ticket whose team has a policy."""
    timers: list[Timer] = []
    for action in actions:
        if action.action not in ("open", "reopen"):
            continue
        team = action.payload.get("team")
        entry = config.catalog.teams.get(team) if isinstance(team, str) else None
        if entry is None or entry.escalation_policy is None:
            continue
        at = datetime.fromisoformat(str(action.payload["at"]))
        payload = {"policy": entry.escalation_policy, "team": team, "step": 0, "round": 0}
        timers.append(Timer(escalations.ESCALATE, str(action.incident_id), at, payload, set_at=at))
    if timers:
        timer_store.schedule(conn, timers)
    return len(timers)


def _target(target: StepTarget, at: datetime, config: Config) -> tuple[str | None, dict[str, Any]]:
    """The responder a step's target names at `at`, and how they were found."""
    if target.user is not None:
        return target.user, {"target": f"user {target.user}"}
    try:
        if target.schedule is not None:
            schedule = config.schedules.get(target.schedule)
            if schedule is None:
                return None, {"target": f"schedule {target.schedule}", "why": "no such schedule"}
            answer = on_call(target.schedule, schedule, at, CALENDARS)
        else:
            answer = who_is_on_call(config, target.name, at)
            if answer is None:
                return None, {"target": f"team {target.name}", "why": "the team has no schedule"}
    except UnknownTeam as exc:
        return None, {"target": f"{target.kind} {target.name}", "why": str(exc)}
    how = {
        "target": f"{target.kind} {target.name}",
        "schedule": answer.schedule,
        "layer": answer.layer,
        "source": answer.source,
        "why": answer.reason,
    }
    return answer.user, how


class Escalate:
    kind: ClassVar[str] = escalations.ESCALATE

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Run the due step of each incident still open; return how many notified."""
        ids = sorted({int(t.subject) for t in due if t.subject.isdigit()})
        lock_incident_keys(conn, ids)
        acted = 0
        for timer in due:
            incident = state.find_incident(int(timer.subject)) if timer.subject.isdigit() else None
            if incident is None:
                continue
            if incident.status is not IncidentStatus.OPEN:
                state.add_timeline(
                    incident.id,
                    timer.due_at,
                    "escalation_stopped",
                    f"escalation ended: the incident is {incident.status.value}",
                    {"via": "status"},
                )
                continue
            acted += self._step(conn, incident, timer, state, actions, config)
        return acted

    def _step(
        self,
        conn: Connection,
        incident: Incident,
        timer: Timer,
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        name = str(timer.payload.get("policy", ""))
        policy = config.escalation_policies.get(name)
        at = timer.due_at
        if policy is None:
            state.add_timeline(
                incident.id,
                at,
                "escalation_stopped",
                f"escalation ended: policy {name!r} is no longer configured",
                {"policy": name},
            )
            return 0
        index = min(int(timer.payload.get("step", 0)), len(policy.steps) - 1)
        round_ = int(timer.payload.get("round", 0))
        step = policy.steps[index]
        responder, how = _target(step.notify, at, config)
        place = f"step {index + 1}/{len(policy.steps)}, round {round_ + 1}/{policy.repeat + 1}"
        following = _following(policy, index, round_)
        data = {"policy": name, "step": index + 1, "round": round_ + 1, "responder": responder}
        data |= how
        if responder is not None:
            message = f"escalation {place}: notified {responder} ({how['target']})"
            escalations.set_responder(conn, incident.id, {**data, "at": at.isoformat()})
        else:
            message = f"escalation {place}: nobody to notify ({how['target']}: {how.get('why')})"
        if following is None:
            message += "; last step, escalation ends unless acknowledged"
        state.add_timeline(incident.id, at, "escalation", message, data)
        self._notify(incident, timer, data, actions, config)
        if following is not None:
            payload = {**timer.payload, "step": following[0], "round": following[1]}
            nxt = Timer(self.kind, timer.subject, at + step.wait, payload, set_at=at)
            timer_store.schedule(conn, [nxt])
        return 1 if responder is not None else 0

    def _notify(
        self,
        incident: Incident,
        timer: Timer,
        data: dict[str, Any],
        actions: Actions,
        config: Config,
    ) -> None:
        """Queue the step for the team's notifier sinks (none configured: the timeline only)."""
        team = config.catalog.teams.get(str(timer.payload.get("team", "")))
        if team is None or not team.notify:
            return
        actions.ticket(
            incident,
            "update",
            source="escalation",
            outcome="notify",
            rule=str(data["policy"]),
            reasons=["escalated"],
            inputs=data,
            sinks=list(team.notify),
            extra={"responder": data["responder"], "escalation": data},
            key_name=f"escalate-r{data['round']}-s{data['step']}",
        )


def _following(policy: EscalationPolicy, index: int, round_: int) -> tuple[int, int] | None:
    """The (step, round) after this one; None when this was the last."""
    if index + 1 < len(policy.steps):
        return index + 1, round_
    if round_ < policy.repeat:
        return 0, round_ + 1
    return None
