"""Edges of the redaction logic that `make mutate` found unguarded (docs/testing.md).

Each test names the behaviour; the mutants it kills are listed in docs/testing.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autoticket.config import Config, RedactionConfig, RedactionPattern
from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.redact import BUILTIN_KINDS, Redactor, RedactStage, marker
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


def _custom(name: str, regex: str) -> Redactor:
    return Redactor(RedactionConfig(patterns=[RedactionPattern(name=name, regex=regex)]))


def test_a_match_that_is_only_a_marker_is_left_as_it_is() -> None:
    """Idempotence: what an earlier pass masked is not masked again."""
    assert _custom("v", r"v=(?P<secret>\S+)").redact("v=[REDACTED:x]") == ("v=[REDACTED:x]", {})


def test_a_match_that_starts_with_a_marker_and_goes_on_is_masked_whole() -> None:
    """The marker plus more text: masked whole, so the rest does not leak."""
    r = _custom("v", r"v=(?P<secret>\S+)")
    assert r.redact("v=[REDACTED:x]tail") == (f"v={marker('v')}", {"v": 1})
    assert r.redact("v=ab[REDACTED:x]") == (f"v={marker('v')}", {"v": 1})


def test_markers_before_the_match_are_skipped_not_looked_at_again() -> None:
    text = "[REDACTED:a] [REDACTED:b] v=[REDACTED:c]tail"
    masked = f"[REDACTED:a] [REDACTED:b] v={marker('v')}"
    assert _custom("v", r"v=(?P<secret>\S+)").redact(text) == (masked, {"v": 1})


def test_a_secret_right_before_a_marker_is_masked() -> None:
    """A marker that starts where the secret ends does not overlap it."""
    r = _custom("tok", r"tok:(?P<secret>[a-z]+)")
    assert r.redact("tok:abc[REDACTED:x]") == (f"tok:{marker('tok')}[REDACTED:x]", {"tok": 1})


def test_a_match_that_would_cut_a_marker_in_two_is_left_alone() -> None:
    assert _custom("d", r"D:x\]abc").redact("[REDACTED:x]abc") == ("[REDACTED:x]abc", {})


def test_a_blank_secret_is_masked_like_any_other_when_markers_are_elsewhere() -> None:
    """Only a secret made of markers (and blanks) is skipped; markers elsewhere
    in the text change nothing for a match that does not touch them."""
    r = _custom("pad", r"pad\((?P<secret> +)\)")
    assert r.redact("pad(   )") == (f"pad({marker('pad')})", {"pad": 1})
    assert r.redact("[REDACTED:x] pad(   )") == (f"[REDACTED:x] pad({marker('pad')})", {"pad": 1})


def test_a_match_over_one_whole_marker_and_half_of_the_next_is_left_alone() -> None:
    """Every marker the match touches is looked at, the second one too."""
    r = _custom("v", r"v=(?P<secret>.{12}\[RED)")
    assert r.redact("v=[REDACTED:a][REDACTED:b]") == ("v=[REDACTED:a][REDACTED:b]", {})


def test_two_patterns_of_one_kind_add_up_their_counts() -> None:
    """`url_signature` is two patterns (a `sig=` and a `?key=`): one count of 2."""
    text = "https://cdn.example.com/f?sig=abcdefghij12&x=1 https://api.example.com/v1?key=abcdefgh12"
    masked, counts = Redactor(RedactionConfig()).redact(text)
    assert counts == {"url_signature": 2}
    assert masked.count(marker("url_signature")) == 2


# 40 characters mixing upper case, lower case and digits: the shape of an AWS secret key.
AWS_SHAPED = "Zq8Lm3Np7Rt2Vw6Xy1Bc5Df9Gh4Jk0Mn8Pq3Rs7T"


def test_an_aws_shaped_run_is_left_alone_where_nothing_mentions_aws_or_a_key() -> None:
    """Only the patterns whose keywords are present run: a `token` word does not
    let the keyword-less AWS secret shape loose on the text."""
    text = f"deploy token rotated, build {AWS_SHAPED}"
    assert Redactor(RedactionConfig()).redact(text) == (text, {})


def test_a_text_exactly_as_long_as_an_aws_secret_is_still_scanned() -> None:
    """`min_len` skips only shorter texts: a text of exactly 40 characters can be one."""
    secret = "Aws" + AWS_SHAPED[3:]  # its own keyword ("aws") inside
    assert len(secret) == 40
    masked = marker("aws_secret_access_key")
    assert Redactor(RedactionConfig()).redact(secret) == (masked, {"aws_secret_access_key": 1})


def test_redact_event_says_whether_it_masked_anything() -> None:
    stage = RedactStage(RedactionConfig())
    assert stage.redact_event(_event("generic:clean")) is False  # the shortcut
    keyword_only = _event("generic:clean")
    keyword_only.description = "users cannot reset their password"  # scanned, nothing found
    assert stage.redact_event(keyword_only) is False
    assert stage.redact_event(_event("generic:password=hunter2")) is True


def test_a_link_is_masked_by_its_value_never_by_its_name() -> None:
    """Link names are not key rules: a `password` link is the reset page's URL."""
    ev = _event("generic:clean")
    ev.description = "users cannot reset their password"  # a keyword: no shortcut
    ev.links = {"password": "https://id.example.com/reset", "token": "https://docs.example.com/t"}
    RedactStage(RedactionConfig()).redact_event(ev)
    assert ev.links == {
        "password": "https://id.example.com/reset",
        "token": "https://docs.example.com/t",
    }
    assert ev.decisions == []


