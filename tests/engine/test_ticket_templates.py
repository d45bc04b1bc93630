"""Ticket templates (`templates:`, a route's and a sink's `template`): sandboxed
Jinja2 over redacted data, cut to limits, and never the reason a ticket is lost:
a template that fails falls back to the default title and body, explained and
counted. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.checks import check_config_text
from autoticket.config import Config, parse_config_text
from autoticket.model import Delivery
from autoticket.store.tables import decisions, outbox
from conftest import am_alert, am_payload, process

CONFIG = """
templates:
  page:
    title: "[{{ priority }}] {{ service }}: {{ alertname }} ({{ alert_count }} alerts)"
    body: |
      {{ summary }}
      Team {{ team }}, on call {{ oncall or "nobody" }}; runbook {{ runbook or "none" }}
      {% for name, link in links | dictsort %}{{ name }}: {{ link }}
      {% endfor %}---
      {{ body }}
  short:
    title: "{{ service }} down"
    title_limit: 16
sinks:
  hook:
    type: webhook
    url: https://hooks.example.com/x
    secret_env: HOOK_SECRET
    template: short
catalog:
  services:
    checkout: {team: payments}
routes:
  - name: default
    template: page
    sinks: [builtin, hook]
"""
ENV = {"HOOK_SECRET": "s"}


def _file(engine: Engine, config: Config, t0: datetime, **annotations: str) -> dict[str, Any]:
    alert = am_alert()
    alert["annotations"] = {
        "summary": "Error rate above 5 %",
        "runbook_url": "https://runbooks.example/checkout",
        **annotations,
    }
    alert["generatorURL"] = "https://prometheus.example/graph?g0.expr=x"
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.sink, outbox.c.payload)).all()
    return {sink: dict(payload) for sink, payload in rows}


def _failures(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(decisions.c.inputs).where(decisions.c.outcome == "template failed")
        return [dict(i) for i in conn.execute(query).scalars()]


def test_a_route_template_and_a_sink_template_shape_the_ticket(
    engine: Engine, t0: datetime
) -> None:
    sent = _file(engine, parse_config_text(CONFIG), t0)
    builtin, hook = sent["builtin"], sent["hook"]
    assert builtin["title"] == "[P1] checkout: HighErrorRate (1 alerts)"
    lines = builtin["body"].splitlines()
    assert lines[:2] == [
        "Error rate above 5 %",
        "Team payments, on call nobody; runbook https://runbooks.example/checkout",
    ]
    assert "generator: https://prometheus.example/graph?g0.expr=x" in lines
    assert "Service: checkout (prod)" in builtin["body"]  # the default body, wrapped
    # The sink's own template: its title, cut to its limit; the route's body.
    assert hook["title"] == "checkout down"
    assert hook["body"] == builtin["body"]
    assert "per_sink" not in hook and "per_sink" not in builtin
    assert _failures(engine) == []


def test_alert_text_is_data_not_template(engine: Engine, t0: datetime) -> None:
    sent = _file(engine, parse_config_text(CONFIG), t0, summary="{{ 7 * 7 }} <b>x</b>")
    assert sent["builtin"]["body"].splitlines()[0] == "{{ 7 * 7 }} <b>x</b>"


@pytest.mark.parametrize(
    ("title", "error"),
    [
        ("{{ nosuchvariable }}", "'nosuchvariable' is undefined"),
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "SecurityError"),
        ("{{ title.format.__globals__ }}", "SecurityError"),
    ],
)
def test_a_failing_template_falls_back_to_the_default_and_says_so(
    engine: Engine, t0: datetime, title: str, error: str
) -> None:
    text = CONFIG.replace(
        'title: "[{{ priority }}] {{ service }}: {{ alertname }} ({{ alert_count }} alerts)"',
        f'title: "{title}"',
    )
    sent = _file(engine, parse_config_text(text), t0)
    assert sent["builtin"]["title"] == "Error rate above 5 %"  # the default: the summary
    assert sent["builtin"]["body"].startswith("Error rate above 5 %")  # the body still renders
    [failed] = _failures(engine)
    assert failed["template"] == "page" and error in failed["error"]
    assert "title" in failed["error"] and failed["fallback"] == "the default"


def test_what_renders_is_cut_to_the_limits(engine: Engine, t0: datetime) -> None:
    text = CONFIG.replace(
        "    title_limit: 16\n",
        "    title_limit: 16\n    body: '{{ \"x\" * 5000 }}'\n    body_limit: 300\n",
    )
    text = text.replace(
        'title: "{{ service }} down"', 'title: "{{ service }}\\n down and out, for a long while"'
    )
    hook = _file(engine, parse_config_text(text), t0)["hook"]
    assert len(hook["title"]) == 16 and hook["title"].endswith("…[cut]")
    assert "\n" not in hook["title"]
    assert len(hook["body"]) == 300 and hook["body"].endswith("…[cut]")


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ("{{ service ", "templates.page.title", "line 1 of the template"),
        ("{{ servise }}", "templates.page.title", "'servise' is undefined (the variables are:"),
    ],
)
def test_check_config_names_the_template_and_the_reason(
    change: str, path: str, message: str
) -> None:
    text = CONFIG.replace(
        '"[{{ priority }}] {{ service }}: {{ alertname }} ({{ alert_count }} alerts)"',
        f'"{change}"',
    )
    [problem] = check_config_text(text, "c.yaml", ENV).errors
    assert problem.path == path and message in problem.message and problem.line == 4


def test_check_config_names_unknown_templates() -> None:
    text = CONFIG.replace("    template: short", "    template: shrot").replace(
        "    template: page", "    template: pgae"
    )
    report = check_config_text(text, "c.yaml", ENV)
    problems = {p.path: (p.line, p.message) for p in report.errors}
    assert problems == {
        "sinks.hook.template": (19, "no template 'shrot' in templates: (page, short)"),
        "routes.0.template": (25, "no template 'pgae' in templates: (page, short)"),
    }
    assert check_config_text(CONFIG, "c.yaml", ENV).errors == []
