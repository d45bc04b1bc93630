"""Generic JSON adapter: the documented schema, its errors, fingerprints, fuzz."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources import MAX_EVENTS, GenericSource
from autoticket.sources.generic import EVENT_FIELDS

RECEIVED = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
SOURCE = GenericSource()
EXAMPLE: dict[str, Any] = json.loads(
    (resources.files("autoticket") / "examples" / "payloads" / "generic.json").read_text()
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources" / "generic.md"


def parse(payload: Any, delivery_id: str = "d1") -> list[Event]:
    return SOURCE.parse(payload, {}, delivery_id=delivery_id, received_at=RECEIVED)


def one(**fields: Any) -> Event:
    (event,) = parse({"title": "Backup failed", **fields})
    return event


# --- shape errors -----------------------------------------------------------

T = {"title": "t"}

BAD_SHAPES: list[tuple[str, Any, str, str]] = [
    ("array body", [T], "body", 'one event, or {"events": [...]}'),
    ("string body", "t", "body", "got string"),
    ("no title", {}, "title", "required field is missing"),
    ("null title", {"title": None}, "title", "required field is missing"),
    ("empty title", {"title": ""}, "title", "must not be empty"),
    ("blank title", {"title": "  \n"}, "title", "must not be empty"),
    ("title number", {"title": 5}, "title", "expected a string, got number"),
    ("unknown severity", {**T, "severity": "urgent"}, "severity", "unknown severity 'urgent'"),
    ("severity lists known", {**T, "severity": "urgent"}, "severity", "known: "),
    ("long severity", {**T, "severity": "x" * 500}, "severity", "known: "),
    ("severity number", {**T, "severity": 1}, "severity", "expected a string, got number"),
    ("unknown status", {**T, "status": "pending"}, "status", "unknown status 'pending'"),
    ("status bool", {**T, "status": True}, "status", "got boolean"),
    ("labels array", {**T, "labels": []}, "labels", "expected an object of strings"),
    ("label number", {**T, "labels": {"a": "x", "b": 1}}, "labels.b", "got number"),
    ("annotation null", {**T, "annotations": {"a": None}}, "annotations.a", "got null"),
    ("links string", {**T, "links": "http://x"}, "links", "got string"),
    ("link object", {**T, "links": {"x": {}}}, "links.x", "got object"),
    ("description number", {**T, "description": 1}, "description", "expected a string"),
    ("service empty", {**T, "service": ""}, "service", "must not be empty"),
    ("service number", {**T, "service": 1}, "service", "expected a string"),
    ("environment list", {**T, "environment": ["prod"]}, "environment", "got array"),
    (
        "service conflicts",
        {**T, "service": "a", "labels": {"service": "b"}},
        "service",
        "conflicts with labels.service",
    ),
    ("occurred_at date", {**T, "occurred_at": "2024-05-14"}, "occurred_at", "RFC 3339"),
    (
        "occurred_at no offset",
        {**T, "occurred_at": "2024-05-14T09:00:00"},
        "occurred_at",
        "missing UTC offset",
    ),
    ("occurred_at epoch", {**T, "occurred_at": 1715677200}, "occurred_at", "got number"),
    ("fingerprint empty", {**T, "fingerprint": ""}, "fingerprint", "must not be empty"),
    ("fingerprint number", {**T, "fingerprint": 7}, "fingerprint", "expected a string"),
    ("events object, no title", {"events": {}}, "title", "nothing usable"),
    ("empty object", {}, "title", "give a title (or one of summary, message"),
    ("event not object", {"events": [T, 3]}, "events[1]", "expected an event object"),
    ("event bad field", {"events": [T, {"title": ""}]}, "events[1].title", "must not be empty"),
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


def test_too_many_events_is_413() -> None:
    with pytest.raises(PayloadError) as info:
        parse({"events": [T] * (MAX_EVENTS + 1)})
    assert info.value.field == "events"
    assert info.value.status == 413
    assert str(MAX_EVENTS) in info.value.reason


def test_max_events_accepted() -> None:
    events = parse({"events": [T] * MAX_EVENTS})
    assert len(events) == MAX_EVENTS
    assert events[-1].id == f"d1-{MAX_EVENTS - 1}"


def test_empty_batch_is_zero_events() -> None:
    assert parse({"events": []}) == []


# --- mapping ----------------------------------------------------------------


def test_defaults_of_a_minimal_event() -> None:
    event = one()
    assert event.id == "d1-0"
    assert event.source == "generic"
    assert event.kind is EventKind.ALERT
    assert event.raw_ref == "d1"
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.WARNING
    assert event.occurred_at == RECEIVED
    assert event.received_at == RECEIVED
    assert event.ends_at is None
    assert event.description == ""
    # the title stands in for alertname: it names the alert and its group
    assert event.labels == {"alertname": "Backup failed"}
    assert (event.annotations, event.links, event.source_meta) == ({}, {}, {})


def test_null_means_not_given() -> None:
    nulls = dict.fromkeys(
        ["severity", "service", "environment", "status", "labels", "annotations",
         "description", "occurred_at", "fingerprint", "links"]
    )  # fmt: skip
    assert one(**nulls) == one()


def test_all_fields() -> None:
    event = one(
        severity="sev1",
        service="orders",
        environment="prod",
        status="firing",
        labels={"team": "data"},
        annotations={"log": "x"},
        description="pg_dump failed",
        occurred_at="2024-05-14T02:00:00+02:00",
        fingerprint="backup:orders",
        links={"logs": "https://ci/1"},
    )
    assert event.title == "Backup failed"
    assert event.severity is Severity.CRITICAL
    assert event.labels == {
        "team": "data",
        "service": "orders",
        "environment": "prod",
        "alertname": "Backup failed",
    }
    assert event.service == "orders"
    assert event.environment == "prod"
    assert event.annotations == {"log": "x"}
    assert event.description == "pg_dump failed"
    assert event.occurred_at == datetime(2024, 5, 14, 0, 0, tzinfo=UTC)
    assert event.fingerprint == "generic:backup:orders"
    assert event.links == {"logs": "https://ci/1"}


def test_service_equal_to_label_is_fine() -> None:
    event = one(service="a", labels={"service": "a"})
    assert event.labels == {"service": "a", "alertname": "Backup failed"}


def test_resolved_sets_ends_at() -> None:
    event = one(status="resolved", occurred_at="2024-05-14T09:10:00.123456789Z")
    assert event.status is AlertStatus.RESOLVED
    assert event.occurred_at == datetime(2024, 5, 14, 9, 10, 0, 123456, tzinfo=UTC)
    assert event.ends_at == event.occurred_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("P1", Severity.CRITICAL),
        ("Fatal", Severity.CRITICAL),
        ("high", Severity.HIGH),
        ("error", Severity.HIGH),
        ("sev2", Severity.HIGH),
        ("warning", Severity.WARNING),
        (" Medium ", Severity.WARNING),
        ("info", Severity.INFO),
        ("low", Severity.INFO),
        ("debug", Severity.INFO),
    ],
)
def test_severity_spellings(value: str, expected: Severity) -> None:
    assert one(severity=value).severity is expected


def test_batch_ids_follow_payload_order() -> None:
    events = parse({"events": [{"title": f"e{i}"} for i in range(3)]}, delivery_id="x")
    assert [(e.id, e.title) for e in events] == [("x-0", "e0"), ("x-1", "e1"), ("x-2", "e2")]


def test_labels_are_copied_not_aliased() -> None:
    labels = {"a": "1"}
    event = one(labels=labels, service="s")
    assert labels == {"a": "1"}
    assert event.labels is not labels


# --- fingerprints -----------------------------------------------------------


def test_supplied_fingerprint_is_used_verbatim() -> None:
    assert one(fingerprint="cert:shop").fingerprint == "generic:cert:shop"


def test_computed_fingerprint_is_labels_plus_title() -> None:
    event = one(labels={"host": "a"}, service="s")
    expected = fingerprint_of(
        "generic", {"host": "a", "service": "s", "alertname": "Backup failed"}
    )
    assert event.fingerprint == expected


def test_fingerprint_ignores_label_order() -> None:
    a = one(labels={"x": "1", "y": "2", "z": "3"})
    b = one(labels={"z": "3", "y": "2", "x": "1"})
    assert a.fingerprint == b.fingerprint


def test_fingerprint_same_for_same_alert_over_time() -> None:
    firing = one(labels={"host": "a"}, severity="critical", description="one")
    resolved = one(labels={"host": "a"}, status="resolved", occurred_at="2024-05-14T10:00:00Z")
    assert firing.fingerprint == resolved.fingerprint


def test_label_less_events_with_different_titles_differ() -> None:
    assert one(title="Disk full").fingerprint != one(title="Backup failed").fingerprint


def test_alertname_label_makes_title_free_text() -> None:
    a = one(title="CPU at 91%", labels={"alertname": "HighCPU"})
    b = one(title="CPU at 97%", labels={"alertname": "HighCPU"})
    assert a.fingerprint == b.fingerprint == fingerprint_of("generic", {"alertname": "HighCPU"})


def test_fingerprint_changes_with_service() -> None:
    assert one(service="a").fingerprint != one(service="b").fingerprint


def test_same_payload_twice_same_fingerprints() -> None:
    a = parse(copy.deepcopy(EXAMPLE), delivery_id="a")
    b = parse(copy.deepcopy(EXAMPLE), delivery_id="b")
    assert [e.fingerprint for e in a] == [e.fingerprint for e in b]


# --- the documentation stays in step -----------------------------------------


def _doc_json_blocks() -> list[Any]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_doc_lists_every_field() -> None:
    text = DOC.read_text()
    for name in EVENT_FIELDS:
        assert f"| `{name}`" in text, name


def test_doc_examples_parse() -> None:
    examples = [b for b in _doc_json_blocks() if "field" not in b]  # skip the error sample
    assert len(examples) >= 3
    events = [e for example in examples for e in parse(example)]
    firing, resolved = events[-2:]
    assert firing.fingerprint == resolved.fingerprint  # same alertname + labels


def test_doc_severity_table_matches_the_model() -> None:
    rows = re.findall(r"^\s*\| `(\w+)`\s*\| ([a-z0-9, ]+) \|$", DOC.read_text(), re.MULTILINE)
    assert {level for level, _ in rows} == {s.label for s in Severity}
    for level, spellings in rows:
        for spelling in spellings.split(", "):
            assert Severity.parse(spelling).label == level, spelling


# --- fuzz -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
LEAVES = st.none() | st.text(max_size=20) | st.sampled_from(
    ["firing", "resolved", "critical", "P3", "2024-05-14T09:00:00Z", "0001-01-01T00:00:00Z"]
)  # fmt: skip
FIELDS = st.sampled_from(sorted(EVENT_FIELDS | {"events", "titel"}))
SHAPED = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(FIELDS | st.text(max_size=4), children)
    ),
    max_leaves=20,
)


@st.composite
def mutated_example(draw: st.DrawFn) -> Any:
    payload = copy.deepcopy(EXAMPLE)
    event = draw(st.sampled_from(payload["events"]))
    key = draw(st.sampled_from([*sorted(event), "title", "extra"]))
    if draw(st.booleans()):
        event.pop(key, None)
    else:
        event[key] = draw(JSON | SHAPED)
    return payload if draw(st.booleans()) else event


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, SHAPED, mutated_example(), st.builds(lambda e: {"events": e}, SHAPED)))
def test_fuzz_parse_returns_events_or_payload_error(payload: Any) -> None:
    try:
        events = parse(payload)
    except PayloadError as exc:
        assert exc.field
        assert exc.reason
        assert exc.status in (413, 422)
    else:
        assert all(isinstance(e, Event) and e.title.strip() for e in events)


# --- tolerance: unknown fields are kept ------------------------------------


def test_a_security_finding_with_rule_and_source_ip_is_accepted() -> None:
    (event,) = parse(
        {
            "rule": "SSH brute force",
            "source_ip": "203.0.113.9",
            "level": "critical",
            "hits": 41,
            "timestamp": "2026-03-02T12:00:00Z",
            "geo": {"country": "NL", "asn": 64500},
            "tags": ["ssh", "auth"],
        }
    )
    assert event.title == "SSH brute force"
    assert event.severity is Severity.CRITICAL
    assert event.labels == {
        "rule": "SSH brute force",
        "source_ip": "203.0.113.9",
        "level": "critical",
        "alertname": "SSH brute force",
    }
    assert event.annotations == {
        "hits": "41",
        "timestamp": "2026-03-02T12:00:00Z",
        "geo": '{"asn":64500,"country":"NL"}',
        "tags": '["ssh","auth"]',
    }
    # Another source IP is another alert; a new timestamp or count is the same one.
    (other,) = parse({"rule": "SSH brute force", "source_ip": "198.51.100.1"})
    (again,) = parse(
        {"rule": "SSH brute force", "source_ip": "203.0.113.9", "level": "critical", "hits": 90}
    )
    assert other.fingerprint != event.fingerprint
    assert again.fingerprint == event.fingerprint


@pytest.mark.parametrize(
    ("payload", "title"),
    [
        ({"title": "T", "summary": "S", "message": "M"}, "T"),
        ({"summary": "S", "message": "M", "name": "N"}, "S"),
        ({"message": "M", "rule": "R"}, "M"),
        ({"rule": "R", "alertname": "A"}, "R"),
        ({"labels": {"alertname": "L"}, "host": "h"}, "L"),
        ({"host": "db-1", "check": 5}, "host=db-1"),
        ({"summary": "  ", "name": "N"}, "N"),  # blank aliases are skipped
    ],
)
def test_title_precedence(payload: dict[str, Any], title: str) -> None:
    (event,) = parse(payload)
    assert event.title == title


def test_aliases_for_service_severity_description_and_fingerprint() -> None:
    (event,) = parse(
        {
            "title": "x",
            "app": "checkout",
            "env": "prod",
            "priority": "P1",
            "details": "long text",
            "dedup_key": "k-1",
        }
    )
    assert event.labels["service"] == "checkout" and event.labels["environment"] == "prod"
    assert event.severity is Severity.CRITICAL
    assert event.description == "long text"
    assert event.fingerprint == "generic:k-1"
    # The canonical field wins over its alias; an unknown alias spelling is the default.
    (event,) = parse({"title": "x", "service": "s", "app": "a", "level": "verbose"})
    assert event.labels["service"] == "s" and event.severity is Severity.WARNING
    # Explicit labels win over a top-level field of the same name.
    (event,) = parse({"title": "x", "host": "top", "labels": {"host": "explicit"}})
    assert event.labels["host"] == "explicit"


def test_long_strings_and_volatile_names_are_annotations() -> None:
    (event,) = parse({"title": "x", "id": "abc", "note": "n" * 200, "team": "db"})
    assert event.labels == {"team": "db", "alertname": "x"}
    assert set(event.annotations) == {"id", "note"}


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("OK", AlertStatus.RESOLVED),
        ("triggered", AlertStatus.FIRING),
        (" Closed ", AlertStatus.RESOLVED),
    ],
)
def test_status_words(word: str, status: AlertStatus) -> None:
    assert one(status=word).status is status


def test_batch_fields_are_defaults_for_each_event() -> None:
    events = parse(
        {"service": "checkout", "events": [{"title": "a"}, {"title": "b", "service": "s"}]}
    )
    assert [e.labels["service"] for e in events] == ["checkout", "s"]
