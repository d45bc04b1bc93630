"""Timer kind `release_check`: releases judged step by step in the engine's round.

A regression is failed early, stored on the release row and becomes one
incident with a ticket through the pipeline (however often the check runs);
a harmless release passes and raises nothing; a later release of the service
resolves the failed one's alert; late samples are taken into account.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import httpx
from sqlalchemy import Engine, select, update

from autoticket.config import Config, parse_config_text
from autoticket.engine.round import Round
from autoticket.explain import incident_detail
from autoticket.model import MetricSample, Release
from autoticket.pipeline.runner import build_pipeline
from autoticket.releases.prometheus import PrometheusReader
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.metric_samples import add_samples
from autoticket.store.releases import get_release, save_release
from autoticket.store.tables import (
    alerts,
    events,
    incidents,
    outbox,
    releases,
    tickets,
    timers,
)

MINUTE = timedelta(minutes=1)
CONFIG = """
catalog:
  services:
    checkout: {team: payments}
routes: [{name: all, group_by: [alertname, service, version]}]
"""


def _config() -> Config:
    return parse_config_text(CONFIG)


def _samples(t0: datetime, minutes: range, level: float, seed: int = 1) -> list[MetricSample]:
    rng = random.Random(seed)
    return [
        MetricSample(
            "checkout_error_ratio",
            "checkout",
            "prod",
            t0 + m * MINUTE,
            level * (1 + rng.uniform(-0.05, 0.05)),
        )
        for m in minutes
    ]


def _release(engine: Engine, t0: datetime, version: str = "v42") -> int:
    with engine.begin() as conn:
        rid, _ = save_release(conn, Release("checkout", "prod", version, t0), t0)
    return rid


def _push(engine: Engine, samples: list[MetricSample], at: datetime) -> None:
    with engine.begin() as conn:
        add_samples(conn, samples, at)


def _round(engine: Engine, config: Config) -> Round:
    return Round(engine, config, build_pipeline(config), Dispatcher())


def _tick(rnd: Round, until: datetime) -> None:
    """What the worker does every round, minute by minute, up to `until`."""
    rnd.fire_timers(until)
    rnd.dispatch(until)


def test_a_regression_fails_early_and_opens_one_incident_with_a_ticket(
    engine: Engine, t0: datetime
) -> None:
    config = _config()
    _push(engine, _samples(t0, range(-30, 0), 0.01), t0)
    rid = _release(engine, t0)
    rnd = _round(engine, config)
    for m in range(0, 12):  # samples arrive each minute, the worker runs each minute
        _push(engine, _samples(t0, range(m, m + 1), 0.03, seed=m), t0 + (m + 1) * MINUTE)
        _tick(rnd, t0 + (m + 1) * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
        assert (row.verdict, row.action, row.decided_by) == ("fail", "rollback", "early_fail")
        assert t0 < row.decided_at <= t0 + 12 * MINUTE
        assert row.judged_at == row.decided_at  # judged by the check due then
        [metric] = row.evidence["metrics"]
        assert (metric["name"], metric["classification"]) == ("checkout_error_ratio", "high")
        # Final: no timer left for it.
        assert list(conn.execute(select(timers.c.kind))) == []
        [incident] = list(conn.execute(select(incidents)))
        assert (incident.team, incident.severity) == ("payments", 4)  # critical: rollback
        [ticket] = list(conn.execute(select(tickets)))
        assert ticket.title.startswith("Release regression: checkout v42 (prod) fail, rollback")
        assert "checkout_error_ratio: high, ratio x" in ticket.body
        assert "- release_action: rollback" in ticket.body
        assert "- release_verdict: fail" in ticket.body
        [event] = list(conn.execute(select(events)))
        assert (event.source, event.labels["alertname"]) == ("release-judge", "ReleaseRegression")
        detail = incident_detail(conn, incident.id, config)
    assert detail is not None
    [judged] = detail["explain"]["release_verdicts"]
    assert (judged["release_id"], judged["verdict"], judged["action"]) == (rid, "fail", "rollback")


def test_checking_again_never_opens_a_second_incident(engine: Engine, t0: datetime) -> None:
    """A check that runs again (a retry after a crash) joins the same alert."""
    config = _config()
    _push(engine, _samples(t0, range(-30, 0), 0.01) + _samples(t0, range(0, 30), 0.05), t0)
    rid = _release(engine, t0)
    rnd = _round(engine, config)
    _tick(rnd, t0 + 40 * MINUTE)
    with engine.begin() as conn:  # as if the verdict had not been stored
        conn.execute(update(releases).where(releases.c.id == rid).values(verdict=None))
    _release(engine, t0 - MINUTE)  # an earlier start sets the check again
    _tick(rnd, t0 + 80 * MINUTE)
    with engine.connect() as conn:
        assert len(list(conn.execute(select(incidents.c.id)))) == 1
        assert len(list(conn.execute(select(alerts.c.fingerprint)))) == 1
        assert conn.execute(select(tickets.c.id)).scalar_one() is not None


def test_a_harmless_release_passes_and_raises_nothing(engine: Engine, t0: datetime) -> None:
    config = _config()
    _push(engine, _samples(t0, range(-30, 30), 0.01), t0)
    rid = _release(engine, t0)
    rnd = _round(engine, config)
    _tick(rnd, t0 + 60 * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
        assert (row.verdict, row.action, row.score) == ("pass", "continue", 100.0)
        assert row.decided_at == t0 + 30 * MINUTE
        assert list(conn.execute(select(incidents.c.id))) == []
        assert list(conn.execute(select(outbox.c.id))) == []


def test_a_release_without_samples_is_no_data_at_the_window_end(
    engine: Engine, t0: datetime
) -> None:
    rid = _release(engine, t0)
    _tick(_round(engine, _config()), t0 + 60 * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
        assert (row.verdict, row.decided_at, row.judged_at) == ("no_data", None, t0 + 30 * MINUTE)


def test_late_samples_are_judged_when_they_arrive(engine: Engine, t0: datetime) -> None:
    """Checks at minutes 1..9 see nothing after the start; the samples of those
    minutes arrive late, at once, and the next check fails the release on them."""
    config = _config()
    _push(engine, _samples(t0, range(-30, 0), 0.01), t0)
    rid = _release(engine, t0)
    rnd = _round(engine, config)
    _tick(rnd, t0 + 9 * MINUTE)
    with engine.connect() as conn:
        assert get_release(conn, rid).verdict is None
    _push(engine, _samples(t0, range(0, 10), 0.05), t0 + 10 * MINUTE)
    _tick(rnd, t0 + 10 * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
    assert (row.verdict, row.decided_by) == ("fail", "early_fail")
    # Decided on sample time: when the (late) evidence first sufficed.
    assert row.decided_at < t0 + 10 * MINUTE


def test_a_later_release_resolves_the_failed_ones_alert(engine: Engine, t0: datetime) -> None:
    config = _config()
    _push(engine, _samples(t0, range(-30, 0), 0.01) + _samples(t0, range(0, 30), 0.05), t0)
    _release(engine, t0)
    rnd = _round(engine, config)
    _tick(rnd, t0 + 30 * MINUTE)
    _release(engine, t0 + 35 * MINUTE, version="v41")  # the rollback
    _tick(rnd, t0 + 36 * MINUTE)
    with engine.connect() as conn:
        [alert] = list(conn.execute(select(alerts)))
        assert alert.status == "resolved"
        [incident] = list(conn.execute(select(incidents)))
        assert incident.firing == 0 and incident.resolve_due_at is not None
    _tick(rnd, t0 + 36 * MINUTE + config.timers.resolve_after)
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.status)).scalar_one() == "resolved"


def test_only_the_previous_release_is_superseded(engine: Engine, t0: datetime) -> None:
    """v42 fails and v43 supersedes it; v44 finds v43 (which raised nothing) before it."""
    config = _config()
    _push(engine, _samples(t0, range(-30, 0), 0.01) + _samples(t0, range(0, 30), 0.05), t0)
    _release(engine, t0)
    rnd = _round(engine, config)
    _tick(rnd, t0 + 30 * MINUTE)
    _release(engine, t0 + 35 * MINUTE, version="v43")
    _tick(rnd, t0 + 36 * MINUTE)
    _release(engine, t0 + 40 * MINUTE, version="v44")
    _tick(rnd, t0 + 41 * MINUTE)
    with engine.connect() as conn:
        sources = [e.delivery_id for e in conn.execute(select(events))]
    assert len(sources) == 2  # the failure, and its one resolution (by v43)


PROMETHEUS = """
releases:
  prometheus: {url: "http://prom.test:9090"}
  slis: [{name: checkout_error_ratio, query: 'sum(x{service="{service}"})', critical: true}]
