"""Shared helpers for the vendor adapters' tests: samples, parsing, fuzz data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from autoticket.errors import PayloadError
from autoticket.model import Event
from autoticket.sources import get_source

RECEIVED = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
SAMPLES = Path(__file__).parent / "samples"


def sample(source: str, name: str) -> Any:
    """A vendor-format sample payload (tests/sources/samples/<source>/<name>.json)."""
    return json.loads((SAMPLES / source / f"{name}.json").read_text())


def sample_names(source: str) -> list[str]:
    return sorted(p.stem for p in (SAMPLES / source).glob("*.json"))


def parse(
    source: str, payload: Any, headers: dict[str, str] | None = None, delivery_id: str = "d1"
) -> list[Event]:
    return get_source(source).parse(
        payload, headers or {}, delivery_id=delivery_id, received_at=RECEIVED
    )


def refusal(source: str, payload: Any, headers: dict[str, str] | None = None) -> PayloadError:
    """The PayloadError `payload` must raise (fails the test if it parses)."""
    try:
        events = parse(source, payload, headers)
    except PayloadError as exc:
        assert 400 <= exc.status < 500
        return exc
    raise AssertionError(f"expected a PayloadError, got {len(events)} events")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a decoded JSON value (keys and indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, payload: Any) -> Any:
    """`payload` with one to three places replaced by arbitrary JSON or removed."""
    doc = json.loads(json.dumps(payload))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(doc)))
        if not where:
            return draw(JSON)
        parent = doc
        try:
            for step in where[:-1]:
                parent = parent[step]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def parse_or_refuse(source: str, payload: Any, headers: dict[str, str] | None = None) -> None:
    """Either events that are well formed, or a 4xx PayloadError naming a field."""
    try:
        events = parse(source, payload, headers)
    except PayloadError as exc:
        assert 400 <= exc.status < 500
        assert exc.field
        assert exc.reason
        return
    for index, event in enumerate(events):
        assert event.id == f"d1-{index}"
        assert event.source == source
        assert event.title
        assert event.fingerprint
        assert event.occurred_at.tzinfo is not None
        assert all(type(k) is str and type(v) is str for k, v in event.labels.items())
        assert all(type(k) is str and type(v) is str for k, v in event.annotations.items())
