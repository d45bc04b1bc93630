"""Timer kind `release_check`: judge a release again at every step until its verdict is final.

Saving a release sets its timer at its start (store/releases.py); each
firing judges it on the samples stored by then, as of the timer's due time
(releases/evaluate.py), and either moves the timer one `releases.step` on or, once
the verdict is final (an early fail or pass, or the window's end), stores
the decision on the release row and stops. The verdict is made on sample
time; a check only skips the steps it judged before when no sample before
them arrived since (`seen`), so late samples are always taken into account.

A final verdict whose action is pause or rollback becomes the judge's event
(releases/alert.py), which the engine runs through the pipeline at once
(`Actions.feed`): route, owner team, correlate, decide, outbox, like any
alert, one per release by its fingerprint. The first check of a release
resolves the alert of the service's previous release in the environment
(a rollback or a new version supersedes it), if that one raised one. Without the engine (no
`feed`), the delivery is queued in the inbox for the worker.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from autoticket.config import Config
from autoticket.engine.actions import Actions
from autoticket.model import Decision, Delivery, Release, TicketAction, Timer
from autoticket.releases.alert import cleared_alert, release_fingerprint, verdict_alert
from autoticket.releases.control import dependants_of
from autoticket.releases.evaluate import Evaluation, Fleet, Series, evaluate, read_range
from autoticket.releases.settings import RELEASE_ACTION_SINK
from autoticket.store import inbox as inbox_store
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.metric_samples import fleet_between, series_between
from autoticket.store.releases import alerted_before, get_release, release_from_row, store_verdict

__all__ = ["SOURCE", "ReleaseCheck", "decision_of", "release_link"]

SOURCE = "release-judge"


class ReleaseCheck:
    kind: ClassVar[str] = timer_store.RELEASE_CHECK

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Judge each release of `due`; return how many reached their final verdict."""
        if config.releases.slis:
            # SLIs read from Prometheus would be judged here without their data
            # (no call out belongs inside the round's transaction): such a
            # release is judged on read (GET /api/v1/releases/{id}) instead.
            return 0
        final = 0
        for timer in due:
            row = get_release(conn, int(timer.subject)) if timer.subject.isdigit() else None
            if row is None or row.verdict is not None:
                continue  # purged, or judged for good already
            release = release_from_row(row)
            if not timer.payload:
                _supersede(conn, release, timer.due_at, actions)
            if _check(conn, release, timer, actions, config):
                final += 1
        return final


def _check(
    conn: Connection, release: Release, timer: Timer, actions: Actions, config: Config
) -> bool:
    at, start, settings = timer.due_at, release.started_at, config.releases
    series = series_between(
        conn,
        release.service,
        release.environment,
        start - settings.baseline,
        start + settings.window,
    )
    fleet = _fleet(conn, release, [key for key, _, _ in series], at, config)
    checked = timer.payload.get("checked")
    since = None
    if checked is not None and timer.payload.get("seen") == _count_before(series, fleet, checked):
        since = datetime.fromisoformat(checked) + settings.step
    evaluation = evaluate(release, series, settings, at, fleet=fleet, since=since)
    if evaluation.decided_at is None and at < start + settings.window:
        seen = _count_before(series, fleet, at.isoformat())
        payload = {"checked": at.isoformat(), "seen": seen}
        step = Timer(timer.kind, timer.subject, at + settings.step, payload)
        timer_store.schedule(conn, [step], at)
        return False
    decision = decision_of(evaluation)
    assert release.id is not None
    store_verdict(conn, release.id, decision, at)
    _explain_and_alert(conn, release, decision, at, actions, config)
    return True


def decision_of(evaluation: Evaluation) -> dict[str, Any]:
    """What is stored on the release row: the verdict fields and their evidence."""
    return {
        "verdict": evaluation.verdict,
        "score": evaluation.score,
        "action": evaluation.action,
        "decided_at": evaluation.decided_at,
        "decided_by": evaluation.how,
        "evidence": _finite(
            {
                "action_reason": evaluation.action_reason,
                "reasons": list(evaluation.reasons),
                "metrics": evaluation.metrics(),
            }
        ),
    }


