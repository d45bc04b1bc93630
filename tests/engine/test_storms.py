"""Storms: when services of one cluster open incidents together, one storm incident
with one ticket covers them; the ones before the threshold keep their tickets, the
rest are its children; it resolves with its last child. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.store.tables import decisions, events, incidents, outbox, timeline
from conftest import am_alert, am_payload, process

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
correlation:
  storm: {threshold: 3, window: 5m, team: platform}
routes:
  - name: default
"""


def _fire(engine: Engine, config: Config, at: datetime, n: int, **labels: str) -> None:
    alert = am_alert(alertname="HighErrorRate", **labels)
    alert["fingerprint"] = f"{n:016x}"
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(f"d{n}", "alertmanager", at, body, {})], at)


def _resolve(engine: Engine, config: Config, at: datetime, n: int, **labels: str) -> None:
    alert = am_alert(alertname="HighErrorRate", status="resolved", **labels)
    alert["fingerprint"] = f"{n:016x}"
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        process(conn, config, [Delivery(f"r{n}", "alertmanager", at, body, {})], at)


def _opens(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = (
            select(outbox.c.payload)
            .where(outbox.c.action == "open", outbox.c.sink == "builtin")
            .order_by(outbox.c.id)
        )
        return [dict(p) for p in conn.execute(query).scalars()]


def _incidents(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                incidents.c.correlation_key,
                incidents.c.parent_id,
                incidents.c.held,
                incidents.c.status,
                incidents.c.id,
            )
        ).all()
    return {r.correlation_key: r for r in rows}


def test_the_third_service_of_a_cluster_opens_one_storm_and_the_rest_join_it(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["api", "web", "cart", "search"]):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    titles = [o["title"] for o in _opens(engine)]
    assert titles == [
        "HighErrorRate on api",
        "HighErrorRate on web",
        "Storm: many services alerting in cluster eu-1 (prod)",
    ]
    storm = _opens(engine)[-1]
    assert storm["team"] == "platform"
    assert storm["reasons"] == ["opened"]
    found = _incidents(engine)
    parent = found["storm|cluster=eu-1,environment=prod"]
    for service in ("cart", "search"):
        child = found[f"default|cluster=eu-1,environment=prod,service={service}"]
        assert child.parent_id == parent.id and child.held == f"storm {parent.id}"
    assert found["default|cluster=eu-1,environment=prod,service=api"].parent_id is None
    with engine.connect() as conn:
        joined = [
            d
            for ds in conn.execute(select(events.c.decisions)).scalars()
            for d in ds
            if d["outcome"] == "joined storm"
        ]
    assert len(joined) == 2 and joined[0]["inputs"]["mechanism"] == "storm"
    assert joined[0]["inputs"]["services"] == ["api", "cart", "web"]


def test_other_clusters_environments_and_late_services_are_no_storm(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _fire(engine, config, t0, 0, service="api", cluster="eu-1")
    _fire(engine, config, t0 + timedelta(minutes=1), 1, service="web", cluster="us-1")
    _fire(
        engine,
        config,
        t0 + timedelta(minutes=2),
        2,
        service="cart",
        cluster="eu-1",
        environment="staging",
    )
    _fire(engine, config, t0 + timedelta(minutes=9), 3, service="search", cluster="eu-1")
    _fire(engine, config, t0 + timedelta(minutes=10), 4, service="ads", cluster="eu-1")
    assert len(_opens(engine)) == 5
    assert not any(k.startswith("storm|") for k in _incidents(engine))


def test_a_storm_resolves_with_its_last_child(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(CONFIG)
    services = ["api", "web", "cart"]
    for n, service in enumerate(services):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    for n, service in enumerate(services):
        _resolve(engine, config, t0 + timedelta(minutes=5), n, service=service, cluster="eu-1")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=11), config)
    found = _incidents(engine)
    assert found["storm|cluster=eu-1,environment=prod"].status == "resolved"
    with engine.connect() as conn:
        resolves = conn.execute(
            select(outbox.c.incident_id).where(
                outbox.c.action == "resolve", outbox.c.sink == "builtin"
            )
        ).scalars()
        resolved = sorted(resolves)
    parent_id = found["storm|cluster=eu-1,environment=prod"].id
    assert parent_id in resolved and len(resolved) == 3  # api, web and the storm


