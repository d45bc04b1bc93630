"""normalize at its edges: what every database can store (no NUL characters, a
fingerprint that fits its column), and what a dead letter says."""

from __future__ import annotations

import hashlib
from datetime import datetime

import orjson

from autoticket.config import Config
from autoticket.model import Delivery
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.normalize import MAX_FINGERPRINT, NormalizeStage

PREFIX = "generic:"  # a caller's fingerprint is scoped by its source


def _normalize(t0: datetime, *bodies: dict[str, object]) -> Batch:
    deliveries = [
        Delivery(f"d{i}", "generic", t0, orjson.dumps(body)) for i, body in enumerate(bodies)
    ]
    return NormalizeStage().run(Batch(deliveries=deliveries), Context(t0, Config())).batch


def test_a_fingerprint_that_fits_its_column_is_kept_a_longer_one_hashed(t0: datetime) -> None:
    fits = "f" * (MAX_FINGERPRINT - len(PREFIX))
    longer = fits + "g"
    batch = _normalize(
        t0, {"title": "a", "fingerprint": fits}, {"title": "b", "fingerprint": longer}
    )
    kept, hashed = (e.fingerprint for e in batch.events)
    assert kept == PREFIX + fits
    assert hashed == hashlib.sha256((PREFIX + longer).encode()).hexdigest()[:32]
    assert batch.parsed == 2


def test_nul_characters_are_removed_everywhere_and_a_nul_fingerprint_hashed(
    t0: datetime,
) -> None:
    body = {
        "title": "disk\x00 full",
        "description": "\x00on db-1",
        "labels": {"ro\x00le": "prim\x00ary"},
        "annotations": {"summary": "s\x00"},
        "links": {"graph\x00": "http://g/\x00"},
        "fingerprint": "fp\x00",
    }
    [event] = _normalize(t0, body).events
    assert (event.title, event.description) == ("disk full", "on db-1")
    assert event.labels["role"] == "primary"
    assert event.annotations == {"summary": "s"}
    assert event.links == {"graph": "http://g/"}
    assert event.fingerprint == hashlib.sha256(f"{PREFIX}fp\x00".encode()).hexdigest()[:32]


def test_a_dead_letter_names_the_stage_the_reason_and_the_field(t0: datetime) -> None:
    batch = _normalize(t0, {"title": ""})
    [dead] = batch.dead_letters
    assert (dead.delivery.id, dead.stage, dead.field) == ("d0", "normalize", "title")
    assert dead.error
    assert (batch.events, batch.parsed) == ([], 0)
