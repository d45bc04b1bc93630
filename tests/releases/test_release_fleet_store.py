"""The fleet control read from the store, and each release judged once per run (VerdictCache)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from autoticket.config import parse_config_text
from autoticket.explain import VerdictCache, release_evaluation
from autoticket.model import MetricSample, Release
from autoticket.store.metric_samples import add_samples, fleet_between
from autoticket.store.releases import release_from_row, save_release, store_verdict
from autoticket.store.tables import releases

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NAME = "http_error_ratio"
CONFIG = parse_config_text(
    "catalog:\n  services:\n    web: {team: web, depends_on: [api]}\n"
    "routes:\n  - name: default\n    group_by: [alertname]\n"
)


def _sample(service: str, minute: int, v: float, **labels: str) -> MetricSample:
    return MetricSample(
        name=NAME, service=service, environment="prod", t=T + timedelta(minutes=minute), v=v,
        labels=dict(labels),
    )  # fmt: skip


def test_the_fleet_is_every_other_service_with_the_same_series(engine: Engine) -> None:
    samples = [
        _sample("api", 0, 1.0),
        _sample("cart", 0, 2.0),
        _sample("cart", 1, 3.0),
        _sample("search", 0, 4.0),
        _sample("search", 0, 9.0, quantile="0.99"),  # another series key
        _sample("web", 0, 5.0),
        _sample("cart", 9, 6.0),  # past the window
    ]
    with engine.begin() as conn:
        add_samples(conn, samples, T)
    with engine.connect() as conn:
        fleet = fleet_between(
            conn, "prod", [NAME], {"api", "web"}, T - timedelta(minutes=1), T + timedelta(minutes=5)
        )
    assert fleet == {
        NAME: [
            [(T, 2.0), (T + timedelta(minutes=1), 3.0)],  # cart
            [(T, 4.0)],  # search
        ]
    }


def _world(engine: Engine) -> Release:
    """api ships at T and triples its error ratio; cart, search, orders and web stay put."""
    rng = random.Random(5)
    samples = []
    for service in ("api", "cart", "search", "orders", "web"):
        for minute in range(-30, 30):
            worse = 3.0 if service == "api" and minute >= 0 else 1.0
            samples.append(_sample(service, minute, 0.01 * worse * rng.uniform(0.9, 1.1)))
    release = Release(service="api", environment="prod", version="v2", started_at=T)
    with engine.begin() as conn:
        add_samples(conn, samples, T)
        save_release(conn, release, T)
    with engine.connect() as conn:
        return release_from_row(conn.execute(releases.select()).one())


def test_a_release_decided_before_an_incident_is_judged_once_for_all(engine: Engine) -> None:
    release = _world(engine)
    cache = VerdictCache()
    with engine.connect() as conn:
        final = cache.final(conn, CONFIG, release)
        assert final.verdict == "fail" and final.decided_at is not None
        for minutes in (10, 20, 45):  # three incidents after the decision
            assert cache.as_of(conn, CONFIG, release, T + timedelta(minutes=minutes)) is final
        assert cache.judged == 1
        # An incident while it was still observed gets the verdict so far, judged then.
        early = cache.as_of(conn, CONFIG, release, final.decided_at - timedelta(seconds=30))
        assert early.decided_at is None and early.how == "pending"
        assert cache.judged == 2
        direct = release_evaluation(conn, CONFIG, release, T + timedelta(hours=1))
    assert (direct.verdict, direct.decided_at) == (final.verdict, final.decided_at)
    # web depends on api: left out of api's fleet, so three services remain.
    metric = final.metrics()[0]
    assert metric["control"]["services"] == 3


def test_a_verdict_stored_on_the_release_row_is_used_as_it_is(engine: Engine) -> None:
    """The checks' stored decision wins (it may rest on Prometheus SLIs the
    pushed samples lack): here the samples say fail, the row says pass."""
    release = _world(engine)
    decided = T + timedelta(minutes=12)
    decision = {
        "verdict": "pass",
        "score": 0.1,
        "action": "continue",
        "decided_at": decided,
        "decided_by": "early_pass",
        "evidence": {"action_reason": "all clear", "reasons": ["from Prometheus"], "metrics": []},
    }
    assert release.id is not None
    with engine.begin() as conn:
        store_verdict(conn, release.id, decision, decided)
    cache = VerdictCache()
    with engine.connect() as conn:
        final = cache.final(conn, CONFIG, release)
        assert (final.verdict, final.action, final.how) == ("pass", "continue", "early_pass")
        assert (final.decided_at, final.reasons) == (decided, ["from Prometheus"])
        assert cache.as_of(conn, CONFIG, release, T + timedelta(minutes=30)) is final
        assert cache.judged == 0
        # Before its decision, the verdict so far is still judged on the samples.
        early = cache.as_of(conn, CONFIG, release, T + timedelta(minutes=1))
        assert early.how == "pending"
        assert cache.judged == 1
