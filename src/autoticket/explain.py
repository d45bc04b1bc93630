"""Assemble why an incident exists and looks as it does, from stored facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.model import Release, Severity
from autoticket.releases.control import dependants_of
from autoticket.releases.evaluate import Evaluation, Fleet, evaluate_with, read_range
from autoticket.releases.readers import CombinedReader, LiveReader, PushedReader, Series
from autoticket.releases.suspects import LOOKBACK, Suspect, rank_suspects, related_services
from autoticket.store.events import decisions_of, events_of, latest_annotations
from autoticket.store.incidents import (
    alerts_count,
    alerts_of,
    get_incident,
    timeline_count,
    timeline_of,
)
from autoticket.store.metric_samples import fleet_between, series_between
from autoticket.store.releases import get_release, releases_started_between
from autoticket.store.tickets import ticket_of_incident

__all__ = [
    "VerdictCache",
    "incident_detail",
    "incident_summary",
    "release_evaluation",
    "release_summary",
    "stored_release_summary",
    "suspect_releases",
]


# A release judged "to the end": every sample there is.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def incident_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "status": row.status,
        "severity": Severity(row.severity).label,
        "priority": row.priority,
        "team": row.team,
        "route": row.route,
        "correlation_key": row.correlation_key,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "resolved_at": row.resolved_at,
        "resolve_due_at": row.resolve_due_at,
        "firing": row.firing,
        "alert_count": row.alert_count,
        "event_count": row.event_count,
        "group_labels": row.group_labels,
        # Why no ticket action is sent (severity info, a pause, shadow, a storm), if so.
        "held": row.held,
        # The storm incident this one is part of (engine/storms.py), if any.
        "parent_id": row.parent_id,
        # Since when its alerts flap (resolve only after a stable spell), or None.
        "flapping_since": row.flapping_since,
        "labels": (row.context or {}).get("labels", []),
        # The responder the escalation notified last (lifecycle/escalation.py).
        "responder": ((row.context or {}).get("oncall") or {}).get("responder"),
    }


def suspect_releases(
    conn: Connection, config: Config, row: Any, cache: VerdictCache | None = None
) -> list[Suspect]:
    """The releases most likely to have caused the incident in `row`, best first.

    Its services are those of its alerts (`service`, else `job` label); the
    candidates are their releases and their dependencies' in its environment
    (releases/suspects.py says how they are ranked).
    """
    its_alerts = alerts_of(conn, row.id)
    services = {
        name
        for alert in its_alerts
        if (name := alert.labels.get("service") or alert.labels.get("job"))
    }
    depends_on = {name: entry.depends_on for name, entry in config.catalog.services.items()}
    related = related_services(services, depends_on)
    environment = _environment(row, its_alerts)
    candidates = releases_started_between(
        conn, list(related), environment, row.opened_at - LOOKBACK, row.opened_at
    )
    # The judge's view of each candidate as it stood when the incident opened.
    cache = cache if cache is not None else VerdictCache()
    verdicts = {
        r.id: verdict
        for r in candidates
        if r.id is not None
        and (verdict := cache.as_of(conn, config, r, row.opened_at).verdict) != "no_data"
    }
    return rank_suspects(candidates, related, row.opened_at, verdicts)


def _environment(row: Any, its_alerts: Sequence[Any]) -> str:
    """The incident's environment: its group labels' (correlation puts it there),
    else its first alert's `environment` or `env` label, as the pipeline reads
    them (`Event.environment`), else "default"."""
    if environment := (row.group_labels or {}).get("environment"):
        return str(environment)
    for alert in its_alerts:
        if environment := alert.labels.get("environment") or alert.labels.get("env"):
            return str(environment)
    return "default"


class VerdictCache:
    """Each release judged once per run (a replay, a request), not once per incident.

    A release decided by `now` has the verdict it was decided with, so the
    final evaluation serves every incident after its decision; only an
    incident that opened while the release was still observed needs the
    verdict so far, judged then.
    """

    def __init__(self) -> None:
        self._final: dict[int, Evaluation] = {}
        self.judged = 0  # evaluations run (for tests: the cache saves work)

    def final(self, conn: Connection, config: Config, release: Release) -> Evaluation:
        """The verdict stored on the release row by its checks when there is one
        (it may rest on Prometheus SLIs no one can read again here), else judged."""
        key = release.id if release.id is not None else -1
        if key >= 0 and key not in self._final:
            row = get_release(conn, key)
            if row is not None and row.verdict is not None:
                self._final[key] = _stored_evaluation(row)
        if key < 0 or key not in self._final:
            self.judged += 1
            evaluation = release_evaluation(conn, config, release, _END_OF_TIME)
            if key < 0:
                return evaluation
            self._final[key] = evaluation
        return self._final[key]

    def as_of(
        self, conn: Connection, config: Config, release: Release, now: datetime
    ) -> Evaluation:
        final = self.final(conn, config, release)
        if final.decided_at is not None and final.decided_at <= now:
            return final
        if final.how == "no_data":
            return final
        self.judged += 1
        return release_evaluation(conn, config, release, now)


def _stored_evaluation(row: Any) -> Evaluation:
    """The final decision stored on a release row, as an `Evaluation` (no judgement:
    the metrics are in the row's evidence)."""
    evidence = row.evidence or {}
    return Evaluation(
        row.verdict,
        row.score,
        row.action,
        evidence.get("action_reason", ""),
        row.decided_at,
        row.decided_by,
        None,
        list(evidence.get("reasons", [])),
    )


def release_evaluation(
    conn: Connection,
    config: Config,
    release: Release,
    now: datetime,
    live: LiveReader | None = None,
) -> Evaluation:
    """The judge's verdict on `release`, as known at `now`.

    Metrics come from the samples stored; with `live` (the Prometheus reader
    of the configured SLIs) each SLI comes from it instead. Replay never
    passes one: its verdicts rest on the replayed samples alone. The same
    series of the environment's other services, as stored, are the fleet
    control (releases/control.py), less the services that depend on this one.
    """

    def stored(service: str, environment: str, start: datetime, end: datetime) -> list[Series]:
        return list(series_between(conn, service, environment, start, end))

    def fleet(keys: Sequence[str]) -> Fleet:
        start, end = read_range(release, config.releases, now)
        # Services that depend on the released one move with it: they are no control.
        depends_on = {name: entry.depends_on for name, entry in config.catalog.services.items()}
        exclude = {release.service} | dependants_of(release.service, depends_on)
        return fleet_between(conn, release.environment, keys, exclude, start, end)

    if live is None:
        return evaluate_with(PushedReader(stored), release, config.releases, now, fleet)
    reader = CombinedReader([live, PushedReader(stored, live.names)])
    return evaluate_with(reader, release, config.releases, now, fleet)


def release_summary(evaluation: Evaluation) -> dict[str, Any]:
    """The verdict fields of a release, as replay and the API show them."""
    return {
        "verdict": evaluation.verdict,
        "score": evaluation.score,
        "action": evaluation.action,
        "action_reason": evaluation.action_reason,
        "decided_at": evaluation.decided_at,
        "decided_by": evaluation.how,
        "reasons": evaluation.reasons,
        "metrics": evaluation.metrics(),
    }


def stored_release_summary(row: Any) -> dict[str, Any] | None:
    """The final decision stored on a release row (lifecycle/release_check.py),
    in `release_summary`'s shape; None while the release is still observed."""
    if row.verdict is None:
        return None
    evidence = row.evidence or {}
    return {
        "verdict": row.verdict,
        "score": row.score,
        "action": row.action,
        "action_reason": evidence.get("action_reason", ""),
        "decided_at": row.decided_at,
        "decided_by": row.decided_by,
        "reasons": list(evidence.get("reasons", [])),
        "metrics": list(evidence.get("metrics", [])),
    }


def incident_detail(
    conn: Connection,
    incident_id: int,
    config: Config | None = None,
    alerts_limit: int = 500,
    alerts_offset: int = 0,
) -> dict[str, Any] | None:
    row = get_incident(conn, incident_id)
    if row is None:
        return None
    events = events_of(conn, incident_id)
    ticket = ticket_of_incident(conn, incident_id)
    detail = incident_summary(row)
    if config is not None:
        detail["suspect_releases"] = [s.to_dict() for s in suspect_releases(conn, config, row)]
    alerts = alerts_of(conn, incident_id, alerts_limit, alerts_offset)
    annotations = latest_annotations(conn, incident_id, [a.fingerprint for a in alerts])
    detail["alerts"] = [
        {
            "fingerprint": a.fingerprint,
            "title": a.title,
            "status": a.status,
            "severity": Severity(a.severity).label,
            "first_seen": a.first_seen,
            "last_seen": a.last_seen,
            "count": a.count,
            "flap_count": a.flap_count,
            "labels": a.labels,
            # of the alert's latest event (summary, description, runbook_url...), redacted
            "annotations": annotations.get(a.fingerprint, {}),
        }
        for a in alerts
    ]
    detail["alerts_total"] = alerts_count(conn, incident_id)
    detail["timeline"] = [
        {"at": t.at, "kind": t.kind, "message": t.message, "data": t.data}
        for t in timeline_of(conn, incident_id)
    ]
    # Lists are bounded (a storm can put thousands of alerts in one incident);
    # the totals say how much was left out.
    detail["timeline_total"] = timeline_count(conn, incident_id)
    detail["ticket"] = _ticket(ticket)
    detail["explain"] = _explain(row, events, decisions_of(conn, incident_id))
    return detail


def _ticket(ticket: Any) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "id": ticket.id,
        "status": ticket.status,
        "priority": ticket.priority,
        "opened_at": ticket.opened_at,
        "resolved_at": ticket.resolved_at,
        "reopen_count": ticket.reopen_count,
        "update_count": ticket.update_count,
        "body": ticket.body,
    }