def test_storms_can_be_turned_off(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(CONFIG.replace("threshold: 3,", "enabled: false, threshold: 3,"))
    for n, service in enumerate(["api", "web", "cart", "search"]):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    assert len(_opens(engine)) == 4


def _stream(seed: int, severities: tuple[str, ...] = ("critical",)) -> list[bytes]:
    """Services of two clusters firing and resolving within minutes of each other."""
    import json
    import random

    from autoticket.replay import replay  # noqa: F401  (used by the caller)

    rng = random.Random(seed)
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    lines: list[bytes] = []
    firing: dict[tuple[str, str], datetime] = {}
    for n in range(40):
        now += timedelta(seconds=rng.choice((5, 20, 40, 90, 200, 400, 900)))
        key = (rng.choice(["api", "web", "cart", "search", "ads"]), rng.choice(["eu-1", "us-1"]))
        service, cluster = key
        severity = rng.choice(severities)
        if key in firing and rng.random() < 0.4:
            start = firing.pop(key)
            alert = am_alert(
                service=service,
                cluster=cluster,
                severity=severity,
                status="resolved",
                starts_at=_iso(start),
                ends_at=_iso(now - timedelta(seconds=1)),
            )
        else:
            start = firing.setdefault(key, now - timedelta(seconds=1))
            alert = am_alert(
                service=service, cluster=cluster, severity=severity, starts_at=_iso(start)
            )
        alert["fingerprint"] = f"{service}-{cluster}"
        line = {
            "id": f"L{n:03d}",
            "source": "alertmanager",
            "received_at": _iso(now),
            "headers": {"content-type": "application/json"},
            "body": am_payload(alert),
        }
        lines.append(json.dumps(line).encode())
    return lines


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("paused", [False, True])
def test_storms_replay_the_same_at_every_batch_size(paused: bool) -> None:
    """With pauses too: a paused service joins a storm when its pause ends."""
    import json

    from autoticket.replay import replay

    config = parse_config_text(CONFIG + ("    pause: {warning: 2m}\n" if paused else ""))
    stormed = 0
    for seed in range(8):
        lines = _stream(seed, ("critical", "warning") if paused else ("critical",))
        outputs = [
            json.dumps(replay(iter(lines), config, batch_size=b).output, sort_keys=True)
            for b in (1, 7, 200)
        ]
        assert outputs[0] == outputs[1] == outputs[2], f"seed {seed}"
        stormed += sum(t["title"].startswith("Storm:") for t in json.loads(outputs[0])["tickets"])
    assert stormed > 0, "the streams reach the storm rule"


def test_a_child_firing_again_after_its_storm_ended_files_its_own_ticket(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    services = ["api", "web", "cart"]
    for n, service in enumerate(services):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    for n, service in enumerate(services):
        _resolve(engine, config, t0 + timedelta(minutes=5), n, service=service, cluster="eu-1")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=11), config)
    assert _incidents(engine)["storm|cluster=eu-1,environment=prod"].status == "resolved"
    # cart (a child: no ticket of its own) fires again within reopen_within
    again = (t0 + timedelta(minutes=19)).strftime("%Y-%m-%dT%H:%M:%SZ")  # a new episode
    _fire(
        engine,
        config,
        t0 + timedelta(minutes=20),
        9,
        service="cart",
        cluster="eu-1",
        starts_at=again,
    )
    child = _incidents(engine)["default|cluster=eu-1,environment=prod,service=cart"]
    assert child.status == "open" and child.parent_id is None and child.held is None
    assert [o["title"] for o in _opens(engine)][-1] == "HighErrorRate on cart"


def test_a_later_burst_while_the_first_storm_is_open_is_a_storm_of_its_own(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["api", "web", "cart"]):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    later = t0 + timedelta(minutes=20)  # cart still fires: the first storm is open
    for n, service in enumerate(["search", "ads", "shop"], start=3):
        _fire(engine, config, later + timedelta(minutes=n - 3), n, service=service, cluster="eu-1")
    found = _incidents(engine)
    second = "storm|cluster=eu-1,environment=prod@2026-01-05T10:22:00Z"
    assert found["storm|cluster=eu-1,environment=prod"].status == "open"
    assert found[second].status == "open"
    assert found["default|cluster=eu-1,environment=prod,service=shop"].parent_id == found[second].id
    titles = [o["title"] for o in _opens(engine)]
    assert titles.count("Storm: many services alerting in cluster eu-1 (prod)") == 2
    assert "HighErrorRate on search" in titles and "HighErrorRate on ads" in titles


