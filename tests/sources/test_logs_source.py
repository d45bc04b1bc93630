"""JSON log lines grouped by template (drain3): same error with other ids is one alert."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import EventKind, Severity
from autoticket.sources.logs import mask

TEMPLATES = (
    ("error", "payment {n} declined by issuer: card_declined (request_id={u})"),
    ("error", "upstream 10.42.{a}.{b}:8080 returned 503 for GET /api/v1/cart/{n}"),
    ("warn", "slow query took {n}ms on orders (rows={m})"),
    ("error", "user {email} failed login from 203.0.{a}.{b}: invalid password"),
    ("critical", "worker {h} crashed: OutOfMemoryError after {m} jobs"),
)


def _lines(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        level, template = TEMPLATES[i % len(TEMPLATES)]
        message = template.format(
            n=rng.randint(1, 10**6),
            m=rng.randint(1, 5000),
            u=uuid.UUID(int=rng.getrandbits(128)),
            a=rng.randint(0, 255),
            b=rng.randint(0, 255),
            h=f"{rng.getrandbits(48):012x}",
            email=f"user{rng.randint(1, 9999)}@example.com",
        )
        out.append({"level": level, "service": "checkout", "message": message})
    return out


def test_thousand_lines_of_five_templates_are_five_alerts() -> None:
    lines = _lines(1000, seed=7)
    events = parse("logs", lines)
    assert len({e.fingerprint for e in events}) == 5
    assert len(events) == 5
    assert sum(int(e.source_meta["count"]) for e in events) == 1000
    assert {e.severity for e in events} == {Severity.HIGH, Severity.WARNING, Severity.CRITICAL}


def test_same_alerts_whatever_the_split_and_order() -> None:
    lines = _lines(1000, seed=11)
    whole = {e.fingerprint for e in parse("logs", lines)}
    random.Random(3).shuffle(lines)
    split = set()
    for start in range(0, 1000, 37):
        split |= {e.fingerprint for e in parse("logs", lines[start : start + 37])}
    assert split == whole
    single = {e.fingerprint for e in parse("logs", lines[0])}
    assert single <= whole


def test_different_errors_are_different_alerts() -> None:
    a, b = parse(
        "logs",
        [
            {"level": "error", "message": "payment 1 declined by issuer: card_declined"},
            {"level": "error", "message": "payment 2 refunded to customer"},
        ],
    )
    assert a.fingerprint != b.fingerprint


def test_the_same_template_in_another_service_is_another_alert() -> None:
    events = parse(
        "logs",
        [
            {"service": "checkout", "message": "slow query took 12ms on orders (rows=1)"},
            {"service": "search", "message": "slow query took 99ms on orders (rows=5)"},
        ],
    )
    assert len({e.fingerprint for e in events}) == 2


def test_sample_batch() -> None:
    events = parse("logs", sample("logs", "batch"))
    assert [int(e.source_meta["count"]) for e in events] == [2, 1, 1]
    assert all(e.kind is EventKind.LOG for e in events)
    assert events[0].labels["service"] == "checkout"
    assert events[0].annotations["template"] == (
        "payment <NUM> declined by issuer: card_declined (request_id=<UUID>)"
    )


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("took 2350ms rows=12", "took <NUM> rows=<NUM>"),
        ("from 10.0.0.1:443", "from <IP>"),
        ("id 3f2a9c1e-77b4-4e1a-9c2d-1b0e5f6a7c8d", "id <UUID>"),
        ("worker 9f86d081884c crashed", "worker <NUM> crashed"),
        ("worker 908610818840 crashed", "worker <NUM> crashed"),
        ("worker deadbeef", "worker deadbeef"),  # all-letter hex words stay (they are words)
    ],
)
def test_mask(line: str, masked: str) -> None:
    assert mask(line) == masked


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ("x", "body", "log object"),
        ({"lines": "x"}, "lines", "array"),
        ({"lines": [{"message": "a"}, 3]}, "lines[1]", "log object"),
        ([{"message": 3}], "[0].message", "string"),
        ([{"level": "error"}], "[0].message", "required"),
        ({"message": "  "}, "message", "required"),
        ([{"message": "a", "level": 3}], "[0].level", "string"),
        ([{"message": "a", "timestamp": "now"}], "[0].timestamp", "RFC 3339"),
    ],
)
def test_malformed_names_the_field(payload: Any, field: str, fragment: str) -> None:
    exc = refusal("logs", payload)
    assert exc.field == field
    assert fragment in exc.reason


def test_a_huge_line_is_mined_by_its_head() -> None:
    head = "disk full on volume 12 " + "x" * 3000
    (event,) = parse("logs", {"message": head + "a" * 1_000_000})
    (other,) = parse("logs", {"message": head + "b" * 1_000_000})
    assert event.fingerprint == other.fingerprint
    assert len(event.annotations["template"]) <= 1000


def test_masks_are_linear_on_a_long_token() -> None:
    """A quadratic mask would take minutes here; the test only checks the result."""
    line = "a" * 200_000 + "!@x.io"
    assert mask(line) == line
    assert mask("mail ana.b+x@example.co.uk now") == "mail <EMAIL> now"
