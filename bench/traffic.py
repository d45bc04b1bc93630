"""Deterministic, realistic Alertmanager webhook traffic.

The model follows what Alertmanager does, per alert group (one group per
alertname, service and environment; its alerts differ by pod or instance):

- a group's first notification goes out `group_wait` after its first alert
  fires; after that Alertmanager looks every `group_interval` and sends when
  the group changed (an alert joined or resolved), or, unchanged, once
  `repeat_interval` has passed: most traffic is therefore unchanged repeats;
- a group whose alerts have all resolved sends one resolved notification and
  is gone; an alert firing again later starts a new group (flapping: again
  within an hour, or hours later);
- every notification is sent by two HA Alertmanagers, a few ms apart;
- some alerts were already firing when the window starts, some services carry
  a `team` label, severities are mixed (info ones and the Watchdog are
  dropped by the example routes).

Everything comes from one `random.Random(seed)`: the same spec gives the same
bytes.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "HEADERS",
    "SOURCE",
    "Notification",
    "TrafficSpec",
    "TrafficStats",
    "deliveries",
    "generate",
    "iter_lines",
    "probe_body",
    "render_body",
    "write_ndjson",
]

SOURCE = "alertmanager"
HEADERS = {"content-type": "application/json", "user-agent": "Alertmanager/0.27.0"}
_GO_ZERO = "0001-01-01T00:00:00Z"
_MIN = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    events: int = 100_000  # alerts in bodies, HA duplicates included (upper bound)
    span: timedelta = timedelta(hours=24)  # virtual time the traffic covers
    seed: int = 7
    services: int = 200
    environments: tuple[tuple[str, float], ...] = (("prod", 0.5), ("staging", 0.3), ("dev", 0.2))
    start: datetime = datetime(2024, 5, 14, tzinfo=UTC)
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=1)
    max_alerts: int = 8  # alerts per group
    replicas: int = 2  # HA Alertmanagers, each sending every notification
    flap_probability: float = 0.15
    already_firing: float = 0.12  # share of groups that started before the window


@dataclass(frozen=True, slots=True)
class Rule:
    alertname: str
    severity: str
    summary: str
    description: str
    target: str  # the label telling the group's alerts apart
    weight: int
    chronic: bool = False


_RULES = (
    Rule("HighErrorRate", "critical", "{service} is failing requests",
         "{value}% of requests returned 5xx for 10 minutes.", "pod", 8),
    Rule("LatencyHigh", "warning", "{service} p99 latency is high",
         "p99 latency is {value}s, above 1.5s for 15 minutes.", "pod", 10),
    Rule("PodRestarting", "error", "{service} pods are restarting",
         "Pod restarted {value} times in 10 minutes.", "pod", 8),
    Rule("PodCrashLooping", "critical", "{service} is crash looping",
         "Container is in CrashLoopBackOff ({value} restarts).", "pod", 3),
    Rule("TargetDown", "high", "{service} targets are down",
         "{value}% of scrape targets are down.", "instance", 6),
    Rule("MemoryPressure", "warning", "{service} is close to its memory limit",
         "Working set is at {value}% of the limit.", "pod", 6),
    Rule("CPUThrottlingHigh", "info", "{service} is CPU throttled",
         "{value}% of CPU periods were throttled.", "pod", 5),
    Rule("KafkaConsumerLagHigh", "warning", "{service} consumer lag is high",
         "Consumer group lag is {value}k messages.", "instance", 4),
    Rule("DiskFillingUp", "warning", "{service} disk will fill within 24h",
         "Volume is {value}% full.", "instance", 4, chronic=True),
    Rule("CertificateExpiringSoon", "warning", "{service} certificate expires soon",
         "The TLS certificate expires in {value} hours.", "instance", 2, chronic=True),
)  # fmt: skip
_WATCHDOG = Rule("Watchdog", "none", "Alerting pipeline is alive",
                 "Always firing; checks the pipeline end to end.", "prometheus", 0)  # fmt: skip

_PREFIXES = (
    "checkout", "payments", "search", "catalog", "cart", "auth", "user", "inventory",
    "shipping", "pricing", "ads", "recs", "media", "notify", "billing", "ledger", "fraud",
    "geo", "report", "export",
)  # fmt: skip
_SUFFIXES = ("api", "worker", "gateway", "db", "cache", "cron", "frontend", "stream", "indexer",
             "proxy")  # fmt: skip
_TEAMS = ("payments", "discovery", "platform", "growth", "identity", "logistics", "data")


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    team: str
    team_label: bool


@dataclass(frozen=True, slots=True)
class Group:
    service: Service
    environment: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class Firing:
    """One firing interval of one alert (an alert is its group plus its target)."""

    target: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    at: datetime
    group: Group
    kind: str  # first | changed | repeat | resolved
    alerts: tuple[tuple[Firing, bool], ...]  # (interval, still firing at `at`)
    replica: int = 0

    @property
    def events(self) -> int:
        return len(self.alerts)


@dataclass(slots=True)
class TrafficStats:
    lines: int = 0
    events: int = 0
    events_by_kind: Counter[str] = field(default_factory=Counter)
    lines_by_kind: Counter[str] = field(default_factory=Counter)
    groups: int = 0
    services: int = 0
    first_at: str | None = None
    last_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "lines_by_kind": dict(sorted(self.lines_by_kind.items())),
            "groups": self.groups,
            "services": self.services,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


# -- the world ---------------------------------------------------------------------


def _services(rng: random.Random, count: int) -> list[Service]:
    names = ["checkout", "payments-api", "search", "node-exporter"]
    names += [f"{p}-{s}" for s in _SUFFIXES for p in _PREFIXES if f"{p}-{s}" not in names]
    names += [f"svc-{i:04d}" for i in range(max(0, count - len(names)))]
    out = []
    for i, name in enumerate(names[:count]):
        prefix = name.split("-", 1)[0]
        team = "payments" if prefix in ("checkout", "payments") else _TEAMS[i % len(_TEAMS)]
        out.append(Service(name, team, team_label=rng.random() < 0.5))
    return out


def _targets(rng: random.Random, group: Group, count: int) -> list[str]:
    name = group.service.name
    if group.rule.target == "pod":
        rs = f"{rng.getrandbits(36):09x}"
        return [f"{name}-{rs}-{rng.getrandbits(24):06x}" for _ in range(count)]
    return [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{i + 10}:9100" for i in range(count)]


def _size(rng: random.Random, most: int) -> int:
    weights = [45, 20, 12, 8, 6, 4, 3, 2][:most] + [1] * max(0, most - 8)
    return rng.choices(range(1, most + 1), weights=weights)[0]


def _duration(rng: random.Random, chronic: bool) -> timedelta:
    roll = 1.0 if chronic else rng.random()
    if roll < 0.45:
        return timedelta(minutes=rng.uniform(2, 25))
    if roll < 0.75:
        return timedelta(minutes=rng.uniform(25, 180))
    return timedelta(hours=rng.uniform(3, 36))


def _firings(rng: random.Random, spec: TrafficSpec, group: Group, t0: datetime) -> list[Firing]:
    targets = _targets(rng, group, _size(rng, spec.max_alerts))
    base = _duration(rng, group.rule.chronic)
    out: list[Firing] = []
    for target in targets:
        # Most alerts of a group come from one rule evaluation; some join later.
        late = rng.random() < 0.3
        start = t0 + min(base / 2, 10 * _MIN) * rng.random() if late else t0
        out.append(Firing(target, start, start + base * rng.uniform(0.8, 1.1)))
    if rng.random() < spec.flap_probability:
        again = out[rng.randrange(len(out))]
        end = max(f.end for f in out)
        for _ in range(rng.randint(1, 3)):
            gap = (
                timedelta(minutes=rng.uniform(3, 40))  # within reopen_within (1h)
                if rng.random() < 0.6
                else timedelta(minutes=rng.uniform(70, 360))  # beyond it: a new incident
            )
            start = end + gap
            end = start + timedelta(minutes=rng.uniform(2, 30))
            out.append(Firing(again.target, start, end))
    return out


# -- Alertmanager's dispatch loop ------------------------------------------------------


def _notify(spec: TrafficSpec, group: Group, firings: list[Firing]) -> Iterator[Notification]:
    """The notifications Alertmanager sends for one group, before replication."""
    stop = spec.start + spec.span
    tick = min(f.start for f in firings) + spec.group_wait
    last_sent: datetime | None = None
    last_firing: frozenset[str] = frozenset()
    shown: set[int] = set()  # firings that went out as firing
    done: set[int] = set()  # firings whose resolution went out
    for _ in range(100_000):
        if tick >= stop:
            return
        firing = {i for i, f in enumerate(firings) if f.start <= tick < f.end}
        targets = frozenset(firings[i].target for i in firing)
        resolved = [
            i
            for i in sorted(shown - done - firing)
            if firings[i].end <= tick and firings[i].target not in targets
        ]
        kind = None
        if last_sent is None:
            kind = "first" if firing else None
        elif targets != last_firing or resolved:
            kind = "changed" if firing else "resolved"
        elif tick - last_sent >= spec.repeat_interval:
            kind = "repeat"
        if kind is not None:
            by_target = {firings[i].target: i for i in sorted(firing)}
            alerts = [(firings[i], True) for i in by_target.values()]
            alerts += [(firings[i], False) for i in resolved]
            if tick >= spec.start:
                yield Notification(tick, group, kind, tuple(alerts))
            shown.update(by_target.values())
            done.update(resolved)
            last_sent, last_firing = tick, targets
        if not firing and not (shown - done):
            later = [f.start for f in firings if f.start > tick]
            if not later:
                return
            # The group is gone; an alert firing again makes a new one.
            tick, last_sent, last_firing = min(later) + spec.group_wait, None, frozenset()
            continue
        tick += spec.group_interval


def _replicate(rng: random.Random, spec: TrafficSpec, n: Notification) -> list[Notification]:
    at = n.at + timedelta(milliseconds=rng.uniform(5, 150))
    out = []
    for replica in range(spec.replicas):
        out.append(Notification(at, n.group, n.kind, n.alerts, replica))
        at += timedelta(milliseconds=rng.uniform(2, 30))
    return out


def generate(spec: TrafficSpec) -> list[Notification]:
    """All notifications of the window, in time order, at most `spec.events` alerts."""
    rng = random.Random(spec.seed)
    services = _services(rng, spec.services)
    envs = [e for e, _ in spec.environments]
    env_weights = [w for _, w in spec.environments]
    rule_weights = [r.weight for r in _RULES]
    busy: dict[Group, list[tuple[datetime, datetime]]] = {}
    out: list[Notification] = []
    watchdog = Service("prometheus", "platform", team_label=False)
    for env in envs:
        group = Group(watchdog, env, _WATCHDOG)
        forever = [Firing("monitoring/k8s", spec.start - _HOUR, spec.start + 2 * spec.span)]
        for n in _notify(spec, group, forever):
            out.extend(_replicate(rng, spec, n))
    total = sum(n.events for n in out)
    for _ in range(max(1_000, spec.events)):
        if total >= spec.events:
            break
        offset = rng.random() * spec.span
        if rng.random() < spec.already_firing:
            offset = -rng.random() * 12 * _HOUR
        t0 = spec.start + offset
        group = _free_group(rng, busy, services, envs, env_weights, rule_weights, t0)
        if group is None:
            continue
        firings = _firings(rng, spec, group, t0)
        last = max(f.end for f in firings) + 2 * spec.group_interval
        busy.setdefault(group, []).append((t0, last))
        for n in _notify(spec, group, firings):
            copies = _replicate(rng, spec, n)
            out.extend(copies)
            total += sum(c.events for c in copies)
    out.sort(key=lambda n: (n.at, n.replica))
    return _trim(out, spec.events)


def _free_group(
    rng: random.Random,
    busy: dict[Group, list[tuple[datetime, datetime]]],
    services: list[Service],
    envs: list[str],
    env_weights: list[float],
    rule_weights: list[int],
    t0: datetime,
) -> Group | None:
    """A group that has no episode around t0 (Alertmanager has one group per key)."""
    for _ in range(8):
        group = Group(
            rng.choice(services),
            rng.choices(envs, weights=env_weights)[0],
            rng.choices(_RULES, weights=rule_weights)[0],
        )
        if all(not (a - 12 * _HOUR <= t0 <= b) for a, b in busy.get(group, [])):
            return group
    return None


def _trim(notifications: list[Notification], events: int) -> list[Notification]:
    total = 0
    for i, n in enumerate(notifications):
        total += n.events
        if total > events:
            return notifications[:i]
    return notifications


# -- bodies and lines ------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _labels(group: Group, target: str) -> dict[str, str]:
    labels = {
        "alertname": group.rule.alertname,
        "environment": group.environment,
        "job": group.service.name,
        "namespace": f"{group.service.name.split('-', 1)[0]}-{group.environment}",
        "service": group.service.name,
        "severity": group.rule.severity,
        group.rule.target: target,
    }
    if group.service.team_label:
        labels["team"] = group.service.team
    return dict(sorted(labels.items()))


def _alert(group: Group, firing: Firing, still: bool, at: datetime) -> dict[str, Any]:
    labels = _labels(group, firing.target)
    fingerprint = hashlib.sha256(orjson.dumps(labels)).hexdigest()[:16]
    value = 5 + zlib.crc32(f"{fingerprint}{at.timestamp():.0f}".encode()) % 950 / 10
    rule = group.rule
    annotations = {
        "summary": rule.summary.format(service=group.service.name),
        "description": rule.description.format(value=f"{value:.1f}"),
    }
    if rule.severity == "critical":
        annotations["runbook_url"] = f"https://runbooks.example.com/{rule.alertname.lower()}"
    return {
        "status": "firing" if still else "resolved",
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(firing.start),
        "endsAt": _GO_ZERO if still else _iso(firing.end),
        "generatorURL": f"http://prometheus-{group.environment}:9090/graph?g0.expr="
        f"{rule.alertname}&g0.tab=1",
        "fingerprint": fingerprint,
    }


def render_body(n: Notification) -> dict[str, Any]:
    """The webhook (version 4) body of a notification."""
    g = n.group
    alerts = [_alert(g, f, still, n.at) for f, still in n.alerts]
    common = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    group_labels = {"alertname": g.rule.alertname, "environment": g.environment}
    group_labels["service"] = g.service.name
    key = ", ".join(f'{k}="{v}"' for k, v in group_labels.items())
    return {
        "version": "4",
        "groupKey": f"{{}}/{{}}:{{{key}}}",
        "truncatedAlerts": 0,
        "status": "firing" if any(still for _, still in n.alerts) else "resolved",
        "receiver": "autoticket",
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": f"http://alertmanager-{n.replica}.monitoring:9093",
        "alerts": alerts,
    }


def iter_lines(
    notifications: Iterable[Notification], stats: TrafficStats | None = None
) -> Iterator[bytes]:
    """Replay lines (NDJSON, newline included) of the notifications."""
    groups: set[Group] = set()
    services: set[Service] = set()
    for i, n in enumerate(notifications):
        line = {
            "id": f"am-{i + 1:07d}",
            "source": SOURCE,
            "received_at": _iso(n.at),
            "headers": HEADERS,
            "body": render_body(n),
        }
        if stats is not None:
            stats.lines += 1
            stats.events += n.events
            stats.events_by_kind[n.kind] += n.events
            stats.lines_by_kind[n.kind] += 1
            stats.first_at = stats.first_at or line["received_at"]
            stats.last_at = line["received_at"]
            groups.add(n.group)
            services.add(n.group.service)
            stats.groups, stats.services = len(groups), len(services)
        yield orjson.dumps(line) + b"\n"


def write_ndjson(path: Path, spec: TrafficSpec) -> TrafficStats:
    stats = TrafficStats()
    with path.open("wb") as fh:
        fh.writelines(iter_lines(generate(spec), stats))
    return stats


def deliveries(spec: TrafficSpec) -> Iterator[tuple[str, bytes]]:
    """(source, body) pairs in time order, for posting to a live server."""
    for n in generate(spec):
        yield SOURCE, orjson.dumps(render_body(n))


def probe_body(tag: str, index: int, at: datetime) -> dict[str, Any]:
    """A fresh firing alert in a group of its own: its incident and ticket are new.

    Its summary (the ticket's title) is `probe <tag>-<index>`.
    """
    rule = Rule("BenchProbe", "critical", f"probe {tag}-{index}", "latency probe", "pod", 0)
    group = Group(Service(f"probe-{tag}-{index}", "platform", False), "prod", rule)
    firing = Firing(f"probe-{index}", at, at + _HOUR)
    return render_body(Notification(at, group, "first", ((firing, True),)))