def test_a_storm_under_way_gathers_services_while_they_keep_coming(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["api", "web", "cart"]):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    # 5 min after the last join: only cart and search in the window, yet it joins.
    _fire(engine, config, t0 + timedelta(minutes=7), 3, service="search", cluster="eu-1")
    # 6 min after that: the storm has stopped gathering.
    _fire(engine, config, t0 + timedelta(minutes=13), 4, service="ads", cluster="eu-1")
    found = _incidents(engine)
    storm = found["storm|cluster=eu-1,environment=prod"]
    assert found["default|cluster=eu-1,environment=prod,service=search"].parent_id == storm.id
    assert found["default|cluster=eu-1,environment=prod,service=ads"].parent_id is None
    assert [o["title"] for o in _opens(engine)][-1] == "HighErrorRate on ads"


def test_a_paused_service_joins_the_storm_that_formed_while_it_waited(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG + "    pause: {warning: 2m}\n")
    _fire(engine, config, t0, 0, service="api", cluster="eu-1", severity="warning")
    _fire(
        engine,
        config,
        t0 + timedelta(seconds=30),
        1,
        service="ads",
        severity="warning",
        cluster="eu-1",
    )
    _fire(engine, config, t0 + timedelta(minutes=1), 2, service="web", cluster="eu-1")
    _resolve(
        engine,
        config,
        t0 + timedelta(seconds=90),
        1,
        service="ads",
        severity="warning",
        cluster="eu-1",
    )
    _fire(engine, config, t0 + timedelta(minutes=2), 3, service="cart", cluster="eu-1")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=4), config)
    found = _incidents(engine)
    storm = found["storm|cluster=eu-1,environment=prod"]
    api = found["default|cluster=eu-1,environment=prod,service=api"]
    assert api.parent_id == storm.id and api.held == f"storm {storm.id}"
    ads = found["default|cluster=eu-1,environment=prod,service=ads"]  # a transient
    assert ads.parent_id is None and ads.held == "resolved within its pause"
    # api, ads (both paused) and web made the storm; the transient stays out of it.
    assert [o["title"] for o in _opens(engine)] == [
        "Storm: many services alerting in cluster eu-1 (prod)"
    ]
    with engine.connect() as conn:
        outcomes = conn.execute(
            select(decisions.c.outcome, decisions.c.inputs).where(
                decisions.c.incident_id == api.id, decisions.c.stage == "lifecycle"
            )
        ).all()
    [(outcome, inputs)] = outcomes
    assert outcome == "joined storm" and inputs["mechanism"] == "storm"
    assert inputs["parent"] == storm.id


def test_the_services_that_started_a_storm_hand_their_tickets_to_its_team(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(
        CONFIG
        + "catalog:\n  services:\n    api: {team: shop}\n    web: {team: web}\n"
        + "    cart: {team: shop}\n"
    )
    for n, service in enumerate(["api", "web", "cart"]):
        _fire(engine, config, t0 + timedelta(minutes=n), n, service=service, cluster="eu-1")
    with engine.begin() as conn:  # the updates come at most once per update_interval
        fire_due(conn, t0 + timedelta(minutes=6), config)
    with engine.connect() as conn:
        teams = dict(conn.execute(select(incidents.c.correlation_key, incidents.c.team)).all())
        updates = (
            conn.execute(
                select(outbox.c.payload).where(
                    outbox.c.action == "update", outbox.c.sink == "builtin"
                )
            )
            .scalars()
            .all()
        )
        [decided] = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == "d2")
        ).scalars()
    assert teams["default|cluster=eu-1,environment=prod,service=api"] == "platform"
    assert teams["default|cluster=eu-1,environment=prod,service=web"] == "platform"
    assert teams["default|cluster=eu-1,environment=prod,service=cart"] == "shop"  # a child
    assert sorted((u["title"], u["team"], u["reasons"]) for u in updates) == [
        ("HighErrorRate on api", "platform", ["reassigned"]),
        ("HighErrorRate on web", "platform", ["reassigned"]),
    ]
    handed = [d["inputs"] for d in decided if d["outcome"] == "reassigned to the storm's team"]
    assert sorted((h["previous"], h["team"]) for h in handed) == [
        ("shop", "platform"),
        ("web", "platform"),
    ]