def test_a_title_or_description_of_its_own_is_scanned() -> None:
    """A generic event's title and description are not annotations: the
    prefilter must look at them too, or a secret there skips the stage."""
    stage = RedactStage(RedactionConfig())
    titled = _event("generic:clean")
    titled.title = "login failed with password=hunter2"
    described = _event("generic:clean")
    described.description = "retry with token=abc123"
    assert stage.redact_event(titled) and stage.redact_event(described)
    assert titled.title == f"login failed with password={marker('password')}"
    assert described.description == f"retry with token={marker('token')}"


def test_two_custom_patterns_in_one_text_are_both_masked() -> None:
    """Each custom pattern whose prefilter passes is a candidate, not only the last."""
    r = Redactor(
        RedactionConfig(
            patterns=[
                RedactionPattern(name="voucher", regex=r"VCH-\d{8}"),
                RedactionPattern(name="badge", regex=r"BDG-\d{6}"),
            ]
        )
    )
    masked, counts = r.redact("voucher VCH-12345678 badge BDG-123456")
    assert masked == f"voucher {marker('voucher')} badge {marker('badge')}"
    assert counts == {"voucher": 1, "badge": 1}


def test_an_unknown_disabled_kind_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as raised:
        Redactor(RedactionConfig(disable=["jwtt"]))
    known = ", ".join(sorted(BUILTIN_KINDS))
    assert str(raised.value) == f"redaction.disable: unknown kind(s) ['jwtt']; known: {known}"


def test_a_bare_aws_secret_is_masked_when_another_field_mentions_aws() -> None:
    """The bare 40-character shape is documented to trigger when the event mentions
    AWS anywhere: the keyword in the description masks the secret in a label."""
    ev = _event("generic:clean")
    ev.description = "rotated the AWS creds after the leak"
    ev.labels = {"build": AWS_SHAPED, "job": "deploy"}
    assert RedactStage(RedactionConfig()).redact_event(ev) is True
    assert ev.labels == {"build": marker("aws_secret_access_key"), "job": "deploy"}
    assert ev.description == "rotated the AWS creds after the leak"


def test_a_bare_aws_shaped_label_stays_where_no_field_mentions_aws_or_a_key() -> None:
    ev = _event("generic:clean")
    ev.description = "users cannot reset their password"  # a keyword of other patterns
    ev.labels = {"build": AWS_SHAPED}
    RedactStage(RedactionConfig()).redact_event(ev)
    assert ev.labels == {"build": AWS_SHAPED}
