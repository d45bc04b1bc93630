"""Priority by severity x service tier (`priority_matrix`), under a route's own
`priorities` and over the top-level ones; growth climbs the same ladder."""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import Engine, select

from autoticket.checks import check_config_text
from autoticket.config import parse_config_text
from autoticket.model import Delivery
from autoticket.store.tables import outbox
from conftest import am_alert, am_payload, process

CONFIG = """
priorities: {critical: P1, high: P2, warning: P3, info: P4}
priority_matrix:
  1: {warning: P2}
  3: {critical: P2, warning: P5}
catalog:
  services:
    checkout: {team: shop, tier: 1}
    search: {team: find, tier: 3}
    ads: {team: ads}
routes:
  - name: quiet
    matchers: ['service="ads"']
    priorities: {critical: P4}
  - name: default
"""


def test_the_tier_row_decides_then_the_top_level_map() -> None:
    config = parse_config_text(CONFIG)
    route = config.route("default")
    assert config.priority_for(route, "warning", tier="1") == "P2"  # the row
    assert config.priority_for(route, "critical", tier="1") == "P1"  # not in the row
    assert config.priority_for(route, "critical", tier="3") == "P2"
    assert config.priority_for(route, "warning", tier="2") == "P3"  # no row for tier 2
    assert config.priority_for(route, "warning") == "P3"  # no tier
    assert config.priority_for(config.route("quiet"), "critical", tier="1") == "P4"  # the route's
    # Growth climbs P5 -> P4 -> P3: the ladder has the matrix's priorities too.
    assert config.priority_ladder(route, "3") == ["P1", "P2", "P3", "P4", "P5"]
    assert config.priority_for(route, "warning", alerts=10, tier="3") == "P4"
    assert config.priority_for(route, "warning", alerts=50, tier="3") == "P3"


def test_tickets_carry_the_priority_of_their_services_tier(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(CONFIG)
    alerts = [
        am_alert(service="checkout", severity="warning"),
        am_alert(service="search", severity="critical"),
        am_alert(service="ads", severity="critical"),
    ]
    with engine.begin() as conn:
        body = orjson.dumps(am_payload(*alerts))
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
    with engine.connect() as conn:
        payloads = conn.execute(select(outbox.c.payload)).scalars().all()
    assert sorted((p["title"], p["priority"]) for p in payloads) == [
        ("HighErrorRate on ads", "P4"),
        ("HighErrorRate on checkout", "P2"),
        ("HighErrorRate on search", "P2"),
    ]


def test_check_config_on_the_matrix() -> None:
    report = check_config_text(CONFIG.replace("  3: {", "  7: {"), "c.yaml")
    assert report.errors == []
    [warning] = report.warnings
    assert warning.path == "priority_matrix.7" and warning.line == 5
    assert "no catalog service has tier '7'" in warning.message
    # A route may use a priority only the matrix gives.
    assert (
        check_config_text(CONFIG.replace("critical: P4}", "critical: P5}"), "c.yaml").errors == []
    )
