"""Replay with live release judging: releases checked on the virtual clock as lines arrive.

Samples come a minute at a time among alert lines of the same service; the
judge's checks fire at their own due times, so the failed release's ticket,
its incident and the `releases[]` entry are the same at every batch size.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import orjson

from autoticket.config import parse_config_text
from autoticket.replay import replay

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
CONFIG = """
catalog:
  services:
    checkout: {team: payments}
routes: [{name: all, group_by: [service]}]
"""


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _line(line_id: str, at: datetime, source: str, body: object) -> bytes:
    return orjson.dumps({"id": line_id, "source": source, "received_at": _iso(at), "body": body})


def _minute(m: int, level: float, rng: random.Random) -> bytes:
    sample = {
        "name": "checkout_error_ratio",
        "labels": {"service": "checkout", "environment": "prod"},
        "t": _iso(START + m * MINUTE),
        "v": level * (1 + rng.uniform(-0.05, 0.05)),
    }
    at = START + (m + 1) * MINUTE  # pushed just after its minute
    return _line(f"M{m}", at, "metrics", {"samples": [sample]})


def _alert(n: int, at: datetime) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "Errors", "service": "checkout", "environment": "prod"},
        "annotations": {},
        "startsAt": _iso(START + 4 * MINUTE),
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return _line(f"A{n}", at, "alertmanager", {"version": "4", "alerts": [alert]})


def _stream(after: float) -> list[bytes]:
    rng = random.Random(7)
    lines = [_minute(m, 0.01, rng) for m in range(-30, 0)]
    body = {"service": "checkout", "environment": "prod", "version": "v42"}
    lines.append(_line("R1", START, "release", body | {"started_at": _iso(START)}))
    n = 0
    for m in range(0, 30):
        lines.append(_minute(m, 0.01 * after, rng))
        for s in (10, 30, 50):  # alerts of the same service while it is judged
            if m >= 4:
                lines.append(_alert(n, START + (m + 1) * MINUTE + timedelta(seconds=s)))
                n += 1
    return lines


def test_a_failed_release_ticket_is_the_same_at_every_batch_size() -> None:
    config = parse_config_text(CONFIG)
    outputs = [replay(iter(_stream(3.0)), config, batch_size=b).output for b in (1, 7, 200)]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 1
    out = outputs[0]
    [release] = out["releases"]
    assert (release["line_id"], release["verdict"], release["action"]) == ("R1", "fail", "rollback")
    assert release["decided_by"] == "early_fail"
    # One incident for the service: the judge's event and the alerts share it.
    [ticket] = out["tickets"]
    assert ticket["team"] == "payments"
    assert "R1" in ticket["line_ids"] and "A0" in ticket["line_ids"]
    assert set(out) == {"tickets", "errors", "releases", "stats"}


def test_a_harmless_release_opens_no_ticket() -> None:
    config = parse_config_text(CONFIG)
    lines = [line for line in _stream(1.0) if not orjson.loads(line)["id"].startswith("A")]
    out = replay(iter(lines), config, batch_size=3).output
    [release] = out["releases"]
    assert (release["verdict"], release["action"]) == ("pass", "continue")
    assert out["tickets"] == []


def test_replay_records_the_action_webhook_but_never_sends_it() -> None:
    config = parse_config_text(
        CONFIG
        + 'releases: {action_webhook: {url: "http://127.0.0.1:9/cd", secret_env: NOT_SET}}\n'
    )
    out = replay(iter(_stream(3.0)), config, batch_size=7).output
    assert out["stats"]["external_actions"] == {"release-actions": 1}