"""


def _prometheus(t0: datetime, asked: list[tuple[float, float]]) -> PrometheusReader:
    """A mocked Prometheus whose SLI regresses at `t0` (0.01 before, 0.05 after)."""

    def handler(request: httpx.Request) -> httpx.Response:
        form = {
            k: float(v[0]) for k, v in parse_qs(request.content.decode()).items() if k != "query"
        }
        asked.append((form["start"], form["end"]))
        values = []
        rng = random.Random(7)
        t = form["start"]
        while t < form["end"]:
            level = 0.01 if t < t0.timestamp() else 0.05
            values.append([t, str(level * (1 + rng.uniform(-0.05, 0.05)))])
            t += 60
        result = [{"metric": {}, "values": values}]
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=body)

    config = parse_config_text(CONFIG + PROMETHEUS)
    assert config.releases.prometheus is not None
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return PrometheusReader(config.releases.prometheus, config.releases.slis, client)


def test_with_prometheus_slis_a_regression_seen_only_there_is_judged_live(
    engine: Engine, t0: datetime
) -> None:
    """The round reads Prometheus before its transaction; the check judges the
    SLI on that reading (the pushed samples of the SLI, flat here, are not used),
    stores the verdict and opens the incident."""
    config = parse_config_text(CONFIG + PROMETHEUS)
    _push(engine, _samples(t0, range(-30, 30), 0.01), t0)  # flat: no regression pushed
    rid = _release(engine, t0)
    asked: list[tuple[float, float]] = []
    rnd = Round(engine, config, build_pipeline(config), Dispatcher(), None, _prometheus(t0, asked))
    for m in range(0, 15):
        _tick(rnd, t0 + (m + 1) * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
        assert (row.verdict, row.action, row.decided_by) == ("fail", "rollback", "early_fail")
        [metric] = row.evidence["metrics"]
        assert (metric["name"], metric["classification"]) == ("checkout_error_ratio", "high")
        assert list(conn.execute(select(timers.c.kind))) == []
        [event] = list(conn.execute(select(events)))
        assert (event.source, event.labels["alertname"]) == ("release-judge", "ReleaseRegression")
        assert len(list(conn.execute(select(incidents.c.id)))) == 1
    # One read per round while the release was observed, each as of the round's time.
    decided_minutes = int((row.decided_at - t0) / MINUTE)
    assert len(asked) == decided_minutes
    assert asked[0] == ((t0 - 30 * MINUTE).timestamp(), (t0 + MINUTE).timestamp())


def test_without_a_live_reader_slis_are_judged_on_pushed_samples(
    engine: Engine, t0: datetime
) -> None:
    """Replay has no Prometheus: its checks judge the SLI on the pushed samples."""
    config = parse_config_text(CONFIG + PROMETHEUS)
    _push(engine, _samples(t0, range(-30, 0), 0.01) + _samples(t0, range(0, 30), 0.05), t0)
    rid = _release(engine, t0)
    _tick(_round(engine, config), t0 + 60 * MINUTE)
    with engine.connect() as conn:
        assert (get_release(conn, rid).verdict, get_release(conn, rid).action) == (
            "fail",
            "rollback",
        )
        assert len(list(conn.execute(select(incidents.c.id)))) == 1


def test_a_rollback_queues_the_action_webhook_with_the_verdict_and_its_evidence(
    engine: Engine, t0: datetime
) -> None:
    import hashlib

    config = parse_config_text(
        CONFIG
        + 'releases: {action_webhook: {url: "http://127.0.0.1:1/x", secret_env: HOOK_SECRET}}\n'
    )
    _push(engine, _samples(t0, range(-30, 0), 0.01), t0)
    with engine.begin() as conn:
        release = Release("checkout", "prod", "v42", t0, commit="abc123", rollout_percent=25.0)
        rid, _ = save_release(conn, release, t0)
    rnd = _round(engine, config)
    for m in range(0, 12):
        _push(engine, _samples(t0, range(m, m + 1), 0.03, seed=m), t0 + (m + 1) * MINUTE)
        rnd.fire_timers(t0 + (m + 1) * MINUTE)
    with engine.connect() as conn:
        row = get_release(conn, rid)
        [incident_id] = conn.execute(select(incidents.c.id)).scalars()
        [queued] = conn.execute(
            select(
                outbox.c.idempotency_key, outbox.c.action, outbox.c.incident_id, outbox.c.payload
            ).where(outbox.c.sink == "release-actions")
        ).all()
    digest = hashlib.sha256(b"release:checkout/prod/v42").hexdigest()[:20]
    assert queued.idempotency_key.startswith(f"release:{digest}:rollback")
    assert (queued.action, queued.incident_id) == ("release_action", incident_id)
    body = queued.payload
    assert {k: body[k] for k in ("version", "event", "verdict", "action", "score")} == {
        "version": "1",
        "event": "release.action",
        "verdict": "fail",
        "action": "rollback",
        "score": 0.0,
    }
    assert body["release"] == {
        "id": rid,
        "service": "checkout",
        "environment": "prod",
        "version": "v42",
        "started_at": t0.isoformat(),
        "finished_at": None,
        "rollout_percent": 25.0,
        "commit": "abc123",
    }
    assert (body["decided_by"], body["incident_id"]) == ("early_fail", incident_id)
    assert body["decided_at"] == row.decided_at.isoformat()
    assert body["action_reason"] == row.evidence["action_reason"]
    assert body["reasons"] == row.evidence["reasons"] and body["reasons"]
    assert [m["name"] for m in body["metrics"]] == ["checkout_error_ratio"]
    assert body["link"] == f"/api/v1/releases/{rid}"
