"""Cross-alert correlation, the default of a route that writes no `group_by`: the
different alerts of one service (in one cluster and environment) are one incident
and one ticket; explain names the mechanism. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.model import Delivery
from autoticket.store.tables import events, incidents, outbox
from conftest import am_alert, am_payload, process

DEFAULT = "routes:\n  - name: default\n"
BY_ALERTNAME = "routes:\n  - name: default\n    group_by: [alertname, service]\n"


def _deliver(engine: Engine, config: Config, at: datetime, *alerts: dict[str, Any]) -> str:
    bodies = []
    for n, labels in enumerate(alerts):
        alert = am_alert(**labels)
        alert["fingerprint"] = orjson.dumps(sorted(labels.items())).hex()[:16] + str(n)
        bodies.append(alert)
    delivery_id = f"d{at.timestamp():.0f}-{len(alerts)}-{alerts[0].get('alertname')}"
    delivery = Delivery(delivery_id, "alertmanager", at, orjson.dumps(am_payload(*bodies)), {})
    with engine.begin() as conn:
        process(conn, config, [delivery], at)
    return delivery_id


def _incident_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(incidents.c.correlation_key)).scalars())


def _opens(engine: Engine) -> int:
    with engine.connect() as conn:
        actions = conn.execute(select(outbox.c.action)).scalars()
        return sum(a == "open" for a in actions)


def test_different_alerts_of_one_service_are_one_incident_and_one_ticket(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(engine, config, t0, {"alertname": "HighErrorRate", "cluster": "eu-1"})
    _deliver(
        engine,
        config,
        t0 + timedelta(minutes=2),
        {"alertname": "HighLatencyP99", "cluster": "eu-1", "severity": "warning"},
    )
    _deliver(
        engine,
        config,
        t0 + timedelta(minutes=5),
        {"alertname": "SLOErrorBudgetBurn", "cluster": "eu-1"},
    )
    assert _incident_keys(engine) == ["default|cluster=eu-1,environment=prod,service=checkout"]
    assert _opens(engine) == 1


def test_environment_cluster_and_service_still_separate_incidents(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(
        engine,
        config,
        t0,
        {"alertname": "QueueBacklog", "cluster": "eu-1"},
        {"alertname": "QueueBacklog", "cluster": "eu-1", "environment": "staging"},
        {"alertname": "QueueBacklog", "cluster": "us-1"},
        {"alertname": "QueueBacklog", "cluster": "eu-1", "service": "search"},
    )
    assert _incident_keys(engine) == [
        "default|cluster=eu-1,environment=prod,service=checkout",
        "default|cluster=eu-1,environment=prod,service=search",
        "default|cluster=eu-1,environment=staging,service=checkout",
        "default|cluster=us-1,environment=prod,service=checkout",
    ]
    assert _opens(engine) == 4


def test_without_a_service_label_or_at_info_an_alert_keeps_its_own_incident(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(
        engine,
        config,
        t0,
        {"alertname": "NodeDiskFull", "service": ""},
        {"alertname": "NodeMemoryHigh", "service": ""},
        {"alertname": "HighErrorRate"},
        {"alertname": "DeployStarted", "severity": "info"},
    )
    assert _incident_keys(engine) == [
        "default|alertname=DeployStarted,environment=prod",
        "default|alertname=NodeDiskFull,environment=prod",
        "default|alertname=NodeMemoryHigh,environment=prod",
        "default|cluster=,environment=prod,service=checkout",
    ]


def test_a_written_group_by_is_kept_as_it_is(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(BY_ALERTNAME)
    _deliver(engine, config, t0, {"alertname": "HighErrorRate"}, {"alertname": "HighLatencyP99"})
    assert _incident_keys(engine) == [
        "default|alertname=HighErrorRate,environment=prod,service=checkout",
        "default|alertname=HighLatencyP99,environment=prod,service=checkout",
    ]
    assert _opens(engine) == 2


def test_explain_names_the_cross_alert_mechanism(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(engine, config, t0, {"alertname": "HighErrorRate"})
    joined = _deliver(engine, config, t0 + timedelta(minutes=1), {"alertname": "HighLatencyP99"})
    with engine.connect() as conn:
        decisions = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == joined)
        ).scalar_one()
    [correlate] = [d for d in decisions if d["stage"] == "correlate"]
    assert correlate["outcome"] == "new alert joined"
    assert correlate["inputs"]["mechanism"] == "cross-alert"
    assert correlate["inputs"]["grouped_by"] == ["cluster", "environment", "service"]
    assert correlate["rule"] == "default|cluster=,environment=prod,service=checkout"


def _decisions(engine: Engine, delivery_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == delivery_id)
        ).scalar_one()
    return [d for d in found if d["stage"] == "correlate"]


MAIN = "default|cluster=eu-1,environment=prod,service=checkout"
LATE = "default|alertname=HighMemoryUsage,cluster=eu-1,environment=prod,service=checkout"


def test_a_late_alertname_no_worse_than_the_incident_is_an_incident_of_its_own(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(engine, config, t0, {"alertname": "HighErrorRate", "cluster": "eu-1"})
    warning = {"alertname": "HighMemoryUsage", "cluster": "eu-1", "severity": "warning"}
    late = _deliver(engine, config, t0 + timedelta(minutes=16), warning)
    assert _incident_keys(engine) == [LATE, MAIN]
    [split] = [d for d in _decisions(engine, late) if d["outcome"].startswith("another")]
    assert split["inputs"]["mechanism"] == "cross-alert window"
    assert split["inputs"]["reason"] == "after the window, and no worse than the incident"
    assert split["inputs"]["window"] == "0:15:00" and split["inputs"]["after"] == "0:16:00"
    # The same alert again, and another one of that name, stay with it.
    _deliver(engine, config, t0 + timedelta(minutes=17), warning)
    _deliver(engine, config, t0 + timedelta(minutes=18), warning, {**warning, "pod": "b"})
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.correlation_key, incidents.c.alert_count)).all()
    assert sorted(tuple(r) for r in rows) == [(LATE, 2), (MAIN, 1)]
    assert _opens(engine) == 2


def test_within_the_window_worse_or_already_seen_alertnames_join(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    first = {"alertname": "HighLatencyP99", "cluster": "eu-1", "severity": "warning"}
    _deliver(engine, config, t0, first)
    _deliver(  # within the window
        engine, config, t0 + timedelta(minutes=15), {**first, "alertname": "QueueBacklog"}
    )
    _deliver(  # later, worse: the fault grows
        engine,
        config,
        t0 + timedelta(minutes=50),
        {"alertname": "HighErrorRate", "cluster": "eu-1", "severity": "critical"},
    )
    _deliver(  # later, a name it has (another pod)
        engine, config, t0 + timedelta(minutes=60), first, {**first, "pod": "b"}
    )
    assert _incident_keys(engine) == [MAIN]
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.alert_count)).scalar_one() == 4
    assert _opens(engine) == 1


def test_without_a_window_any_later_alertname_joins(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(DEFAULT + "    cross_alert_window: null\n")
    _deliver(engine, config, t0, {"alertname": "HighErrorRate", "cluster": "eu-1"})
    _deliver(
        engine,
        config,
        t0 + timedelta(hours=3),
        {"alertname": "HighMemoryUsage", "cluster": "eu-1", "severity": "warning"},
    )
    assert _incident_keys(engine) == [MAIN]


def test_only_an_alertname_it_had_reopens_a_resolved_incident(engine: Engine, t0: datetime) -> None:
    from autoticket.lifecycle.timers import fire_due

    config = parse_config_text("timers: {resolve_after: 5m, reopen_within: 1h}\n" + DEFAULT)
    first = {"alertname": "HighErrorRate", "cluster": "eu-1"}
    _deliver(engine, config, t0, first)
    _deliver(engine, config, t0 + timedelta(minutes=1), {**first, "status": "resolved"})
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=7), config)
    other = _deliver(
        engine,
        config,
        t0 + timedelta(minutes=20),
        {"alertname": "HighMemoryUsage", "cluster": "eu-1", "severity": "warning"},
    )
    [not_reopened] = [d for d in _decisions(engine, other) if d["outcome"].startswith("not")]
    assert not_reopened["inputs"]["mechanism"] == "cross-alert window"
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.status).order_by(incidents.c.id)).scalars().all()
    assert rows == ["resolved", "open"]
    # The alertname it had, within reopen_within, reopens the same incident.
    same = {"alertname": "HighErrorRate", "cluster": "eu-2"}
    _deliver(engine, config, t0, same)
    _deliver(engine, config, t0 + timedelta(minutes=1), {**same, "status": "resolved"})
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=7), config)
    _deliver(
        engine, config, t0 + timedelta(minutes=21), {**same, "starts_at": "2026-01-05T10:20:30Z"}
    )
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.status).order_by(incidents.c.id)).scalars().all()
        actions = conn.execute(select(outbox.c.action)).scalars().all()
    assert rows == ["resolved", "open", "open"]
    assert actions.count("reopen") == 1


def _split_reasons(engine: Engine, delivery_id: str) -> list[str]:
    return [
        d["inputs"]["reason"]
        for d in _decisions(engine, delivery_id)
        if d["outcome"] == "another alertname: its own incident"
    ]


def test_an_incident_with_nothing_firing_takes_no_other_alertname(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text("timers: {resolve_after: 5m}\n" + DEFAULT)
    first = {"alertname": "HighLatencyP99Short", "cluster": "eu-1", "severity": "warning"}
    _deliver(engine, config, t0, first)
    _deliver(engine, config, t0 + timedelta(minutes=1), {**first, "status": "resolved"})
    # Within the window and worse, but the incident only waits out resolve_after.
    worse = {"alertname": "HighErrorRate", "cluster": "eu-1", "severity": "critical"}
    other = _deliver(engine, config, t0 + timedelta(minutes=3), worse)
    assert _split_reasons(engine, other) == [
        "none of the incident's alerts fires (it waits to resolve)"
    ]
    assert _incident_keys(engine) == [
        "default|alertname=HighErrorRate,cluster=eu-1,environment=prod,service=checkout",
        MAIN,
    ]
    # An alertname the incident had still joins it: the same fault again.
    _deliver(engine, config, t0 + timedelta(minutes=4), {**first, "pod": "b"})
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.correlation_key, incidents.c.alert_count))
        counts = {key: count for key, count in rows}
    assert counts[MAIN] == 2


DISK = {
    "alertname": "NodeFilesystemSpaceFillingUp",
    "severity": "warning",
    "instance": "db-0",
    "mountpoint": "/data",
}


def test_after_the_window_a_worse_alert_joins_only_about_the_same_thing(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    _deliver(engine, config, t0, {**DISK, "cluster": "eu-1"}, {**DISK, "cluster": "eu-2"})
    later = t0 + timedelta(minutes=60)
    grows = {**DISK, "alertname": "NodeFilesystemAlmostOutOfSpace", "severity": "critical"}
    _deliver(engine, config, later, {**grows, "cluster": "eu-1"})
    another = {
        "alertname": "PostgresTooManyConnections",
        "severity": "critical",
        "instance": "db-0",
    }
    apart = _deliver(engine, config, later, {**another, "cluster": "eu-2"})
    assert _split_reasons(engine, apart) == [
        "after the window, and about another thing than the incident's alerts"
    ]
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.correlation_key, incidents.c.alert_count))
        counts = {key: count for key, count in rows}
    assert counts == {
        MAIN: 2,  # the filesystem that was filling up is now almost full
        "default|cluster=eu-2,environment=prod,service=checkout": 1,
        "default|alertname=PostgresTooManyConnections,cluster=eu-2,environment=prod,"
        "service=checkout": 1,
    }


def test_a_flapping_incident_takes_no_later_worse_alertname(engine: Engine, t0: datetime) -> None:
    config = parse_config_text("timers: {resolve_after: 5m}\n" + DEFAULT)
    flapper = {"alertname": "HighMemoryUsage", "cluster": "eu-1", "severity": "warning"}
    for minute in range(0, 13, 4):  # fires, resolves 2 min later, fires again: 3 toggles
        at = t0 + timedelta(minutes=minute)
        episode = {**flapper, "starts_at": _iso(at)}
        _deliver(engine, config, at, episode)
        if minute < 12:
            gone = at + timedelta(minutes=2)
            _deliver(engine, config, gone, {**episode, "status": "resolved", "ends_at": _iso(gone)})
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.flapping_since)).scalar_one() is not None
    worse = {**flapper, "alertname": "HighErrorRate", "severity": "critical"}
    apart = _deliver(engine, config, t0 + timedelta(minutes=20), worse)
    assert _split_reasons(engine, apart) == ["after the window, and the incident is flapping"]
    assert len(_incident_keys(engine)) == 2


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_after_the_window_an_alertname_as_severe_as_the_incident_is_its_own(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(DEFAULT)
    first = {"alertname": "HighLatencyP99", "cluster": "eu-1", "severity": "warning"}
    _deliver(engine, config, t0, first)
    same = _deliver(engine, config, t0 + timedelta(minutes=20), {**first, "alertname": "QueueSlow"})
    assert _split_reasons(engine, same) == ["after the window, and no worse than the incident"]
