"""Timer kind `release_check`: releases judged step by step in the engine's round.

A regression is failed early, stored on the release row and becomes one
incident with a ticket through the pipeline (however often the check runs);
a harmless release passes and raises nothing; a later release of the service
resolves the failed one's alert; late samples are taken into account.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from autoticket.config import Config, parse_config_text
from autoticket.engine.round import Round
from autoticket.explain import incident_detail
from autoticket.model import MetricSample, Release
from autoticket.pipeline.runner import build_pipeline
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


def test_with_prometheus_slis_releases_are_judged_on_read_only(
    engine: Engine, t0: datetime
) -> None:
    """The checks cannot read Prometheus inside the round: they store nothing
    that would hide the verdict the API reads from Prometheus."""
    config = parse_config_text(
        CONFIG
        + """
releases:
  prometheus: {url: "http://127.0.0.1:9"}
  slis: [{name: http_error_ratio, query: 'sum(x{service="{service}"})'}]
"""
    )
    _push(engine, _samples(t0, range(-30, 0), 0.01) + _samples(t0, range(0, 30), 0.05), t0)
    rid = _release(engine, t0)
    _tick(_round(engine, config), t0 + 60 * MINUTE)
    with engine.connect() as conn:
        assert get_release(conn, rid).verdict is None
        assert list(conn.execute(select(timers.c.id))) == []
        assert list(conn.execute(select(incidents.c.id))) == []
