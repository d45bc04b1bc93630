"""Flapping: an incident whose alerts fire again after resolving K times within the
window is marked flapping (one ticket comment, explained) and resolves only after
`stable_for` without a firing alert, so its ticket is not resolved and reopened with
every toggle; once stable it resolves, and the episode ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.store.tables import events, incidents, outbox, timeline
from conftest import am_alert, am_payload, process

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
correlation:
  flapping: {toggles: 3, window: 1h, stable_for: 30m}
routes:
  - name: default
"""


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Flapper:
    """One alert firing `up` minutes, then quiet `down` minutes, again and again."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config, self.n = engine, config, 0

    def send(self, at: datetime, status: str, started: datetime) -> None:
        alert = am_alert(
            alertname="LinkFlaps",
            status=status,
            starts_at=_ts(started),
            ends_at=_ts(at - timedelta(seconds=1)),
        )
        body = orjson.dumps(am_payload(alert))
        with self.engine.begin() as conn:
            fire_due(conn, at, self.config)
            self.n += 1
            delivery = Delivery(f"d{self.n}", "alertmanager", at, body, {})
            process(conn, self.config, [delivery], at)

    def cycles(self, count: int, up: int, down: int, start: datetime = T0) -> datetime:
        at = start
        for _ in range(count):
            self.send(at, "firing", at - timedelta(seconds=1))
            started = at - timedelta(seconds=1)
            at += timedelta(minutes=up)
            self.send(at, "resolved", started)
            at += timedelta(minutes=down)
        return at


def _actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = select(outbox.c.action).where(outbox.c.sink == "builtin").order_by(outbox.c.id)
        return list(conn.execute(query).scalars())


def _incident(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(incidents)).one()


def test_a_flapping_alert_stops_resolving_and_reopening_its_ticket(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    flapper = Flapper(engine, config)
    # Up 2 min, down 10 min: past resolve_after each time, so each toggle would
    # resolve the ticket and reopen it.
    end = flapper.cycles(8, up=2, down=10)
    actions = _actions(engine)
    # A toggle is a refire after resolving: the third (reopen) marks it; then no
    # more resolves, reopens or a comment per refire; the reopen says it flaps.
    assert actions == ["open", "resolve", "reopen", "resolve", "reopen", "resolve", "reopen"]
    row = _incident(engine)
    assert row.flapping_since is not None and row.status == "open"
    with engine.connect() as conn:
        marks = [
            d
            for ds in conn.execute(select(events.c.decisions)).scalars()
            for d in ds
            if d["outcome"] == "flapping"
        ]
        notes = list(
            conn.execute(select(timeline.c.message).where(timeline.c.kind == "flapping")).scalars()
        )
    assert len(marks) == 1 and marks[0]["inputs"]["mechanism"] == "flapping"
    assert notes == [
        "flapping: its alerts fired again 3 times within 1:00:00; "
        "it resolves only after 0:30:00 without a firing alert"
    ]
    # The ticket heard it once, with the reopen that marked it.
    with engine.connect() as conn:
        reasons = [
            p["reasons"]
            for p in conn.execute(
                select(outbox.c.payload).where(outbox.c.sink == "builtin").order_by(outbox.c.id)
            ).scalars()
        ]
    assert [i for i, r in enumerate(reasons) if "flapping" in r] == [6]
    # Stable for 30 minutes after the last resolve: resolved, and the episode ends.
    with engine.begin() as conn:
        fire_due(conn, end - timedelta(minutes=10) + timedelta(minutes=30), config)
    assert _actions(engine)[-1] == "resolve"
    row = _incident(engine)
    assert row.status == "resolved" and row.flapping_since is None


def test_toggles_spread_wider_than_the_window_are_not_flapping(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    flapper = Flapper(engine, config)
    # Down 40 min: only two toggles fit in any hour.
    flapper.cycles(5, up=2, down=38)
    assert _incident(engine).flapping_since is None
    assert _actions(engine).count("reopen") == 4


def test_flapping_can_be_turned_off(engine: Engine) -> None:
    config = parse_config_text(CONFIG.replace("{toggles: 3,", "{enabled: false, toggles: 3,"))
    Flapper(engine, config).cycles(6, up=2, down=10)
    assert _actions(engine).count("reopen") == 5
    assert _incident(engine).flapping_since is None


@pytest.mark.parametrize("toggles", [1, 51])
def test_the_toggle_count_is_bounded(toggles: int) -> None:
    with pytest.raises(ValueError, match="toggles"):
        parse_config_text(CONFIG.replace("toggles: 3", f"toggles: {toggles}"))