def _finite(value: Any) -> Any:
    """JSON that every database stores: NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def release_link(release: Release) -> str:
    return f"/api/v1/releases/{release.id}"


def _explain_and_alert(
    conn: Connection,
    release: Release,
    decision: dict[str, Any],
    at: datetime,
    actions: Actions,
    config: Config,
) -> None:
    if decision["action"] not in ("pause", "rollback"):
        return
    body = verdict_alert(release, _jsonable(decision), release_link(release))
    events = _send(conn, release, "verdict", body, at, actions)
    inputs = {
        "release_id": release.id,
        "release": f"{release.service}/{release.environment}/{release.version}",
        "verdict": decision["verdict"],
        "score": decision["score"],
        "action": decision["action"],
        "decided_at": body["annotations"]["release_decided_at"],
        "reasons": decision["evidence"]["reasons"],
    }
    incident_ids = sorted({e.incident_id for e in events if e.incident_id is not None})
    for incident_id in incident_ids:
        actions.explain(
            incident_id,
            Decision(SOURCE, decision["verdict"], decision["action"], str(incident_id), inputs),
        )
    hook = config.releases.action_webhook
    if hook is not None and decision["action"] in hook.actions:
        # Rows need an incident; a verdict whose event opened none (a route that
        # drops it) still calls the CD system, under incident 0.
        incident_id = incident_ids[0] if incident_ids else 0
        _enqueue_webhook(release, decision, incident_id, actions)


def _enqueue_webhook(
    release: Release, decision: dict[str, Any], incident_id: int, actions: Actions
) -> None:
    """One outbox row per (release, action): the idempotency key says which."""
    digest = hashlib.sha256(release_fingerprint(release).encode()).hexdigest()[:20]
    key = f"release:{digest}:{decision['action']}"
    stored = _jsonable(decision)
    payload = {
        "version": "1",
        "event": "release.action",
        "release": {
            "id": release.id,
            "service": release.service,
            "environment": release.environment,
            "version": release.version,
            "started_at": release.started_at.isoformat(),
            "finished_at": release.finished_at.isoformat() if release.finished_at else None,
            "rollout_percent": release.rollout_percent,
            "commit": release.commit,
        },
        "verdict": stored["verdict"],
        "score": stored["score"],
        "action": stored["action"],
        "action_reason": stored["evidence"]["action_reason"],
        "decided_at": stored["decided_at"],
        "decided_by": stored["decided_by"],
        "reasons": stored["evidence"]["reasons"],
        "metrics": stored["evidence"]["metrics"],
        "incident_id": incident_id or None,
        "link": release_link(release),
    }
    sinks = [RELEASE_ACTION_SINK]
    actions.actions.append(TicketAction(incident_id, "release_action", key, sinks, payload))


def _supersede(conn: Connection, release: Release, at: datetime, actions: Actions) -> None:
    """Resolve the alerts of earlier releases of the service this one replaces."""
    for row in alerted_before(conn, release.service, release.environment, release.started_at):
        earlier = release_from_row(row)
        body = cleared_alert(earlier, release)
        _send(conn, earlier, f"superseded-by-{release.version}", body, at, actions)


def _send(
    conn: Connection,
    release: Release,
    what: str,
    body: dict[str, Any],
    at: datetime,
    actions: Actions,
) -> list[Any]:
    """Run (or, outside the engine, queue) one judge's event; its delivery id is
    fixed by the release and `what`, so a retried check makes the same event."""
    digest = hashlib.sha256(f"{release_fingerprint(release)}\x00{what}".encode()).hexdigest()
    delivery = Delivery(f"{SOURCE}:{digest[:40]}", SOURCE, at, orjson.dumps(body), {})
    if actions.feed is not None:
        return actions.feed(delivery)
    try:
        with conn.begin_nested():
            inbox_store.append(conn, [(delivery, 1)])
    except IntegrityError:  # queued by an earlier try of this check
        pass
    return []


def _fleet(
    conn: Connection, release: Release, keys: list[str], at: datetime, config: Config
) -> Fleet:
    """The fleet control as `explain.release_evaluation` reads it, as of `at`:
    the same series of the environment's other services, less its dependants."""
    start, end = read_range(release, config.releases, at)
    depends_on = {name: entry.depends_on for name, entry in config.catalog.services.items()}
    exclude = {release.service} | dependants_of(release.service, depends_on)
    return fleet_between(conn, release.environment, keys, exclude, start, end)


def _count_before(series: Sequence[Series], fleet: Fleet, until_iso: str) -> int:
    """Samples (own and the fleet's) before `until`: unchanged, no step before it changed."""
    until = datetime.fromisoformat(until_iso)
    own = sum(1 for _, _, samples in series for t, _ in samples if t < until)
    others = sum(1 for runs in fleet.values() for run in runs for t, _ in run if t < until)
    return own + others


def _jsonable(decision: dict[str, Any]) -> dict[str, Any]:
    at = decision["decided_at"]
    return decision | {"decided_at": at.isoformat() if at is not None else None}
