"""CEL conditions: compile-time errors, evaluation results and evaluation errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.policy import CONDITION_VARIABLES, CelCondition, PolicyError, event_variables

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": "ev-1",
        "source": "alertmanager",
        "kind": EventKind.ALERT,
        "status": AlertStatus.FIRING,
        "occurred_at": T0,
        "received_at": T0,
        "title": "DiskFull on db-1",
        "severity": Severity.CRITICAL,
        "fingerprint": "fp",
        "raw_ref": "raw",
        "labels": {"alertname": "DiskFull", "service": "db", "env": "prod"},
        "annotations": {"summary": "disk is full"},
    }
    fields.update(overrides)
    return Event(**fields)


@pytest.mark.parametrize(
    ("source", "event_overrides", "expected"),
    [
        ("severity == 'critical'", {}, True),
        ("severity_level >= 3", {"severity": Severity.WARNING}, False),
        ("severity_level == 2", {"severity": Severity.WARNING}, True),
        ("labels.alertname == 'DiskFull' && source == 'alertmanager'", {}, True),
        ("labels['service'] == 'db'", {}, True),
        ("'runbook' in annotations", {}, False),
        ("annotations.summary.contains('full')", {}, True),
        ("kind == 'alert' && status == 'firing'", {}, True),
        ("status == 'resolved'", {"status": AlertStatus.RESOLVED}, True),
        ("title.startsWith('DiskFull')", {}, True),
        ("team == ''", {}, True),
        ("team == 'dba'", {"team": "dba"}, True),
        ("team == 'fromlabel'", {"labels": {"team": "fromlabel"}}, True),
        ("service == 'db' && environment == 'prod'", {}, True),
        ("service == '' && environment == 'default'", {"labels": {}}, True),
        ("labels.exists(k, k.startsWith('alert'))", {}, True),
        ("labels.service.matches('^d.$')", {}, True),
        ("has(labels.missing) && labels.missing == 'x'", {}, False),
    ],
)
def test_evaluate(source: str, event_overrides: dict[str, Any], expected: bool) -> None:
    result = CelCondition(source).evaluate(make_event(**event_overrides))
    assert result.matched is expected
    assert result.reason == ("condition is true" if expected else "condition is false")


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("labels.missing == 'x'", ["no such key 'missing'", "(no match)", "'missing' in labels"]),
        ("severity", ["returned str 'critical', not a bool"]),
        ("severity_level", ["returned int 4, not a bool"]),
        ("severity_level + 1.5 > 2.0", ["condition failed (no match)", "No such overload"]),
        ("1 / (severity_level - 4) == 0", ["division by zero"]),
        # A regex built at run time (a literal one is checked at compile time).
        ("labels.service.matches(labels.service + '(')", ["not a valid regex"]),
    ],
)
def test_evaluation_errors_are_no_match_with_reason(source: str, fragments: list[str]) -> None:
    result = CelCondition(source).evaluate(make_event())
    assert result.matched is False
    for fragment in fragments:
        assert fragment in result.reason


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("severity ==", ["invalid CEL condition", "Syntax error"]),
        ("", ["invalid CEL condition"]),
        ("labels.team == 'x' &&& true", ["invalid CEL condition"]),
        ("lables.team == 'db'", ["unknown variable 'lables'", "did you mean 'labels'?"]),
        ("nope == 1", ["unknown variable 'nope'", "known variables: labels, annotations"]),
        ("labels.service.matches('(')", ["invalid regex '(' in condition", "unclosed group"]),
    ],
)
def test_compile_errors(source: str, fragments: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        CelCondition(source)
    assert info.value.field == "condition"
    for fragment in fragments:
        assert fragment in info.value.reason


@pytest.mark.parametrize(
    "source",
    [
        "[1, 2].all(x, x > 0)",
        "labels.exists(k, k == 'service')",
        "type(labels) == map",
        "string(severity_level) == '4'",
    ],
)
def test_macro_binders_and_type_names_are_not_unknown_variables(source: str) -> None:
    assert CelCondition(source).evaluate(make_event()).matched is True


def test_event_variables_cover_every_condition_variable() -> None:
    values = event_variables(make_event(team="dba"))
    assert set(values) == set(CONDITION_VARIABLES)
    assert values["severity"] == "critical"
    assert values["severity_level"] == 4
    assert values["team"] == "dba"
    assert values["kind"] == "alert"
    assert values["status"] == "firing"
