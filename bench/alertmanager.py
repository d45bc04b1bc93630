"""Alertmanager's delivery of alert episodes as webhook notifications (the scenario lab).

Per aggregation group (the route's `group_by` labels: alertname, cluster,
service), as Alertmanager's dispatcher and notification log do it:

- the group is created when its first alert fires; it is flushed
  `group_wait` later, then every `group_interval`;
- a flush sends a notification when a firing alert is new since the last
  notification, when an alert resolved since (`send_resolved`), when every
  alert resolved after a firing notification, or, unchanged, once
  `repeat_interval` passed; a group never notified sends nothing while
  nothing fires (a blip that resolves before `group_wait` is never seen);
- after a flush the resolved alerts leave the group; an empty group is gone,
  and the next alert with its labels starts a new one (`group_wait` again);
- a notification carries every alert of the group, firing and resolved, each
  with its `startsAt` (and `endsAt` once resolved): state sampled at the
  flush, so an alert that flaps between two flushes shows as what it is then;
- a second Alertmanager (HA) sends a copy of some notifications: usually
  `peer_timeout` later (its notification log had not heard of the first
  one's), sometimes within a few seconds (gossip lagging);
- a webhook call that failed is retried: the same body again, seconds later.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

__all__ = ["GO_ZERO", "HEADERS", "AmSettings", "Delivered", "Episode", "deliver", "group_key_of"]

GO_ZERO = "0001-01-01T00:00:00Z"
HEADERS = {"content-type": "application/json", "user-agent": "Alertmanager/0.27.0"}
GROUP_BY = ("alertname", "cluster", "service")
RECEIVER = "autoticket"
_STAT = {"first": "notifications", "ha": "ha_copies", "retry": "retries"}


@dataclass(frozen=True, slots=True)
class AmSettings:
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=1)
    ha_duplicate_share: float = 0.10  # notifications the second Alertmanager sends too
    ha_fast_share: float = 0.25  # of those: within seconds (gossip lag), not peer_timeout
    peer_timeout: timedelta = timedelta(seconds=15)
    retry_share: float = 0.03  # webhook calls retried (the first answer was lost)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: v.total_seconds() if isinstance(v, timedelta) else v for k, v in out.items()}


@dataclass(slots=True)
class Episode:
    """One alert (label set) within one incident; `intervals` are its firing spans."""

    id: str
    incident: str
    component: str
    labels: dict[str, str]
    annotations: dict[str, str]
    intervals: list[tuple[datetime, datetime]]


@dataclass
class Delivered:
    lines: list[bytes]
    deliveries: dict[str, list[str]]  # line id -> episode id per alert of the body
    received: dict[str, str]  # line id -> received_at
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Sent:
    at: datetime
    body: dict[str, Any]
    episodes: list[str]
    copy: str  # "first" | "ha" | "retry"


def group_key_of(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{labels.get(k, "")}"' for k in GROUP_BY)
    return f"{{}}:{{{inner}}}"


def _fingerprint(labels: dict[str, str]) -> str:
    text = "\x00".join(f"{k}\x01{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Alert:
    """One label set of a group: its episodes' intervals, merged and time-ordered."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.annotations: dict[str, dict[str, str]] = {}  # episode -> its annotations
        self.spans: list[tuple[datetime, datetime, str]] = []  # start, end, episode
        self.starts: list[datetime] = []

    def add(self, episode: Episode) -> None:
        self.annotations[episode.id] = episode.annotations
        for a, b in episode.intervals:
            self.spans.append((a, b, episode.id))
        self.spans.sort()
        self.starts = [s[0] for s in self.spans]

    def at(self, t: datetime) -> tuple[bool, tuple[datetime, datetime, str] | None]:
        """(firing at t, the span that is current or ended last before t)."""
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return False, None
        span = self.spans[i]
        return span[0] <= t < span[1], span


def deliver(episodes: list[Episode], am: AmSettings, rng: random.Random, seed: int) -> Delivered:
    groups: dict[str, dict[str, _Alert]] = {}
    for e in episodes:
        key = group_key_of(e.labels)
        fp = _fingerprint(e.labels)
        alert = groups.setdefault(key, {}).setdefault(fp, _Alert(e.labels))
        alert.add(e)
    sent: list[_Sent] = []
    for key in sorted(groups):
        sent += _run_group(key, groups[key], am, rng)
    sent.sort(key=lambda s: (s.at, s.body["groupKey"], s.copy))
    lines: list[bytes] = []
    deliveries: dict[str, list[str]] = {}
    received: dict[str, str] = {}
    stats = {"notifications": 0, "ha_copies": 0, "retries": 0}
    for n, s in enumerate(sent):
        line_id = f"s{seed}-{n:06d}"
        stats[_STAT[s.copy]] += 1
        at = _iso(s.at)
        line = {
            "id": line_id,
            "source": "alertmanager",
            "received_at": at,
            "headers": HEADERS,
            "body": s.body,
        }
        lines.append(orjson.dumps(line))
        deliveries[line_id] = s.episodes
        received[line_id] = at
    return Delivered(lines, deliveries, received, stats)


