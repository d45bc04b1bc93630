"""The source registry, the shared helpers, and every source's example payload."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.errors import PayloadError
from autoticket.model import Event
from autoticket.sources import (
    GO_ZERO_TIME,
    SOURCES,
    Source,
    UnknownSource,
    decode_json,
    get_source,
    known_sources,
    parse_optional_time,
    parse_time,
)

RECEIVED_AT = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
PAYLOADS = Path(str(resources.files("autoticket") / "examples" / "payloads"))

# What an adapter sets; everything else on Event belongs to later stages.
ADAPTER_FIELDS = (
    "id",
    "source",
    "kind",
    "status",
    "occurred_at",
    "received_at",
    "title",
    "severity",
    "fingerprint",
    "raw_ref",
    "description",
    "labels",
    "annotations",
    "links",
    "source_meta",
    "ends_at",
)


def event_to_dict(event: Event) -> dict[str, Any]:
    """Adapter-set fields only; datetimes as ISO strings, enums as their values."""
    out: dict[str, Any] = {}
    for name in ADAPTER_FIELDS:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        out[name] = value
    return out


def parse_example(name: str) -> list[Event]:
    body = (PAYLOADS / f"{name}.json").read_bytes()
    return get_source(name).parse(decode_json(body), {}, delivery_id="d1", received_at=RECEIVED_AT)


# --- registry ---------------------------------------------------------------


def test_known_sources_lists_the_registry_sorted() -> None:
    assert known_sources() == sorted(SOURCES)
    assert {"alertmanager", "generic"} <= set(known_sources())


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_registry_entries_are_sources_under_their_own_name(name: str) -> None:
    cls = SOURCES[name]
    assert issubclass(cls, Source)
    assert cls.name == name
    source = get_source(name)
    assert isinstance(source, cls)


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UnknownSource) as info:
        get_source("nagios")
    assert info.value.name == "nagios"
    assert info.value.known == known_sources()
    assert "nagios" in str(info.value)
    assert "alertmanager" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_source_is_abstract() -> None:
    with pytest.raises(TypeError):
        Source()  # type: ignore[abstract]


# --- example payloads -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_example_payload_parses_to_expected_events(name: str) -> None:
    payload_file = PAYLOADS / f"{name}.json"
    expected_file = PAYLOADS / f"{name}.expected.json"
    assert payload_file.is_file(), f"source {name!r} has no example payload {payload_file}"
    assert expected_file.is_file(), f"source {name!r} has no expected events {expected_file}"
    expected = json.loads(expected_file.read_text())
    events = parse_example(name)
    assert events, "an example payload should produce events"
    assert [event_to_dict(e) for e in events] == expected


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_adapters_leave_later_stage_fields_alone(name: str) -> None:
    later = [f for f in dataclasses.fields(Event) if f.name not in ADAPTER_FIELDS]
    assert "decisions" in {f.name for f in later}
    for event in parse_example(name):
        for f in later:
            default = f.default_factory() if callable(f.default_factory) else f.default
            assert getattr(event, f.name) == default, f.name


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_example_events_share_delivery_bookkeeping(name: str) -> None:
    events = parse_example(name)
    assert [e.id for e in events] == [f"d1-{i}" for i in range(len(events))]
    assert all(e.source == name and e.raw_ref == "d1" for e in events)
    assert all(e.received_at == RECEIVED_AT for e in events)


# --- decode_json ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[]", []),
        (b'"x"', "x"),
        ('{"t": "é"}'.encode(), {"t": "é"}),
    ],
)
def test_decode_json_valid(body: bytes, expected: Any) -> None:
    assert decode_json(body) == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "line 1 column 1"),
        (b"{", "line 1 column 2"),
        (b'{"a": 1,}', "malformed JSON"),
        (b'{"a": 1}\n{"b": 2}', "line 2 column 1"),
        (b"\xff\xfe", "UTF-8"),
        (b"NaN", "malformed JSON"),
        (b"[" * 5000, "malformed JSON"),
    ],
)
def test_decode_json_malformed_is_a_400_on_body(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode_json(body)
    assert info.value.field == "body"
    assert info.value.status == 400
    assert info.value.reason.startswith("malformed JSON: ")
    assert fragment in info.value.reason


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_decode_json_fuzz(body: bytes) -> None:
    try:
        decode_json(body)
    except PayloadError as exc:
        assert exc.status == 400
        assert exc.field == "body"


# --- time helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01t00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01 00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00.5Z", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123456789Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T02:00:00.999999999+02:00", datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)),
        ("2023-12-31T19:00:00-05:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00+00:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00-00:00", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_time_valid_is_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text, "t")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2024-01-01T00:00:00", "missing UTC offset"),
        ("2024-01-01", "expected YYYY-MM-DD"),
        ("2024-W01-1T00:00:00Z", "expected YYYY-MM-DD"),
        ("20240101T000000Z", "expected YYYY-MM-DD"),
        ("2024-01-01T00:00Z", "expected YYYY-MM-DD"),
        ("2024-01-01T00:00:00.Z", "fractional seconds"),
        ("2024-01-01T00:00:00,5Z", "fractional seconds"),
        ("2024-01-01T00:00:00+0100", "missing UTC offset"),
        ("2024-01-01T00:00:00+ab:cd", "digits in UTC offset"),
        ("2024-13-01T00:00:00Z", "out of range"),
        ("2024-01-01T24:00:00Z", "out of range"),
        ("2024-01-01T00:00:00+25:00", "out of range"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("2024-01-0xT00:00:00Z", "digits"),
        ("\uff12024-01-01T00:00:00Z", "expected YYYY-MM-DD"),  # fullwidth digit
        ("yesterday", "expected YYYY-MM-DD"),
        (1704067200, "got number"),
        (None, "got null"),
    ],
)
def test_parse_time_invalid_names_the_field(value: Any, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_time(value, "alerts[0].startsAt")
    assert info.value.field == "alerts[0].startsAt"
    assert info.value.status == 422
    assert fragment in info.value.reason


@pytest.mark.parametrize(
    "value", [None, "", GO_ZERO_TIME, "0001-01-01T00:00:00.000000000Z", "0001-01-01T00:00:00+00:00"]
)
def test_parse_optional_time_unset(value: Any) -> None:
    assert parse_optional_time(value, "endsAt") is None


def test_parse_optional_time_set() -> None:
    tz = timezone(timedelta(hours=2))
    parsed = parse_optional_time("2024-01-01T02:00:00+02:00", "t")
    assert parsed == datetime(2024, 1, 1, 2, tzinfo=tz)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda d, minutes: d.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
            st.datetimes(),
            st.integers(-23 * 60, 23 * 60),
        ),
        st.datetimes().map(lambda d: d.isoformat() + "Z"),
    )
)
def test_parse_time_fuzz(text: str) -> None:
    try:
        parsed = parse_time(text, "t")
    except PayloadError as exc:
        assert exc.field == "t"
    else:
        assert parsed.tzinfo is UTC