def _explain(row: Any, events: list[dict[str, Any]], decisions: list[dict[str, Any]]) -> dict:
    first = events[0] if events else None
    first_decisions = first["decisions"] if first else []
    route = next((d for d in first_decisions if d["stage"] == "route"), None)
    owner = next((d for d in first_decisions if d["stage"] == "enrich"), None)
    redactions = [d for e in events for d in e["decisions"] if d["stage"] == "redact"]
    timers = {
        "resolve_due_at": row.resolve_due_at,
        "state": "pending"
        if row.resolve_due_at
        else ("fired" if row.status == "resolved" else "not set: alerts firing"),
    }
    return {
        "correlation_key": row.correlation_key,
        "group_labels": row.group_labels,
        "route": {"name": row.route, "why": route["inputs"] if route else None},
        "owner": {
            "team": row.team,
            "lookup": owner["rule"] if owner else None,
            "detail": owner["inputs"] if owner else None,
        },
        "context": row.context,
        "events_total": row.event_count,
        "events": [
            {
                "id": e["id"],
                "delivery_id": e["delivery_id"],
                "source": e["source"],
                "status": e["status"],
                "title": e["title"],
                "received_at": e["received_at"],
                "fingerprint": e["fingerprint"],
                "decisions": e["decisions"],
            }
            for e in events
        ],
        "redactions": [d["inputs"] for d in redactions],
        "decisions": [
            {
                "at": d["at"],
                "stage": d["stage"],
                "rule": d["rule"],
                "outcome": d["outcome"],
                "inputs": d["inputs"],
            }
            for d in decisions
        ],
        "timers": timers,
        # The judge's verdicts behind this incident: a failed or held release.
        "release_verdicts": [d["inputs"] for d in decisions if d["stage"] == "release-judge"],
    }
