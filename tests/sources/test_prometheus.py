"""The prometheus source: Alertmanager API v2 postable alerts, status from endsAt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, fingerprint_of
from autoticket.sources import get_source

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def parse(payload: Any) -> list[Any]:
    return get_source("prometheus").parse(payload, {}, delivery_id="d", received_at=NOW)


def alert(**fields: Any) -> dict[str, Any]:
    return {"labels": {"alertname": "Up", "severity": "high"}, **fields}


@pytest.mark.parametrize(
    ("ends_at", "status"),
    [
        (None, AlertStatus.FIRING),
        ("0001-01-01T00:00:00Z", AlertStatus.FIRING),
        ("2026-03-02T12:04:00Z", AlertStatus.FIRING),
        ("2026-03-02T12:00:00Z", AlertStatus.RESOLVED),  # endsAt == now: resolved
        ("2026-03-02T11:59:59.5Z", AlertStatus.RESOLVED),
    ],
)
def test_status_comes_from_ends_at_against_the_receive_time(
    ends_at: str | None, status: AlertStatus
) -> None:
    (event,) = parse([alert(endsAt=ends_at, startsAt="2026-03-02T11:50:00Z")])
    assert event.status is status
    if status is AlertStatus.RESOLVED:
        assert event.ends_at == event.occurred_at
    else:
        assert event.ends_at is None
        assert event.occurred_at == datetime(2026, 3, 2, 11, 50, tzinfo=UTC)


def test_same_fingerprint_as_the_alertmanager_path() -> None:
    (event,) = parse([alert()])
    assert event.fingerprint == fingerprint_of(
        "alertmanager", {"alertname": "Up", "severity": "high"}
    )
    assert event.title == "Up" and event.severity.name.lower() == "high"


def test_an_empty_array_is_no_events() -> None:
    assert parse([]) == []


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"labels": {}}, "body", "expected a JSON array"),
        ([1], "[0]", "expected an alert object"),
        ([{"annotations": {}}], "[0].labels", "required"),
        ([{"labels": {}}], "[0].labels", "must not be empty"),
        ([alert(), {"labels": {"a": 1}}], "[1].labels.a", "expected a string"),
        ([alert(endsAt="soon")], "[0].endsAt", "RFC 3339"),
        ([alert(generatorURL=5)], "[0].generatorURL", "expected a string"),
    ],
)
def test_bad_alerts_name_the_field(payload: Any, field: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert info.value.field == field
    assert fragment in info.value.reason
    assert info.value.status == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["labels", "annotations", "startsAt", "endsAt", "generatorURL", "x"]),
            JSON,
        ),
        max_size=3,
    )
    | JSON
)
def test_any_json_parses_or_is_a_payload_error(payload: Any) -> None:
    try:
        events = parse(payload)
    except PayloadError as exc:
        assert exc.field and exc.reason
    else:
        assert len(events) == len(payload)
