"""Route compilation, first-match order, derived fields and explanations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoticket.config import Config, RouteConfig
from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.policy import PolicyError, RouteTable, compile_route

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": "ev-1",
        "source": "alertmanager",
        "kind": EventKind.ALERT,
        "status": AlertStatus.FIRING,
        "occurred_at": T0,
        "received_at": T0,
        "title": "t",
        "severity": Severity.WARNING,
        "fingerprint": "fp",
        "raw_ref": "raw",
        "labels": {"alertname": "DiskFull", "service": "db"},
    }
    fields.update(overrides)
    return Event(**fields)


ROUTES = [
    RouteConfig(name="noise", matchers=['alertname=~"Watchdog|InfoInhibitor"'], action="ignore"),
    RouteConfig(name="db-critical", matchers=['team="db"', 'severity="critical"']),
    RouteConfig(
        name="prod-only", matchers=['{env="prod", service!=""}'], condition="severity_level >= 3"
    ),
    RouteConfig(name="deploys", matchers=['kind="deploy"']),
    RouteConfig(name="default"),
]
TABLE = RouteTable.from_config(Config(routes=ROUTES))


@pytest.mark.parametrize(
    ("overrides", "route", "n_checked"),
    [
        ({"labels": {"alertname": "Watchdog"}}, "noise", 0),
        ({"labels": {"alertname": "Watchdogs"}}, "default", 4),
        ({"team": "db", "severity": Severity.CRITICAL}, "db-critical", 1),
        # team falls back to the label when event.team is unset ...
        ({"labels": {"team": "db"}, "severity": Severity.CRITICAL}, "db-critical", 1),
        # ... and event.team overrides the label.
        ({"team": "web", "labels": {"team": "db"}, "severity": Severity.CRITICAL}, "default", 4),
        # A `severity` label is overridden by the normalized severity.
        ({"labels": {"team": "db", "severity": "critical"}}, "default", 4),
        ({"labels": {"env": "prod", "service": "api"}, "severity": Severity.HIGH}, "prod-only", 2),
        ({"labels": {"env": "prod", "service": "api"}}, "default", 4),
        ({"labels": {"env": "prod"}, "severity": Severity.HIGH}, "default", 4),
        ({"kind": EventKind.DEPLOY, "labels": {"kind": "alert"}}, "deploys", 3),
        # First match wins: a critical db prod alert is db-critical, not prod-only.
        (
            {"team": "db", "severity": Severity.CRITICAL, "labels": {"env": "prod"}},
            "db-critical",
            1,
        ),
    ],
)
def test_first_match_wins(overrides: dict[str, Any], route: str, n_checked: int) -> None:
    found = TABLE.match(make_event(**overrides))
    assert found is not None
    assert found.route.name == route
    assert len(found.checked) == n_checked


@pytest.mark.parametrize(
    ("overrides", "reason", "checked"),
    [
        (
            {"team": "db", "severity": Severity.CRITICAL},
            'route \'db-critical\' matched: matchers team="db", severity="critical"',
            ['noise: alertname=~"Watchdog|InfoInhibitor" did not match (got "DiskFull")'],
        ),
        (
            {"labels": {"env": "prod", "service": "api"}, "severity": Severity.HIGH},
            'route \'prod-only\' matched: matchers env="prod", service!="" (got "api") '
            "and condition `severity_level >= 3` is true",
            [
                'noise: alertname=~"Watchdog|InfoInhibitor" did not match (label absent or empty)',
                'db-critical: team="db" did not match (label absent or empty)',
            ],
        ),
        (
            {"labels": {"env": "prod", "service": "api"}},
            "route 'default' matches every event (no matchers, no condition)",
            [
                'noise: alertname=~"Watchdog|InfoInhibitor" did not match (label absent or empty)',
                'db-critical: team="db" did not match (label absent or empty)',
                "prod-only: condition is false",
                'deploys: kind="deploy" did not match (got "alert")',
            ],
        ),
    ],
)
def test_explanations(overrides: dict[str, Any], reason: str, checked: list[str]) -> None:
    found = TABLE.match(make_event(**overrides))
    assert found is not None
    assert found.reason == reason
    assert found.checked == checked


def test_no_route_matches_and_evaluate_explains_why() -> None:
    table = RouteTable.from_config(
        Config(
            routes=[
                RouteConfig(name="a", matchers=['service="api"']),
                RouteConfig(name="b", condition="labels.owner == 'x'"),
            ]
        )
    )
    event = make_event()
    assert table.match(event) is None
    found, checked = table.evaluate(event)
    assert found is None
    assert checked[0] == 'a: service="api" did not match (got "db")'
    assert checked[1].startswith("b: condition failed (no match): no such key 'owner'")


def test_condition_only_route_reason() -> None:
    table = RouteTable.from_config(Config(routes=[RouteConfig(name="c", condition="true")]))
    found = table.match(make_event())
    assert found is not None
    assert found.reason == "route 'c' matched: condition `true` is true"


def test_empty_table_matches_nothing() -> None:
    table = RouteTable([])
    assert len(table) == 0
    assert table.evaluate(make_event()) == (None, [])


@pytest.mark.parametrize(
    ("route", "field", "fragment"),
    [
        (
            RouteConfig(name="r", matchers=['a="b"', 'sev=="x"']),
            "matchers.1",
            "invalid matcher 'sev==\"x\"'",
        ),
        (RouteConfig(name="r", matchers=['a=~"("']), "matchers.0", "invalid regex in"),
        (RouteConfig(name="r", condition="severity =="), "condition", "invalid CEL condition"),
        (
            RouteConfig(name="r", condition="sevrity == 'x'"),
            "condition",
            "unknown variable 'sevrity'",
        ),
    ],
)
def test_compile_route_errors(route: RouteConfig, field: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        compile_route(route)
    assert info.value.field == field
    assert fragment in info.value.reason
    assert str(info.value).startswith(f"{field}: ")


def test_from_config_prefixes_route_path() -> None:
    config = Config.model_construct(
        routes=[
            RouteConfig(name="ok"),
            RouteConfig(name="bad", matchers=["x"]),
        ]
    )
    with pytest.raises(PolicyError) as info:
        RouteTable.from_config(config)
    assert info.value.field == "routes.1.matchers.0"
    assert info.value.reason.startswith("route 'bad': invalid matcher 'x'")


def test_compiled_route_exposes_parts() -> None:
    compiled = compile_route(RouteConfig(name="r", matchers=['{a="1", b=~"2"}'], condition="true"))
    assert compiled.name == "r"
    assert [str(m) for m in compiled.matchers] == ['a="1"', 'b=~"2"']
    assert compiled.condition is not None and compiled.condition.source == "true"
