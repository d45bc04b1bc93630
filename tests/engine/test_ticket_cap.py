"""A team's ticket rate cap (`correlation.ticket_cap`): past it, new incidents of the
team join its overflow incident, whose one ticket lists them; after a quiet window
the count starts again; other teams, storms' children and info are not counted;
the outcome does not depend on the batch size. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.replay import replay
from autoticket.store.tables import events, incidents, outbox, timeline
from conftest import am_alert, am_payload, opened_titles, process

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
catalog:
  services:
    api: {team: shop}
    web: {team: shop}
    cart: {team: shop}
    search: {team: shop}
    ads: {team: growth}
correlation:
  storm: {enabled: false}
  ticket_cap: {enabled: true, tickets: 2, window: 10m, teams: {growth: 5}}
routes:
  - name: default
"""
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


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
        fire_due(conn, at, config)
        process(conn, config, [Delivery(f"r{n}", "alertmanager", at, body, {})], at)


def _rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(incidents.c.id, incidents.c.correlation_key, incidents.c.parent_id)
        ).all()
    return {r.correlation_key: r for r in rows}


def test_past_the_cap_a_teams_new_incidents_join_its_overflow(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["api", "web", "cart", "search"]):
        _fire(engine, config, T0 + timedelta(minutes=n), n, service=service)
    _fire(engine, config, T0 + timedelta(minutes=2), 9, service="ads")  # another team
    assert opened_titles(engine) == [
        "HighErrorRate on api",
        "HighErrorRate on web",
        "Ticket cap: more than 2 new incidents of team shop within 0:10:00",
        "HighErrorRate on ads",
    ]
    rows = _rows(engine)
    overflow = rows["storm|team=shop"]
    for service in ("cart", "search"):
        assert rows[f"default|cluster=,environment=prod,service={service}"].parent_id == overflow.id
    assert rows["default|cluster=,environment=prod,service=api"].parent_id is None
    with engine.begin() as conn:  # the coalesced update of the overflow's ticket is due
        fire_due(conn, T0 + timedelta(minutes=8), config)
    with engine.connect() as conn:
        decisions = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == "d3")
        ).scalar_one()
        updates = (
            conn.execute(
                select(outbox.c.payload).where(
                    outbox.c.action == "update", outbox.c.incident_id == overflow.id
                )
            )
            .scalars()
            .all()
        )
    [capped] = [d for d in decisions if d["outcome"] == "over the ticket cap"]
    assert capped["inputs"] == {
        "incident": rows["default|cluster=,environment=prod,service=search"].id,
        "parent": overflow.id,
        "mechanism": "ticket cap",
        "team": "shop",
        "cap": 2,
        "window": "0:10:00",
    }
    assert [u["reasons"] for u in updates] == [["member_joined"]], "its ticket hears of it"
    with engine.connect() as conn:
        listed = (
            conn.execute(
                select(timeline.c.message).where(
                    timeline.c.incident_id == overflow.id, timeline.c.kind == "member_joined"
                )
            )
            .scalars()
            .all()
        )
    search = rows["default|cluster=,environment=prod,service=search"].id
    assert listed == [f"over the cap: incident {search} (HighErrorRate on search)"]


def test_after_a_quiet_window_the_count_starts_again(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["api", "web", "cart"]):
        _fire(engine, config, T0 + timedelta(minutes=n), n, service=service)
    for n, service in enumerate(["api", "web", "cart"]):
        _resolve(engine, config, T0 + timedelta(minutes=5), n, service=service)
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(minutes=11), config)
    # 25 min later: nothing of the team in the window, the overflow quiet for longer.
    _fire(engine, config, T0 + timedelta(minutes=30), 3, service="search")
    titles = opened_titles(engine)
    assert titles[-1] == "HighErrorRate on search"
    assert titles.count("Ticket cap: more than 2 new incidents of team shop within 0:10:00") == 1
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(incidents.c.correlation_key, incidents.c.status)).all())
    assert statuses["storm|team=shop"] == "resolved", "it resolved with its last member"


def test_a_teams_own_cap_and_info_incidents(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    for n in range(5):  # growth's own cap is 5
        _fire(engine, config, T0 + timedelta(seconds=n), n, service="ads", cluster=f"c{n}")
    for n in range(5, 9):  # info is not counted, and files nothing
        _fire(engine, config, T0, n, service="api", severity="info", cluster=f"c{n}")
    _fire(engine, config, T0 + timedelta(minutes=1), 20, service="api")
    _fire(engine, config, T0 + timedelta(minutes=1), 21, service="web")
    titles = opened_titles(engine)
    assert len(titles) == 7 and not any(t.startswith("Ticket cap") for t in titles)


def test_off_by_default() -> None:
    assert parse_config_text("routes: [{name: default}]").correlation.ticket_cap.enabled is False


def _stream(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    now, lines = T0, []
    firing: set[str] = set()
    for n in range(40):
        now += timedelta(seconds=rng.choice((5, 20, 60, 200, 700)))
        service = rng.choice(["api", "web", "cart", "search", "ads"])
        resolving = service in firing and rng.random() < 0.4
        alert = am_alert(service=service, status="resolved" if resolving else "firing")
        (firing.discard if resolving else firing.add)(service)
        alert["fingerprint"] = service
        line = {
            "id": f"L{n:03d}",
            "source": "alertmanager",
            "received_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "headers": {"content-type": "application/json"},
            "body": am_payload(alert),
        }
        lines.append(json.dumps(line).encode())
    return lines


def test_the_cap_replays_the_same_at_every_batch_size() -> None:
    config = parse_config_text(CONFIG)
    capped = 0
    for seed in range(6):
        lines = _stream(seed)
        outputs = [
            json.dumps(replay(iter(lines), config, batch_size=b).output, sort_keys=True)
            for b in (1, 7, 200)
        ]
        assert outputs[0] == outputs[1] == outputs[2], f"seed {seed}"
        tickets = json.loads(outputs[0])["tickets"]
        capped += sum(t["title"].startswith("Ticket cap") for t in tickets)
    assert capped > 0, "the streams reach the cap"


def test_check_config_warns_of_a_cap_for_a_team_the_catalog_does_not_know() -> None:
    from autoticket.checks import check_config_text

    report = check_config_text(CONFIG.replace("teams: {growth: 5}", "teams: {grwth: 5}"), "c.yaml")
    assert report.errors == []
    [warning] = report.warnings
    assert warning.path == "correlation.ticket_cap.teams.grwth" and warning.line == 12
    assert "(did you mean 'growth'?)" in warning.message
