"""Inhibition rules (`inhibit_rules:`), Alertmanager's semantics: while a source
alert fires, a new incident whose alert matches the target side with equal values
of the `equal` labels is related to the source's incident and files no ticket;
that incident stays open while it fires. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.checks import check_config_text
from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.store.tables import events, incidents, inhibit_sources, timeline
from conftest import am_alert, am_payload, opened_titles, process

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
correlation: {storm: {enabled: false}}
inhibit_rules:
  - name: node-down
    source_matchers: ['alertname="NodeDown"']
    target_matchers: ['severity=~"warning|critical"']
    equal: [cluster, node]
routes:
  - name: default
"""


def _send(engine: Engine, config: Config, at: datetime, status: str, **labels: str) -> str:
    alert = am_alert(status=status, **labels)
    alert["fingerprint"] = orjson.dumps(sorted(labels.items())).hex()[-16:]
    delivery_id = f"d{at.timestamp():.0f}-{labels.get('alertname')}-{status}"
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(delivery_id, "alertmanager", at, body, {})], at)
    return delivery_id


def _node_down(engine: Engine, config: Config, at: datetime, status: str = "firing") -> str:
    return _send(
        engine, config, at, status, alertname="NodeDown", service="nodes", cluster="eu-1", node="n1"
    )


def _incident(engine: Engine, key_part: str) -> Any:
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    [row] = [r for r in rows if key_part in r.correlation_key]
    return row


def test_a_target_alert_under_a_firing_source_is_related_to_its_incident(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _node_down(engine, config, t0)
    target = _send(
        engine,
        config,
        t0 + timedelta(minutes=1),
        "firing",
        alertname="HighLatencyP99",
        severity="warning",
        cluster="eu-1",
        node="n1",
    )
    assert opened_titles(engine) == ["NodeDown on nodes"]
    source, checkout = _incident(engine, "service=nodes"), _incident(engine, "service=checkout")
    assert checkout.parent_id == source.id and checkout.held == f"related to {source.id}"
    with engine.connect() as conn:
        [decisions] = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == target)
        ).scalars()
        attached = conn.execute(
            select(timeline.c.message).where(
                timeline.c.incident_id == source.id, timeline.c.kind == "related_attached"
            )
        ).scalar_one()
    [inhibited] = [d for d in decisions if d["outcome"] == "inhibited"]
    assert inhibited["inputs"]["mechanism"] == "inhibit"
    assert inhibited["inputs"]["rule"] == "node-down"
    assert inhibited["inputs"]["source_alert"] == "NodeDown on nodes"
    assert inhibited["inputs"]["equal"] == ["cluster", "node"]
    assert "inhibited by rule node-down: 'NodeDown on nodes' fires" in attached


def test_other_equal_values_a_resolved_source_or_no_target_match_file_tickets(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _node_down(engine, config, t0)
    at = t0 + timedelta(minutes=1)
    _send(engine, config, at, "firing", alertname="A", service="a", cluster="eu-1", node="n2")
    _send(engine, config, at, "firing", alertname="B", service="b", severity="info", node="n1")
    _node_down(engine, config, t0 + timedelta(minutes=2), "resolved")
    with engine.connect() as conn:
        assert conn.execute(select(inhibit_sources)).all() == []
    _send(
        engine,
        config,
        t0 + timedelta(minutes=3),
        "firing",
        alertname="C",
        service="c",
        cluster="eu-1",
        node="n1",
    )
    assert opened_titles(engine) == ["NodeDown on nodes", "A on a", "C on c"]  # B is info: held


def test_the_source_incident_stays_open_while_an_inhibited_alert_fires(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _node_down(engine, config, t0)
    labels = {"alertname": "Lat", "service": "checkout", "cluster": "eu-1", "node": "n1"}
    _send(engine, config, t0 + timedelta(minutes=1), "firing", **labels)
    _node_down(engine, config, t0 + timedelta(minutes=2), "resolved")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=8), config)
    assert _incident(engine, "service=nodes").status == "open"
    _send(engine, config, t0 + timedelta(minutes=10), "resolved", **labels)
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=16), config)
    source, target = _incident(engine, "service=nodes"), _incident(engine, "service=checkout")
    assert (source.status, target.status) == ("resolved", "resolved")
    assert source.resolved_at == t0 + timedelta(minutes=15)
    assert opened_titles(engine) == ["NodeDown on nodes"]


def test_an_alert_on_both_sides_is_not_inhibited_by_another_on_both_sides(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(
        CONFIG.replace('alertname="NodeDown"', 'severity="critical"').replace(
            "equal: [cluster, node]", "equal: [cluster]"
        )
    )
    at = t0 + timedelta(minutes=1)
    _send(engine, config, t0, "firing", alertname="X", service="x", cluster="eu-1")
    _send(engine, config, at, "firing", alertname="Y", service="y", cluster="eu-1")
    _send(
        engine, config, at, "firing", alertname="Z", service="z", severity="warning", cluster="eu-1"
    )
    assert opened_titles(engine) == ["X on x", "Y on y"]  # Z (warning, a target only) is inhibited
    assert _incident(engine, "service=z").parent_id == _incident(engine, "service=x").id


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            "{source_matchers: [], target_matchers: ['a=\"b\"']}",
            "inhibit_rules.0.source_matchers",
            "at least one matcher",
        ),
        (
            "{source_matchers: ['a'], target_matchers: ['a=\"b\"']}",
            "inhibit_rules.0.source_matchers.0",
            "invalid matcher",
        ),
        (
            "{source_matchers: ['a=\"b\"'], target_matchers: ['a=~\"((\"']}",
            "inhibit_rules.0.target_matchers.0",
            "invalid regex",
        ),
        (
            "{source_matchers: ['a=\"b\"'], target_matchers: ['c=\"d\"'], equal: ['no-dash']}",
            "inhibit_rules.0.equal.0",
            "pattern",
        ),
    ],
)
def test_config_errors_name_the_field_and_line(rule: str, path: str, message: str) -> None:
    report = check_config_text(
        f"routes: [{{name: default}}]\ninhibit_rules:\n  - {rule}\n", "c.yaml"
    )
    [problem] = report.errors
    assert problem.path == path and message in problem.message and problem.line == 3


def test_rule_names_are_unique() -> None:
    rule = "{name: r, source_matchers: ['a=\"b\"'], target_matchers: ['c=\"d\"']}"
    text = f"routes: [{{name: default}}]\ninhibit_rules:\n  - {rule}\n  - {rule}\n"
    [problem] = check_config_text(text, "c.yaml").errors
    assert problem.path == "inhibit_rules.1.name" and problem.line == 4
