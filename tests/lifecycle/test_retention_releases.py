"""Retention of releases and pushed metric samples: kept up to their age, purged past it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from autoticket.config import Config
from autoticket.lifecycle import purge
from autoticket.model import MetricSample, Release, Timer
from autoticket.store import timers as timer_store
from autoticket.store.metric_samples import add_samples
from autoticket.store.releases import save_release
from autoticket.store.tables import metric_samples, releases, timers

SECOND = timedelta(seconds=1)


def _seed(engine: Engine, now: datetime, config: Config) -> None:
    keep_r, keep_s = config.retention.releases, config.retention.metric_samples
    with engine.begin() as conn:
        for version, age in (("kept", keep_r), ("old", keep_r + SECOND)):
            rid, _ = save_release(conn, Release("api", "prod", version, now - age), now)
            timer_store.schedule(conn, [Timer(timer_store.RELEASE_CHECK, str(rid), now, {})])
        add_samples(
            conn,
            [
                MetricSample("api_error_ratio", "api", "prod", now - keep_s, 0.1),
                MetricSample("api_error_ratio", "api", "prod", now - keep_s - SECOND, 0.2),
            ],
            now,
        )


def test_releases_and_samples_kept_to_their_age_purged_past_it(
    engine: Engine, config: Config, t0: datetime
) -> None:
    _seed(engine, t0, config)
    with engine.begin() as conn:
        removed = purge(conn, t0, config.retention)
    assert (removed["releases"], removed["metric_samples"]) == (1, 1)
    with engine.connect() as conn:
        assert list(conn.execute(select(releases.c.version)).scalars()) == ["kept"]
        assert list(conn.execute(select(metric_samples.c.v)).scalars()) == [0.1]
        kept_id = conn.execute(select(releases.c.id)).scalar_one()
        # The purged release's re-judging timer went with it; the kept one's stays.
        assert list(conn.execute(select(timers.c.subject)).scalars()) == [str(kept_id)]


def test_release_and_sample_purges_are_bounded_per_call(
    engine: Engine, config: Config, t0: datetime
) -> None:
    old = t0 - config.retention.releases - timedelta(days=1)
    with engine.begin() as conn:
        for i in range(3):
            save_release(conn, Release("api", "prod", f"v{i}", old), old)
        add_samples(
            conn,
            [MetricSample("x_error_ratio", "api", "prod", old + i * SECOND, 0.0) for i in range(3)],
            old,
        )
    with engine.begin() as conn:
        first = purge(conn, t0, config.retention, limit=2)
    with engine.begin() as conn:
        second = purge(conn, t0, config.retention, limit=2)
    assert (first["releases"], first["metric_samples"]) == (2, 2)
    assert (second["releases"], second["metric_samples"]) == (1, 1)


def test_retention_settings_parse_from_yaml() -> None:
    from autoticket.config import parse_config_text

    config = parse_config_text("retention: {releases: 30d, metric_samples: 2d}")
    assert config.retention.releases == timedelta(days=30)
    assert config.retention.metric_samples == timedelta(days=2)
