"""Edges of the redaction logic that `make mutate` found unguarded (docs/testing.md).

Each test names the behaviour; the mutants it kills are listed in docs/testing.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

from autoticket.config import Config, RedactionConfig, RedactionPattern
from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.redact import Redactor, RedactStage, marker
from autoticket.pipeline.redact_body import redact_headers

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _event(fingerprint: str) -> Event:
    return Event(
        id="ev-1",
        source="generic",
        kind=EventKind.ALERT,
        status=AlertStatus.FIRING,
        occurred_at=NOW,
        received_at=NOW,
        title="disk full",
        severity=Severity.HIGH,
        fingerprint=fingerprint,
        raw_ref="inbox:1",
    )


def test_a_key_named_secret_is_a_strong_key_except_in_labels() -> None:
    """`secret` holds a secret's *name* only as a label (kube-state-metrics); a
    header or annotation `secret` is masked whole, whatever it looks like."""
    r = Redactor(RedactionConfig())
    assert r.key_kind("secret") == ("secret", True)
    assert r.key_kind("Secret", label=True) == ("secret", False)
    assert r.redact_keyed("secret", "db-creds") == (marker("secret"), {"secret": 1})
    assert r.redact_keyed("secret", "db-creds", label=True) == ("db-creds", {})
    assert redact_headers({"Secret": "db-creds"}, r) == {"Secret": marker("secret")}


def test_an_empty_secret_group_of_a_custom_pattern_masks_nothing() -> None:
    """A custom pattern whose `secret` group matched nothing leaves the text as it
    is: no marker put in front of an empty value, nothing counted."""
    r = Redactor(
        RedactionConfig(patterns=[RedactionPattern(name="tok", regex=r"tok\((?P<secret>[a-z]*)\)")])
    )
    assert r.redact("tok() then tok()") == ("tok() then tok()", {})
    assert r.redact("tok() then tok(abc)") == (f"tok() then tok({marker('tok')})", {"tok": 1})


def test_a_masked_fingerprint_of_exactly_the_column_width_is_kept() -> None:
    """64 characters after masking fit the column: kept readable, not hashed."""
    fingerprint = "generic:" + "x" * 27 + " password=hunter2"
    ev = _event(fingerprint)
    RedactStage(RedactionConfig()).run(Batch(events=[ev]), Context(now=NOW, config=Config()))
    expected = "generic:" + "x" * 27 + " password=" + marker("password")
    assert len(expected) == 64
    assert ev.fingerprint == expected
