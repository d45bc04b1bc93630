"""A game day: play a scenario against a live server, read back what it filed, score it.

`play` posts each line of the stream to `/api/v1/ingest/{source}` at its
relative time divided by `speed` (60: an hour of the scenario in a minute),
with the alerts' `startsAt`/`endsAt` moved to the same clock, and keeps the
event ids each answer names. `read_back` lists the server's incidents and
tickets over the API and turns every ticket that holds one of those events
into a `Ticket` on the scenario's clock, for `bench/scenario_score.py`.

At a speed-up the server's own timers (resolve_after, reopen_within) run on
the wall clock: start it with them divided by the same factor (`serve
--resolve-after 5s --reopen-within 1m` at 60) or its resolutions will lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import orjson

from bench.scenario_run import PARENT_COLUMNS
from bench.scenario_score import Ticket

__all__ = ["Pace", "PlayRecord", "WallPace", "play", "read_back"]

GO_ZERO = "0001-01-01T00:00:00Z"
PAGE = 1000


class Pace(Protocol):
    """The clock a game day runs on: the wall clock live, a test's fixed clock in tests."""

    def now(self) -> datetime: ...

    def wait_until(self, at: datetime) -> None: ...


class WallPace:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait_until(self, at: datetime) -> None:
        delay = (at - self.now()).total_seconds()
        if delay > 0:
            time.sleep(delay)


@dataclass
class PlayRecord:
    virtual_start: datetime
    wall_start: datetime
    speed: float
    events: dict[str, tuple[str, int]] = field(default_factory=dict)  # event id -> (line, index)
    posted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    unseen_events: int = 0  # events of incidents past what `explain.events` lists (read_back)

    def to_virtual(self, wall: datetime) -> datetime:
        return self.virtual_start + (wall - self.wall_start) * self.speed

    def to_wall(self, virtual: datetime) -> datetime:
        return self.wall_start + (virtual - self.virtual_start) / self.speed


def play(
    lines: Sequence[bytes],
    client: httpx.Client,
    pace: Pace,
    speed: float = 60.0,
    headers: dict[str, str] | None = None,
    progress: Callable[[int, int, datetime], None] | None = None,
) -> PlayRecord:
    """Post every line at its time on the sped-up clock; what the server accepted."""
    parsed = [orjson.loads(raw) for raw in lines]
    if not parsed:
        raise ValueError("the scenario has no lines")
    start = _time(parsed[0]["received_at"])
    record = PlayRecord(start, pace.now(), speed)
    for n, line in enumerate(parsed):
        at = _time(line["received_at"])
        pace.wait_until(record.to_wall(at))
        body = _shift(line["body"], record)
        response = client.post(
            f"/api/v1/ingest/{line['source']}",
            content=orjson.dumps(body),
            headers={"content-type": "application/json", **(headers or {})},
        )
        record.posted += 1
        if response.status_code in (200, 202):
            for index, event_id in enumerate(response.json().get("ids", [])):
                record.events[event_id] = (line["id"], index)
        else:
            record.errors.append(
                {"line_id": line["id"], "status": response.status_code, "body": response.text[:300]}
            )
        if progress is not None:
            progress(n + 1, len(parsed), at)
    return record


def _shift(body: Any, record: PlayRecord) -> Any:
    """The alerts' times moved onto the wall clock, as if they had happened now."""
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        return body
    alerts = []
    for alert in body["alerts"]:
        alert = dict(alert)
        for key in ("startsAt", "endsAt"):
            value = alert.get(key)
            if isinstance(value, str) and value and value != GO_ZERO:
                alert[key] = _iso(record.to_wall(_time(value)))
        alerts.append(alert)
    return dict(body, alerts=alerts)


def read_back(
    client: httpx.Client, record: PlayRecord, headers: dict[str, str] | None = None
) -> list[Ticket]:
    """The server's tickets that hold events of this play, on the scenario's clock."""
    details: dict[int, dict[str, Any]] = {}
    for summary in _pages(client, "/api/v1/incidents", headers):
        response = client.get(
            f"/api/v1/incidents/{summary['id']}", params={"alerts_limit": 1}, headers=headers
        )
        response.raise_for_status()
        details[summary["id"]] = response.json()
    parents = {i: _parent(d) for i, d in details.items()}
    tickets: dict[int, Ticket] = {}
    for incident_id, detail in details.items():
        ticket = detail.get("ticket")
        if ticket is None:
            continue
        resolutions = [
            record.to_virtual(_time(e["at"]))
            for e in detail.get("timeline", [])
            if e["kind"] == "resolved"
        ]
        tickets[incident_id] = Ticket(
            str(ticket["id"]),
            detail.get("team"),
            record.to_virtual(_time(ticket["opened_at"])),
            resolutions,
        )
    for incident_id, detail in details.items():
        owner = _above(incident_id, tickets, parents)
        if owner is None:
            continue
        listed = detail.get("explain", {}).get("events", [])
        for event in listed:
            ref = record.events.get(event["id"])
            if ref is not None:
                owner.alerts.add(ref)
        record.unseen_events += max(0, int(detail.get("event_count") or 0) - len(listed))
    return [t for t in tickets.values() if t.alerts]


def _pages(client: httpx.Client, path: str, headers: dict[str, str] | None) -> list[Any]:
    items: list[Any] = []
    while True:
        response = client.get(path, params={"limit": PAGE, "offset": len(items)}, headers=headers)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def _parent(detail: dict[str, Any]) -> int | None:
    for name in PARENT_COLUMNS:
        value = detail.get(name)
        if isinstance(value, int):
            return value
    return None


def _above(
    incident_id: int, tickets: dict[int, Ticket], parents: dict[int, int | None]
) -> Ticket | None:
    seen: set[int] = set()
    current: int | None = incident_id
    while current is not None and current not in seen:
        if current in tickets:
            return tickets[current]
        seen.add(current)
        current = parents.get(current)
    return None


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