def test_a_paused_service_joining_at_its_pause_end_is_counted_and_explained(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG + "    pause: {warning: 2m}\n")
    _fire(engine, config, t0, 0, service="api", cluster="eu-1", severity="warning")
    _fire(engine, config, t0 + timedelta(seconds=20), 1, service="web", cluster="eu-1")
    _fire(engine, config, t0 + timedelta(seconds=40), 2, service="cart", cluster="eu-1")

    def storm_row() -> Any:
        with engine.connect() as conn:
            return conn.execute(
                select(incidents.c.id, incidents.c.alert_count, incidents.c.firing).where(
                    incidents.c.correlation_key == "storm|cluster=eu-1,environment=prod"
                )
            ).one()

    before = storm_row()
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=3), config)
    after = storm_row()
    assert (after.alert_count, after.firing) == (before.alert_count + 1, before.firing + 1)
    api = _incidents(engine)["default|cluster=eu-1,environment=prod,service=api"]
    with engine.connect() as conn:
        [data] = conn.execute(
            select(timeline.c.data).where(
                timeline.c.incident_id == api.id, timeline.c.kind == "storm_joined"
            )
        ).scalars()
        [(rule, inputs)] = conn.execute(
            select(decisions.c.rule, decisions.c.inputs).where(
                decisions.c.incident_id == api.id, decisions.c.stage == "lifecycle"
            )
        ).all()
    assert data == {"parent": after.id, "services": ["api"]}
    assert rule == "storm|cluster=eu-1,environment=prod"
    assert inputs == {
        "incident": api.id,
        "parent": after.id,
        "mechanism": "storm",
        "reason": "pause ended while its place's storm is open",
        "window": "0:05:00",
    }


@pytest.mark.parametrize(("late", "joins"), [(300, True), (301, False)])
def test_a_paused_service_joins_only_a_storm_within_the_window_of_its_last_change(
    engine: Engine, t0: datetime, late: int, joins: bool
) -> None:
    config = parse_config_text(CONFIG + "    pause: {warning: 2m}\n")
    for n, service in enumerate(["web", "cart", "ads"]):
        _fire(engine, config, t0 + timedelta(seconds=n), n, service=service, cluster="eu-1")
    # Opened `late` seconds after the storm's last change (its third service).
    at = t0 + timedelta(seconds=2 + late)
    _fire(engine, config, at, 9, service="api", cluster="eu-1", severity="warning")
    with engine.begin() as conn:
        fire_due(conn, at + timedelta(minutes=3), config)
    api = _incidents(engine)["default|cluster=eu-1,environment=prod,service=api"]
    assert (api.parent_id is not None) is joins
    assert ("HighErrorRate on api" in [o["title"] for o in _opens(engine)]) is not joins


def test_a_paused_service_whose_storm_resolved_files_its_own_ticket(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG + "    pause: {warning: 10m}\n")
    _fire(engine, config, t0, 9, service="api", cluster="eu-1", severity="warning")
    for n, service in enumerate(["web", "cart"], start=1):
        _fire(engine, config, t0 + timedelta(seconds=n), n, service=service, cluster="eu-1")
    for n, service in enumerate(["web", "cart"], start=1):
        _resolve(engine, config, t0 + timedelta(minutes=1), n, service=service, cluster="eu-1")
    with engine.begin() as conn:  # the storm resolves at 6 min, api's pause ends at 10
        fire_due(conn, t0 + timedelta(minutes=11), config)
    found = _incidents(engine)
    assert found["storm|cluster=eu-1,environment=prod"].status == "resolved"
    assert found["default|cluster=eu-1,environment=prod,service=api"].parent_id is None
    assert "HighErrorRate on api" in [o["title"] for o in _opens(engine)]
