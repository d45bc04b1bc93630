"""Alertmanager webhook adapter: shapes, times, severities, fingerprints, fuzz."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources import AlertmanagerSource

RECEIVED = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
SOURCE = AlertmanagerSource()
EXAMPLE: dict[str, Any] = json.loads(
    (resources.files("autoticket") / "examples" / "payloads" / "alertmanager.json").read_text()
)

_DROP = object()  # an override value meaning "remove this key"


def alert(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
        "annotations": {"summary": "Disk full on db-1"},
        "startsAt": "2024-05-14T09:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "abcdef0123456789",
    }
    for key, value in overrides.items():
        if value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def group(*alerts: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "autoticket",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) if alerts else [alert()],
    }
    for key, value in overrides.items():
        if value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def parse(payload: Any, delivery_id: str = "d1") -> list[Event]:
    return SOURCE.parse(payload, {}, delivery_id=delivery_id, received_at=RECEIVED)


def one(**alert_overrides: Any) -> Event:
    (event,) = parse(group(alert(**alert_overrides)))
    return event


# --- shape errors -----------------------------------------------------------

BAD_SHAPES: list[tuple[str, Any, str, str]] = [
    ("not an object", [], "body", "expected a JSON object, got array"),
    ("string body", "hi", "body", "got string"),
    ("no alerts", group(alerts=_DROP), "alerts", "required field is missing"),
    ("alerts object", group(alerts={}), "alerts", "expected an array, got object"),
    ("alerts null", group(alerts=None), "alerts", "got null"),
    ("alert not object", group(alerts=[alert(), 7]), "alerts[1]", "expected an object, got number"),
    ("labels missing", group(alert(labels=_DROP)), "alerts[0].labels", "required"),
    ("labels null", group(alert(labels=None)), "alerts[0].labels", "got null"),
    ("labels array", group(alert(labels=["a"])), "alerts[0].labels", "strings, got array"),
    (
        "label value not string",
        group(alert(), alert(), alert(labels={"alertname": "X", "severity": 3})),
        "alerts[2].labels.severity",
        "expected a string, got number",
    ),
    (
        "annotation value null",
        group(alert(annotations={"summary": None})),
        "alerts[0].annotations.summary",
        "got null",
    ),
    ("annotations string", group(alert(annotations="x")), "alerts[0].annotations", "got string"),
    ("unknown status", group(alert(status="pending")), "alerts[0].status", "'pending'"),
    ("status number", group(alert(status=1)), "alerts[0].status", "got number"),
    (
        "no status anywhere",
        group(alert(status=_DROP), status=_DROP),
        "alerts[0].status",
        "required field is missing",
    ),
    ("bad group status", group(status="FIRING"), "status", "expected 'firing' or 'resolved'"),
    ("startsAt prose", group(alert(startsAt="yesterday")), "alerts[0].startsAt", "RFC 3339"),
    (
        "startsAt one digit short",
        group(alert(startsAt="2024-05-14T09:00:0Z")),
        "alerts[0].startsAt",
        "RFC 3339",
    ),
    ("startsAt epoch", group(alert(startsAt=1715677200)), "alerts[0].startsAt", "got number"),
    (
        "endsAt without offset",
        group(alert(endsAt="2024-05-14T10:00:00")),
        "alerts[0].endsAt",
        "missing UTC offset",
    ),
    (
        "endsAt out of range",
        group(alert(endsAt="2024-02-30T10:00:00Z")),
        "alerts[0].endsAt",
        "out of range",
    ),
    ("generatorURL number", group(alert(generatorURL=5)), "alerts[0].generatorURL", "string"),
    ("fingerprint array", group(alert(fingerprint=[])), "alerts[0].fingerprint", "got array"),
    ("truncated negative", group(truncatedAlerts=-1), "truncatedAlerts", "non-negative integer"),
    ("truncated string", group(truncatedAlerts="0"), "truncatedAlerts", "non-negative integer"),
    ("truncated bool", group(truncatedAlerts=True), "truncatedAlerts", "non-negative integer"),
    ("truncated float", group(truncatedAlerts=1.0), "truncatedAlerts", "non-negative integer"),
    ("version number", group(version=4), "version", "expected a string, got number"),
    ("groupKey number", group(groupKey=1), "groupKey", "expected a string"),
    ("receiver object", group(receiver={}), "receiver", "got object"),
    ("externalURL bool", group(externalURL=False), "externalURL", "got boolean"),
    ("groupLabels string", group(groupLabels="x"), "groupLabels", "got string"),
    ("commonLabels value", group(commonLabels={"a": 1}), "commonLabels.a", "got number"),
    ("commonAnnotations", group(commonAnnotations={"a": []}), "commonAnnotations.a", "got array"),
]


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [case[1:] for case in BAD_SHAPES],
    ids=[case[0] for case in BAD_SHAPES],
)
def test_bad_shapes_name_field_and_reason(payload: Any, field: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert info.value.field == field
    assert fragment in info.value.reason
    assert info.value.status == 422


LIBERAL: list[tuple[str, Any, int]] = [
    ("empty alerts", group(alerts=[]), 0),
    ("bare minimum", {"alerts": [{"status": "firing", "labels": {"alertname": "A"}}]}, 1),
    ("annotations missing", group(alert(annotations=_DROP)), 1),
    ("annotations null", group(alert(annotations=None)), 1),
    ("null group maps", group(groupLabels=None, commonLabels=None, commonAnnotations=None), 1),
    ("status from group", group(alert(status=_DROP), status="resolved"), 1),
    ("grafana-style extras", group(orgId=1, title="[FIRING:1]", state="alerting"), 1),
    ("other version", group(version="1"), 1),
    ("no optional top-level", {"alerts": [alert()]}, 1),
    ("extra alert fields", group(alert(silenceURL="http://x", values={"B": 1.5})), 1),
    ("empty labels", group(alert(labels={})), 1),
]


@pytest.mark.parametrize(
    ("payload", "count"), [c[1:] for c in LIBERAL], ids=[c[0] for c in LIBERAL]
)
def test_liberal_where_alertmanager_is(payload: Any, count: int) -> None:
    assert len(parse(payload)) == count


def test_alert_status_falls_back_to_group_status() -> None:
    (event,) = parse(group(alert(status=_DROP), status="resolved"))
    assert event.status is AlertStatus.RESOLVED


# --- mapping ----------------------------------------------------------------


def test_every_alert_becomes_one_event_in_order() -> None:
    names = ["A", "B", "C"]
    payload = group(*(alert(labels={"alertname": n}, annotations={}) for n in names))
    events = parse(payload, delivery_id="dlv-7")
    assert [e.id for e in events] == ["dlv-7-0", "dlv-7-1", "dlv-7-2"]
    assert [e.title for e in events] == names
    for e in events:
        assert e.source == "alertmanager"
        assert e.kind is EventKind.ALERT
        assert e.raw_ref == "dlv-7"
        assert e.received_at == RECEIVED


def test_fields_of_a_full_alert() -> None:
    event = one(
        annotations={
            "summary": "Disk full on db-1",
            "description": "95% used",
            "runbook_url": "https://runbooks/disk",
        }
    )
    assert event.title == "Disk full on db-1"
    assert event.description == "95% used"
    assert event.severity is Severity.CRITICAL
    assert event.labels == alert()["labels"]
    assert event.annotations["runbook_url"] == "https://runbooks/disk"
    assert event.links == {
        "generator": "http://prometheus:9090/graph",
        "runbook": "https://runbooks/disk",
        "alertmanager": "http://alertmanager:9093",
    }
    assert event.source_meta == {
        "group_key": '{}:{alertname="DiskFull"}',
        "receiver": "autoticket",
        "external_url": "http://alertmanager:9093",
        "am_fingerprint": "abcdef0123456789",
        "truncated_alerts": "0",
    }


def test_meta_and_links_only_where_present() -> None:
    payload = {"alerts": [alert(generatorURL="", fingerprint=_DROP, annotations={})]}
    (event,) = parse(payload)
    assert event.links == {}
    assert event.source_meta == {}


@pytest.mark.parametrize(
    ("annotations", "labels", "title", "description"),
    [
        ({"summary": "S", "description": "D", "message": "M"}, {"alertname": "A"}, "S", "D"),
        ({"message": "M"}, {"alertname": "A"}, "A", "M"),
        ({"summary": "", "description": ""}, {"alertname": "A"}, "A", ""),
        ({}, {"job": "x"}, "alert", ""),
        (None, {"alertname": ""}, "alert", ""),
    ],
)
def test_title_and_description_fallbacks(
    annotations: Any, labels: dict[str, str], title: str, description: str
) -> None:
    event = one(annotations=annotations, labels=labels)
    assert (event.title, event.description) == (title, description)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("CRITICAL", Severity.CRITICAL),
        (" page ", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("major", Severity.HIGH),
        ("warning", Severity.WARNING),
        ("warn", Severity.WARNING),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("sev-unknown", Severity.WARNING),
        ("", Severity.WARNING),
        (None, Severity.WARNING),
    ],
)
def test_severity_mapping(value: str | None, expected: Severity) -> None:
    labels = {"alertname": "A"} if value is None else {"alertname": "A", "severity": value}
    assert one(labels=labels).severity is expected


# --- times ------------------------------------------------------------------

T0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 14, 9, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "starts", "ends", "occurred", "ends_at"),
    [
        ("firing", "2024-05-14T09:00:00Z", "0001-01-01T00:00:00Z", T0, None),
        ("firing", "2024-05-14T11:00:00+02:00", _DROP, T0, None),
        ("firing", "2024-05-14T09:00:00+00:00", _DROP, T0, None),
        ("firing", "2024-05-14T09:00:00-00:00", _DROP, T0, None),
        ("firing", "2024-05-14T09:00:00Z", "2024-05-14T09:20:00Z", T0, T1),
        ("firing", _DROP, _DROP, RECEIVED, None),
        ("firing", "0001-01-01T00:00:00Z", None, RECEIVED, None),
        ("resolved", "2024-05-14T09:00:00Z", "2024-05-14T09:20:00Z", T1, T1),
        ("resolved", "2024-05-14T09:00:00Z", "0001-01-01T00:00:00Z", T0, None),
        ("resolved", _DROP, "", RECEIVED, None),
        ("resolved", _DROP, "2024-05-14T05:20:00-04:00", T1, T1),
    ],
)
def test_occurred_at_and_ends_at(
    status: str, starts: Any, ends: Any, occurred: datetime, ends_at: datetime | None
) -> None:
    event = one(status=status, startsAt=starts, endsAt=ends)
    assert event.status == AlertStatus(status)
    assert event.occurred_at == occurred
    assert event.occurred_at.tzinfo is UTC
    assert event.ends_at == ends_at


def test_nanosecond_fractions_are_trimmed_to_microseconds() -> None:
    event = one(startsAt="2024-01-01T00:00:00.123456789Z")
    assert event.occurred_at == datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)


def test_go_zero_ends_at_is_unset() -> None:
    assert one(endsAt="0001-01-01T00:00:00Z").ends_at is None


def test_resolved_alert() -> None:
    event = one(status="resolved", endsAt="2024-05-14T09:20:00.5Z")
    assert event.status is AlertStatus.RESOLVED
    assert event.ends_at == datetime(2024, 5, 14, 9, 20, 0, 500000, tzinfo=UTC)
    assert event.occurred_at == event.ends_at


# --- fingerprints -----------------------------------------------------------


def test_fingerprint_is_source_and_labels() -> None:
    event = one()
    assert event.fingerprint == fingerprint_of("alertmanager", event.labels)
    assert event.fingerprint != "abcdef0123456789"  # Alertmanager's own goes to source_meta


def test_fingerprint_ignores_label_order() -> None:
    labels = {"alertname": "A", "b": "2", "c": "3"}
    reversed_labels = dict(reversed(list(labels.items())))
    assert one(labels=labels).fingerprint == one(labels=reversed_labels).fingerprint


def test_fingerprint_stable_across_status_annotations_and_times() -> None:
    firing = one(annotations={"summary": "one"})
    resolved = one(status="resolved", annotations={"summary": "two"}, startsAt=_DROP)
    assert firing.fingerprint == resolved.fingerprint


def test_fingerprint_changes_with_labels() -> None:
    a = one(labels={"alertname": "A", "instance": "x"})
    b = one(labels={"alertname": "A", "instance": "y"})
    assert a.fingerprint != b.fingerprint


def test_ha_pair_agrees_on_fingerprints() -> None:
    first = copy.deepcopy(EXAMPLE)
    second = copy.deepcopy(EXAMPLE)
    second["externalURL"] = "http://alertmanager-1.example.com:9093"
    second["receiver"] = "autoticket-replica"
    second["groupKey"] = "other"
    for item in second["alerts"]:
        item["fingerprint"] = "0000000000000000"
        item["labels"] = dict(sorted(item["labels"].items(), reverse=True))
    a = parse(first, delivery_id="from-am-0")
    b = parse(second, delivery_id="from-am-1")
    assert [e.fingerprint for e in a] == [e.fingerprint for e in b]
    assert len({e.fingerprint for e in a}) == len(a)


def test_labels_are_copied_not_aliased() -> None:
    payload = group()
    (event,) = parse(payload)
    event.labels["team"] = "x"
    event.annotations["x"] = "y"
    assert "team" not in payload["alerts"][0]["labels"]
    assert "x" not in payload["alerts"][0]["annotations"]


# --- fuzz -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    ["alerts", "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
     "fingerprint", "version", "groupKey", "truncatedAlerts", "receiver", "externalURL",
     "groupLabels", "commonLabels", "commonAnnotations", "severity", "summary"]
)  # fmt: skip
SHAPED = st.recursive(
    st.none()
    | st.text(max_size=30)
    | st.sampled_from(["firing", "resolved", "2024-05-14T09:00:00Z", "0001-01-01T00:00:00Z"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(FIELD_NAMES, children, max_size=6)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


EXAMPLE_PATHS = _paths(EXAMPLE)


@st.composite
def mutated_example(draw: st.DrawFn) -> Any:
    payload = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS))
        if not path:
            return draw(JSON)
        parent: Any = payload
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON | SHAPED)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return payload


def _parse_or_payload_error(payload: Any) -> None:
    try:
        events = parse(payload)
    except PayloadError as exc:
        assert exc.field
        assert exc.reason
        assert exc.status == 422
    else:
        assert all(isinstance(e, Event) for e in events)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, SHAPED, mutated_example(), st.builds(lambda a: {"alerts": a}, SHAPED)))
def test_fuzz_parse_returns_events_or_payload_error(payload: Any) -> None:
    _parse_or_payload_error(payload)