def _run_group(
    key: str, alerts: dict[str, _Alert], am: AmSettings, rng: random.Random
) -> list[_Sent]:
    """Every notification of one group key, over all its lives."""
    fire_times = sorted(a for alert in alerts.values() for a, _, _ in alert.spans)
    out: list[_Sent] = []
    last_firing: set[str] | None = None  # the notification log's entry: firing fps
    last_resolved: set[str] = set()
    last_sent: datetime | None = None
    i = 0
    while i < len(fire_times):
        created = fire_times[i]
        members: set[str] = set()
        flush = created + am.group_wait
        while True:
            # Alerts that fired since the group was created (or since the last flush).
            members |= {
                fp
                for fp, al in alerts.items()
                if al.at(flush)[0] or any(created <= a <= flush for a, _, _ in al.spans)
            }
            firing = {fp for fp in members if alerts[fp].at(flush)[0]}
            resolved = members - firing
            if _needs_update(last_firing, last_resolved, last_sent, firing, resolved, flush, am):
                body, eps = _body(key, alerts, sorted(members), flush)
                out += _copies(flush, body, eps, am, rng)
                last_firing, last_resolved, last_sent = firing, resolved, flush
            members = set(firing)  # resolved alerts leave the group after the flush
            if not members:
                break
            created = flush
            flush += am.group_interval
        # The next life starts with the first alert firing after this flush.
        i = bisect.bisect_right(fire_times, flush)
    return out


def _needs_update(
    last_firing: set[str] | None,
    last_resolved: set[str],
    last_sent: datetime | None,
    firing: set[str],
    resolved: set[str],
    now: datetime,
    am: AmSettings,
) -> bool:
    if last_firing is None:
        return bool(firing)
    if not firing <= last_firing:
        return True
    if not firing:
        return bool(last_firing)
    if not resolved <= last_resolved:
        return True
    return last_sent is not None and now - last_sent >= am.repeat_interval


def _body(
    key: str, alerts: dict[str, _Alert], members: list[str], at: datetime
) -> tuple[dict[str, Any], list[str]]:
    items, episodes = [], []
    any_firing = False
    for fp in members:
        alert = alerts[fp]
        firing, span = alert.at(at)
        assert span is not None
        any_firing |= firing
        items.append(
            {
                "status": "firing" if firing else "resolved",
                "labels": alert.labels,
                "annotations": alert.annotations[span[2]],
                "startsAt": _iso(span[0]),
                "endsAt": GO_ZERO if firing else _iso(span[1]),
                "generatorURL": f"http://prometheus.{alert.labels['cluster']}.example:9090/graph",
                "fingerprint": fp,
            }
        )
        episodes.append(span[2])
    first = alerts[members[0]].labels
    common = {k: v for k, v in first.items() if all(alerts[m].labels.get(k) == v for m in members)}
    body = {
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
        "status": "firing" if any_firing else "resolved",
        "receiver": RECEIVER,
        "groupLabels": {k: first.get(k, "") for k in GROUP_BY},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager-0.example:9093",
        "alerts": items,
    }
    return body, episodes


def _copies(
    at: datetime, body: dict[str, Any], episodes: list[str], am: AmSettings, rng: random.Random
) -> list[_Sent]:
    first = at + timedelta(milliseconds=rng.randint(5, 80))
    out = [_Sent(first, body, episodes, "first")]
    if rng.random() < am.retry_share:
        out.append(_Sent(first + timedelta(seconds=rng.uniform(1, 20)), body, episodes, "retry"))
    if rng.random() < am.ha_duplicate_share:
        if rng.random() < am.ha_fast_share:
            lag = timedelta(seconds=rng.uniform(0.002, 3.0))
        else:
            lag = am.peer_timeout + timedelta(seconds=rng.uniform(0, 1.0))
        copy = dict(body, externalURL="http://alertmanager-1.example:9093")
        out.append(_Sent(at + lag, copy, episodes, "ha"))
    return out


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
