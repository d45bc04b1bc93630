"""Replay: the live pipeline on a virtual clock over a temporary store.

Lines are processed in order, in batches of `batch_size`, by the engine's
round (engine/round.py), which fires every timer at its own due time, also
between the events of one batch; at the end the clock runs on until no timer
is pending. So the output does not depend on the batch size, and batches
stay full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.errors import PayloadError
from autoticket.explain import (
    VerdictCache,
    release_summary,
    stored_release_summary,
    suspect_releases,
)
from autoticket.lifecycle import next_due
from autoticket.lifecycle.release_check import SOURCE as JUDGE_SOURCE
from autoticket.model import Delivery
from autoticket.oncall import UnknownTeam, who_is_on_call
from autoticket.pipeline.runner import build_pipeline
from autoticket.releases.events import parse_release
from autoticket.releases.hooks import HOOKS, release_of_hook
from autoticket.releases.samples import parse_samples
from autoticket.replay.stream import LineError, ReplayLine, read_lines
from autoticket.sinks.outbox import Dispatcher
from autoticket.sources.base import decode_json
from autoticket.store import make_engine, migrate
from autoticket.store import outbox as outbox_store
from autoticket.store import timers as timer_store
from autoticket.store.escalations import responder_of
from autoticket.store.incidents import get_incident
from autoticket.store.metric_samples import add_samples
from autoticket.store.releases import release_from_row, save_release
from autoticket.store.tables import dead_letters, events, incidents, releases, tickets

__all__ = ["ReplayResult", "replay"]

_TICK = timedelta(microseconds=1)


@dataclass
class ReplayResult:
    output: dict[str, Any]
    events: int = 0
    lines: int = 0
    batches: int = 0
    deliveries: int = 0  # lines that went through the pipeline, in `batches` batches
    stage_seconds: dict[str, float] = field(default_factory=dict)


def replay(
    lines: Iterator[bytes],
    config: Config,
    batch_size: int = 200,
    engine: Engine | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    engine = engine or make_engine("sqlite://")
    migrate(engine)
    engine_round = Round(engine, config, build_pipeline(config), Dispatcher())
    errors: list[dict[str, str]] = []
    order: dict[str, int] = {}
    skipped: dict[str, int] = {}
    result = ReplayResult(output={})
    pending: list[Delivery] = []
    release_lines: dict[int, str] = {}  # release id -> the line that first sent it

    def flush() -> None:
        if not pending:
            return
        now = pending[-1].received_at
        batch = list(pending)
        outcome = engine_round.run(now, lambda _conn: batch, timers_until=batch[0].received_at)
        assert outcome.batch is not None
        result.batches += 1
        result.deliveries += len(batch)
        result.events += outcome.batch.events
        for name, secs in outcome.batch.stage_seconds.items():
            result.stage_seconds[name] = result.stage_seconds.get(name, 0.0) + secs
        pending.clear()

    clock: datetime | None = None
    out_of_order = 0
    for item in read_lines(lines):
        result.lines += 1
        if progress is not None and result.lines % 10_000 == 0:
            progress(result.lines)
        if isinstance(item, LineError):
            errors.append({"line_id": item.line_id, "error": item.error})
            continue
        assert isinstance(item, ReplayLine)
        delivery = item.delivery
        # What the judge sees at a check is what was received before it:
        # everything due before a release or metrics line happens first.
        if (delivery.source in ("release", "metrics") or delivery.source in HOOKS) and _due_before(
            engine, delivery.received_at
        ):
            flush()
            _run_timers(engine_round, until=delivery.received_at - _TICK)
        if delivery.source == "release" or delivery.source in HOOKS:
            error = _record_release(engine, config, delivery, release_lines)
            if error is not None:
                errors.append({"line_id": delivery.id, "error": error})
            continue
        if delivery.source == "metrics":
            error = _record_samples(engine, delivery)
            if error is not None:
                errors.append({"line_id": delivery.id, "error": error})
            continue
        if len(delivery.body) > config.ingest.max_body_bytes:
            # Live ingest answers 413 and processes nothing: so does replay.
            errors.append({"line_id": delivery.id, "error": _too_large(delivery, config)})
            continue
        order[delivery.id] = item.index
        if clock is not None and delivery.received_at < clock:
            # The virtual clock never runs backwards: a line older than one
            # before it is taken as received now (counted in the stats).
            delivery.received_at = clock
            out_of_order += 1
        clock = delivery.received_at
        if len(pending) >= batch_size:
            flush()
        pending.append(delivery)
    flush()
    _run_timers(engine_round, until=None)
    with engine.connect() as conn:
        verdicts = VerdictCache()  # each release judged once, for its row and every incident
        releases_out = _releases(conn, config, release_lines, verdicts)
        result.output = _output(
            conn, config, order, errors, skipped, result, verdicts, release_lines
        )
        result.output["releases"] = releases_out
        # A backtest never calls the outside world: external sinks' actions stay queued.
        external = outbox_store.pending_by_sink(conn, exclude=engine_round.dispatcher.sinks)
    result.output["stats"]["out_of_order_lines"] = out_of_order
    result.output["stats"]["external_actions"] = external
    return result


def _record_release(
    engine: Engine, config: Config, delivery: Delivery, release_lines: dict[int, str]
) -> str | None:
    """Store a release line (`release`, or a deploy hook's) as the API would; the error, if any.

    A hook's signature is not checked: the line's body is re-encoded JSON, and
    the stream is the user's own record of what was received.
    """
    try:
        payload = decode_json(delivery.body)
        if delivery.source == "release":
            release = parse_release(payload, source="replay")
        else:
            release = release_of_hook(delivery.source, payload, delivery.headers, config)
    except PayloadError as exc:
        return f"{exc.field}: {exc.reason}"
    if release is None:  # a ping
        return None
    with engine.begin() as conn:
        release_id, _ = save_release(conn, release, delivery.received_at)
    release_lines.setdefault(release_id, delivery.id)
    return None


def _record_samples(engine: Engine, delivery: Delivery) -> str | None:
    """Store a `source: "metrics"` line's samples, each at its own `t`; the error, if any."""
    try:
        samples = parse_samples(decode_json(delivery.body))
    except PayloadError as exc:
        return f"{exc.field}: {exc.reason}"
    with engine.begin() as conn:
        add_samples(conn, samples, delivery.received_at)
    return None


def _releases(
    conn: Connection, config: Config, release_lines: dict[int, str], verdicts: VerdictCache
) -> list[dict[str, Any]]:
    """Every release, oldest first, with the final verdict its checks stored.

    The checks ran on the virtual clock as the lines arrived, as they would
    live (lifecycle/release_check.py); `decided_at` is on sample time, when
    the evidence sufficed (an early call) or the observation window's end,
    so detection delay is `decided_at - started_at`, whatever the batch size.
    """
    out = []
    for row in conn.execute(select(releases).order_by(releases.c.started_at, releases.c.id)):
        # The decision its checks stored (lifecycle/release_check.py); judged
        # here only when none was (Prometheus SLIs configured: no checks).
        summary = stored_release_summary(row)
        if summary is None:
            summary = release_summary(verdicts.final(conn, config, release_from_row(row)))
        out.append(
            {
                "line_id": release_lines.get(row.id),
                "service": row.service,
                "environment": row.environment,
                "version": row.version,
                "started_at": _iso(row.started_at),
                "finished_at": _iso(row.finished_at),
            }
            | summary
            | {"decided_at": _iso(summary["decided_at"])}
        )
    return out


def _due_before(engine: Engine, at: datetime) -> bool:
    """Whether a release check (the only timer that reads releases and samples)
    is due before `at`: only then must the batch be cut before storing the line."""
    with engine.connect() as conn:
        due = timer_store.next_due(conn, [timer_store.RELEASE_CHECK])
    return due is not None and due < at


def _too_large(delivery: Delivery, config: Config) -> str:
    limit = config.ingest.max_body_bytes
    return (
        f"body: {len(delivery.body)} bytes exceed ingest.max_body_bytes ({limit});"
        " live ingest would answer 413"
    )


def _run_timers(engine_round: Round, until: datetime | None) -> None:
    """Fire timers in due order, each at its own time, up to `until` (None: all)."""
    while True:
        with engine_round.engine.connect() as conn:
            due = next_due(conn)
        if due is None or (until is not None and due > until):
            return
        engine_round.fire_timers(due)
        engine_round.dispatch(due)


def _output(
    conn: Connection,
    config: Config,
    order: dict[str, int],
    errors: list[dict[str, str]],
    skipped: dict[str, int],
    result: ReplayResult,
    verdicts: VerdictCache,
    release_lines: dict[int, str],
) -> dict[str, Any]:
    lines_of: dict[int, set[str]] = {}
    judged = _judged_lines(conn, release_lines)
    for incident_id, delivery_id, source, labels in conn.execute(
        select(events.c.incident_id, events.c.delivery_id, events.c.source, events.c.labels).where(
            events.c.incident_id.isnot(None)
        )
    ):
        if source == JUDGE_SOURCE:  # the judge's event: fed by the release's line
            key = (labels.get("service"), labels.get("environment"), labels.get("version"))
            delivery_id = judged.get(key, delivery_id)
        lines_of.setdefault(incident_id, set()).add(delivery_id)
    out_tickets = []
    # Streams without releases (most backtests) skip the suspect lookups.
    any_release = conn.execute(select(releases.c.id).limit(1)).first() is not None
    statuses: dict[str, int] = {}
    for t in conn.execute(select(tickets).order_by(tickets.c.id)):
        statuses[t.status] = statuses.get(t.status, 0) + 1
        out_tickets.append(
            {
                "id": t.id,
                "incident_id": t.incident_id,
                "title": t.title,
                "team": t.team,
                "priority": t.priority,
                "status": t.status,
                "opened_at": _iso(t.opened_at),
                "resolved_at": _iso(t.resolved_at),
                "reopen_count": t.reopen_count,
                "line_ids": sorted(
                    lines_of.get(t.incident_id, set()), key=lambda d: (order.get(d, 1 << 62), d)
                ),
                "suspect_releases": (
                    _suspects(conn, config, t.incident_id, verdicts) if any_release else []
                ),
            }
        )
    if config.schedules:  # on-call configured: each ticket names its responder
        for ticket in out_tickets:
            ticket["responder"] = _responder(conn, config, ticket)
    for row in conn.execute(select(dead_letters).order_by(dead_letters.c.id)):
        errors.append({"line_id": row.delivery_id, "error": f"{row.field}: {row.error}"})
    incident_count = len(list(conn.execute(select(incidents.c.id))))
    return {
        "tickets": out_tickets,
        "errors": errors,
        "releases": [],
        "stats": {
            "lines": result.lines,
            "events": result.events,
            "incidents": incident_count,
            "tickets": len(out_tickets),
            "tickets_by_status": dict(sorted(statuses.items())),
            "errors": len(errors),
            "skipped_lines": dict(sorted(skipped.items())),
        },
    }


def _judged_lines(
    conn: Connection, release_lines: dict[int, str]
) -> dict[tuple[str, str, str], str]:
    """(service, environment, version) -> the line that first sent the release."""
    if not release_lines:
        return {}
    query = select(releases.c.id, releases.c.service, releases.c.environment, releases.c.version)
    return {
        (r.service, r.environment, r.version): release_lines[r.id]
        for r in conn.execute(query)
        if r.id in release_lines
    }


def _suspects(
    conn: Connection, config: Config, incident_id: int, verdicts: VerdictCache
) -> list[dict[str, Any]]:
    row = get_incident(conn, incident_id)
    if row is None:
        return []
    keys = ("service", "environment", "version", "reason")
    return [
        {k: v for k, v in s.to_dict().items() if k in keys}
        for s in suspect_releases(conn, config, row, verdicts)
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _responder(conn: Connection, config: Config, ticket: dict[str, Any]) -> str | None:
    """Whom the escalation notified last; else who was on call for the team at the opening."""
    notified = responder_of(conn, ticket["incident_id"])
    if notified is not None and notified.get("responder"):
        return str(notified["responder"])
    team, opened = ticket["team"], ticket["opened_at"]
    if not team or not opened:
        return None
    try:
        at = datetime.fromisoformat(opened)
        answer = who_is_on_call(config, team, at if at.tzinfo else at.replace(tzinfo=UTC))
    except (UnknownTeam, ValueError):
        return None
    return answer.user if answer is not None else None
