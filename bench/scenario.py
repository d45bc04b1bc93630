"""The scenario lab's generator: a fleet, its faults and noise, with ground truth (issue 15).

`build_scenario(spec)` makes one seeded scenario:

- a **fleet**: services with an owning team, a tier and dependencies
  (`depends_on`), running in two prod regions and in staging;
- **faults** (actionable incidents): deploy regressions raising several
  alertnames on one service, crash loops, database exhaustion with alerts on
  the services that depend on the database, disk fill, the same alert in prod
  and staging (two incidents), recurrences hours apart (two incidents),
  regional storms (many services of one cluster within minutes), security
  findings;
- **noise**: transients that resolve within a minute or two, info alerts,
  flapping alerts;
- **delivery** as Alertmanager does it (`alertmanager.py`): group_wait,
  group_interval, repeat_interval re-sends, resolved notifications, HA
  duplicates from a second Alertmanager and webhook retries.

The truth says, for every delivered alert (line id, index in the body), its
*episode* (one alert label set within one incident), and for each episode
the real incident it belongs to (`incident`, the root), the part of it
(`component`: a dependent's symptoms, one service of a storm; the root
itself otherwise), whether it is actionable, and its true owning team.

Everything comes from `random.Random(seed)`: the same spec gives the same
bytes (the stream, the truth and the catalog).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.alertmanager import AmSettings, Episode, deliver

__all__ = [
    "ACTIONABLE_KINDS",
    "COMPOSITE_KINDS",
    "FLEET",
    "NOISE_KINDS",
    "IncidentTruth",
    "Scenario",
    "ScenarioSpec",
    "Service",
    "build_scenario",
    "catalog_yaml",
    "config_yaml",
    "load_scenario",
    "schedules_yaml",
    "write_scenario",
]

DAY0 = datetime(2026, 11, 9, tzinfo=UTC)
_MIN = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
# After a fault, its service (in that cluster, of that class) stays free this long: longer
# than reopen_within (1h) plus resolve_after, so two faults are two incidents by any
# reading; recurrences are the explicit case of the same alert again, hours later.
SPACING = timedelta(minutes=100)


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    team: str
    tier: str
    depends_on: tuple[str, ...] = ()
    kind: str = "app"  # app | db | cache
    team_label: bool = True  # whether its own alert rules carry a `team` label


# The fleet: every service runs in prod-eu-west, prod-us-east and staging-eu-west.
FLEET: tuple[Service, ...] = (
    Service("orders-db", "data", "1", kind="db", team_label=False),
    Service("users-db", "data", "1", kind="db", team_label=False),
    Service("catalog-db", "data", "1", kind="db", team_label=False),
    Service("session-cache", "data", "2", kind="cache", team_label=False),
    Service("checkout", "payments", "1", ("payments-api", "orders-db", "users-db")),
    Service("payments-api", "payments", "1", ("orders-db",)),
    Service("billing", "payments", "2", ("orders-db",), team_label=False),
    Service("auth", "identity", "1", ("users-db", "session-cache")),
    Service("accounts", "identity", "2", ("users-db",)),
    Service("profile", "identity", "3", ("users-db", "auth"), team_label=False),
    Service("search", "discovery", "1", ("catalog-db",)),
    Service("catalog", "discovery", "1", ("catalog-db",)),
    Service("recommendations", "discovery", "2", ("catalog", "users-db")),
    Service("reviews", "discovery", "3", ("catalog-db", "users-db"), team_label=False),
    Service("shipping", "logistics", "2", ("orders-db",)),
    Service("inventory", "logistics", "1", ("catalog-db", "orders-db")),
    Service("notifications", "logistics", "3", ("users-db",), team_label=False),
    Service("gateway", "platform", "1", ("auth",)),
    Service("ingress", "platform", "1"),
    Service("metrics-store", "platform", "2", kind="db"),
)
SERVICES = {s.name: s for s in FLEET}
APPS = tuple(s.name for s in FLEET if s.kind == "app")
DATABASES = tuple(
    s.name for s in FLEET if s.kind == "db" and any(s.name in o.depends_on for o in FLEET)
)
STATEFUL = (*(s.name for s in FLEET if s.kind in ("db", "cache")), "search")
PROD_CLUSTERS = ("prod-eu-west", "prod-us-east")
STAGING_CLUSTER = "staging-eu-west"
PLATFORM_TEAM = "platform"  # owns regional storms (the infrastructure under every service)
SECURITY_TEAM = "security"

ACTIONABLE_KINDS = (
    "deploy-regression",
    "crash-loop",
    "db-exhaustion",
    "disk-fill",
    "env-split",
    "recurrence",
    "storm",
    "security",
)
NOISE_KINDS = ("transient", "info", "flapping")
COMPOSITE_KINDS = ("db-exhaustion", "storm")  # incidents with parts on other services


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    seed: int = 1
    span: timedelta = timedelta(hours=24)
    scale: float = 1.0  # multiplies every count below
    # Faults per span (before `scale`).
    deploy_regressions: int = 6
    crash_loops: int = 4
    db_exhaustions: int = 2
    disk_fills: int = 2
    env_splits: int = 2  # each is two incidents
    recurrences: int = 3  # each is two incidents
    storms: int = 2
    security_findings: int = 2
    # Noise per span.
    transients: int = 40
    infos: int = 10
    flapping: int = 6
    am: AmSettings = field(default_factory=AmSettings)

    def count(self, name: str) -> int:
        base = getattr(self, name)
        return max(1, round(base * self.scale)) if base else 0


@dataclass(slots=True)
class IncidentTruth:
    id: str
    kind: str
    actionable: bool
    team: str
    service: str
    environment: str
    cluster: str
    parent: str | None = None  # the root incident of a part (dependent, storm member)
    start: str = ""  # the first alert's startsAt (the fault's start as alerting saw it)
    end: str = ""  # the last alert's resolution: the incident is active in [start, end)
    summary: str = ""


@dataclass
class Scenario:
    spec: ScenarioSpec
    lines: list[bytes]
    incidents: dict[str, IncidentTruth]
    # episode id -> incident (the real one), component (its part), parent (the incident,
    # for a part), kind, actionable, team (the true owner), labels, intervals
    episodes: dict[str, dict[str, Any]]
    deliveries: dict[str, list[str]]  # line id -> the episode of each alert in its body
    received: dict[str, str]  # line id -> received_at
    stats: dict[str, Any] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        spec = asdict(self.spec)
        spec["span"] = self.spec.span.total_seconds()
        spec["am"] = self.spec.am.to_dict()
        return {
            "seed": self.spec.seed,
            "spec": spec,
            "incidents": [asdict(i) for i in self.incidents.values()],
            "episodes": self.episodes,
            "deliveries": self.deliveries,
            "received": self.received,
            "stats": self.stats,
        }


class _World:
    """What the fault builders write into: incidents and their episodes."""

    def __init__(self, rng: random.Random, spec: ScenarioSpec) -> None:
        self.rng = rng
        self.spec = spec
        self.incidents: dict[str, IncidentTruth] = {}
        self.episodes: list[Episode] = []
        self.counter = 0
        self.busy: dict[tuple[str, ...], list[tuple[datetime, datetime]]] = {}

    def incident(
        self,
        kind: str,
        team: str,
        service: str,
        cluster: str,
        summary: str,
        parent: str | None = None,
    ) -> IncidentTruth:
        self.counter += 1
        inc = IncidentTruth(
            id=f"i{self.counter:03d}",
            kind=kind,
            actionable=kind in ACTIONABLE_KINDS,
            team=team,
            service=service,
            environment=_env(cluster),
            cluster=cluster,
            parent=parent,
            summary=summary,
        )
        self.incidents[inc.id] = inc
        return inc

    def alert(
        self,
        inc: IncidentTruth,
        alertname: str,
        severity: str,
        intervals: list[tuple[datetime, datetime]],
        summary: str,
        service: str | None = None,
        team_label: str | None = None,
        **extra: str,
    ) -> None:
        service = service or inc.service
        labels = {
            "alertname": alertname,
            "severity": severity,
            "service": service,
            "environment": inc.environment,
            "cluster": inc.cluster,
            "region": inc.cluster.split("-", 1)[1],
            "namespace": service,
            **extra,
        }
        if team_label is None and SERVICES.get(service, Service("", "", "")).team_label:
            team_label = SERVICES[service].team
        if team_label:
            labels["team"] = team_label
        episode = Episode(
            id=f"e{len(self.episodes) + 1:04d}",
            incident=inc.parent or inc.id,
            component=inc.id,
            labels=labels,
            annotations={"summary": summary, "description": f"{summary} ({inc.kind})"},
            intervals=intervals,
        )
        self.episodes.append(episode)

    def free(self, key: tuple[str, ...], start: datetime, end: datetime) -> bool:
        """Whether `key` (a service in a cluster, say) has nothing else in [start, end)."""
        return all(end <= a or start >= b for a, b in self.busy.get(key, []))

    def take(self, key: tuple[str, ...], start: datetime, end: datetime) -> None:
        self.busy.setdefault(key, []).append((start, end))


def build_scenario(spec: ScenarioSpec) -> Scenario:
    rng = random.Random(spec.seed)
    world = _World(rng, spec)
    builders: list[tuple[str, Callable[[_World, datetime], bool]]] = [
        ("storms", _storm),
        ("db_exhaustions", _db_exhaustion),
        ("deploy_regressions", _deploy_regression),
        ("crash_loops", _crash_loop),
        ("disk_fills", _disk_fill),
        ("env_splits", _env_split),
        ("recurrences", _recurrence),
        ("security_findings", _security),
        ("flapping", _flapping),
        ("infos", _info),
        ("transients", _transient),
    ]
    latest = spec.span - 7 * _HOUR if spec.span > 10 * _HOUR else spec.span / 3
    for name, build in builders:
        for _ in range(spec.count(name)):
            for _attempt in range(40):  # a free slot for it (services are not double-booked)
                start = DAY0 + 20 * _MIN + rng.random() * latest
                start = start.replace(microsecond=0)
                if build(world, start):
                    break
    _close_times(world)
    delivered = deliver(world.episodes, spec.am, random.Random(f"{spec.seed}-am"), spec.seed)
    episodes = {
        e.id: {
            "incident": e.incident,
            "component": e.component,
            "parent": e.incident if e.component != e.incident else None,
            "kind": world.incidents[e.incident].kind,
            "actionable": world.incidents[e.incident].actionable,
            "team": world.incidents[e.incident].team,
            "labels": e.labels,
            "intervals": [[_iso(a), _iso(b)] for a, b in e.intervals],
        }
        for e in world.episodes
    }
    seen = {ep for eps in delivered.deliveries.values() for ep in eps}
    roots = {episodes[ep]["incident"] for ep in seen}
    stats = {
        "lines": len(delivered.lines),
        "alerts_in_bodies": sum(len(v) for v in delivered.deliveries.values()),
        "episodes": len(world.episodes),
        "episodes_delivered": len(seen),
        "incidents": sum(1 for i in world.incidents.values() if i.parent is None),
        "incidents_delivered": len(roots),
        "actionable_delivered": sum(1 for r in roots if world.incidents[r].actionable),
        "noise_delivered": sum(1 for r in roots if not world.incidents[r].actionable),
        **delivered.stats,
    }
    return Scenario(
        spec,
        delivered.lines,
        world.incidents,
        episodes,
        delivered.deliveries,
        delivered.received,
        stats,
    )


def _close_times(world: _World) -> None:
    """Each incident's start and end from its episodes; a root spans its parts."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for e in world.episodes:
        for key in {e.component, e.incident}:
            a = min(i[0] for i in e.intervals)
            b = max(i[1] for i in e.intervals)
            old = spans.get(key)
            spans[key] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
    for inc in world.incidents.values():
        a, b = spans[inc.id]
        inc.start, inc.end = _iso(a), _iso(b)


# -- faults --------------------------------------------------------------------


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 60))


def _pods(service: str, cluster: str, n: int) -> list[str]:
    digest = hashlib.sha1(f"{service}/{cluster}".encode()).hexdigest()
    return [f"{service}-{digest[:8]}-{digest[8 + 3 * i : 11 + 3 * i]}" for i in range(n)]


def _deploy_regression(w: _World, start: datetime) -> bool:
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 20, 90)
    if not w.free((service, cluster), start, start + length + SPACING):
        return False
    w.take((service, cluster), start, start + length + SPACING)
    inc = w.incident(
        "deploy-regression",
        SERVICES[service].team,
        service,
        cluster,
        f"{service} release regressed",
    )
    pods = _pods(service, cluster, 3)
    n_pods = rng.randint(1, 3)
    for pod in pods[:n_pods]:
        a = start + _minutes(rng, 0, 1)
        w.alert(
            inc,
            "HighErrorRate",
            "critical",
            [(a, start + length + _minutes(rng, 0, 2))],
            f"{service} is failing requests",
            pod=pod,
        )
    a = start + _minutes(rng, 1, 4)
    b = start + length + _minutes(rng, 0, 4)
    summary = f"{service} p99 latency is high"
    if rng.random() < 0.5:  # escalates: a label change, so a new alert as the old one ends
        m = a + (b - a) * rng.uniform(0.2, 0.6)
        w.alert(inc, "HighLatencyP99", "warning", [(a, m)], summary)
        w.alert(inc, "HighLatencyP99", "critical", [(m, b)], summary)
    else:
        w.alert(inc, "HighLatencyP99", "warning", [(a, b)], summary)
    if rng.random() < 0.6:
        a = start + _minutes(rng, 3, 8)
        w.alert(
            inc,
            "SLOErrorBudgetBurn",
            "high",
            [(a, start + length + _minutes(rng, 2, 6))],
            f"{service} burns its error budget fast",
        )
    return True


def _crash_loop(w: _World, start: datetime) -> bool:
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 30, 120)
    if not w.free((service, cluster), start, start + length + SPACING):
        return False
    w.take((service, cluster), start, start + length + SPACING)
    inc = w.incident(
        "crash-loop", SERVICES[service].team, service, cluster, f"{service} pods crash-loop"
    )
    for pod in _pods(service, cluster, rng.randint(1, 3)):
        a = start + _minutes(rng, 0, 3)
        w.alert(
            inc,
            "KubePodCrashLooping",
            "warning",
            [(a, start + length)],
            f"pod {pod} is crash looping",
            team_label="",
            pod=pod,
            container=service,
        )
    a = start + _minutes(rng, 5, 10)
    w.alert(
        inc,
        "KubeDeploymentReplicasMismatch",
        "warning",
        [(a, start + length + _MIN)],
        f"deployment {service} has not matched its replicas",
        team_label="",
        deployment=service,
    )
    return True


def _db_exhaustion(w: _World, start: datetime) -> bool:
    """A database runs out of connections; services that depend on it fail too."""
    rng = w.rng
    db = rng.choice(DATABASES)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 15, 60)
    dependents = [s.name for s in FLEET if db in s.depends_on]
    rng.shuffle(dependents)
    dependents = dependents[: rng.randint(2, 4)]
    keys = [(s, cluster) for s in [db, *dependents]]
    if not all(w.free(k, start, start + length + SPACING) for k in keys):
        return False
    for k in keys:
        w.take(k, start, start + length + SPACING)
    root = w.incident(
        "db-exhaustion", SERVICES[db].team, db, cluster, f"{db} ran out of connections"
    )
    w.alert(
        root,
        "PostgresTooManyConnections",
        "critical",
        [(start, start + length)],
        f"{db} is out of connections",
        instance=f"{db}-0",
    )
    for dep in dependents:
        part = w.incident(
            "db-exhaustion",
            SERVICES[db].team,
            dep,
            cluster,
            f"{dep} fails because {db} does",
            parent=root.id,
        )
        a = start + _minutes(rng, 1, 5)
        b = start + length + _minutes(rng, 0, 3)
        for pod in _pods(dep, cluster, rng.randint(1, 2)):
            w.alert(
                part,
                "HighErrorRate",
                "critical",
                [(a + _minutes(rng, 0, 1), b)],
                f"{dep} is failing requests",
                pod=pod,
            )
    return True


def _disk_fill(w: _World, start: datetime) -> bool:
    rng = w.rng
    service = rng.choice(STATEFUL)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 120, 360)
    if not w.free((service, cluster, "disk"), start, start + length + SPACING):
        return False
    w.take((service, cluster, "disk"), start, start + length + SPACING)
    inc = w.incident(
        "disk-fill", SERVICES[service].team, service, cluster, f"{service} disk fills up"
    )
    instance = f"{service}-{rng.randint(0, 2)}"
    w.alert(
        inc,
        "NodeFilesystemSpaceFillingUp",
        "warning",
        [(start, start + length)],
        f"filesystem on {instance} fills within 24h",
        team_label="",
        instance=instance,
        mountpoint="/data",
    )
    late = start + _minutes(rng, 60, 100)
    w.alert(
        inc,
        "NodeFilesystemAlmostOutOfSpace",
        "critical",
        [(late, start + length)],
        f"filesystem on {instance} has less than 5% left",
        team_label="",
        instance=instance,
        mountpoint="/data",
    )
    return True


def _env_split(w: _World, start: datetime) -> bool:
    """The same alert in prod and in staging: two incidents, one each."""
    rng = w.rng
    service = rng.choice(APPS)
    prod = rng.choice(PROD_CLUSTERS)
    lengths = [_minutes(rng, 20, 80), _minutes(rng, 20, 80)]
    keys = [(service, prod), (service, STAGING_CLUSTER)]
    if not all(w.free(k, start, start + lengths[n] + SPACING) for n, k in enumerate(keys)):
        return False
    for n, (svc, cluster) in enumerate(keys):
        w.take((svc, cluster), start, start + lengths[n] + SPACING)
        inc = w.incident(
            "env-split",
            SERVICES[service].team,
            service,
            cluster,
            f"{service} queue backs up in {_env(cluster)}",
        )
        a = start + _minutes(rng, 0, 6)
        w.alert(
            inc,
            "QueueBacklogGrowing",
            "high",
            [(a, a + lengths[n])],
            f"{service} work queue is growing",
            queue=f"{service}-jobs",
        )
    return True


def _recurrence(w: _World, start: datetime) -> bool:
    """The same alert twice, hours apart: two incidents."""
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice(PROD_CLUSTERS)
    gap = _minutes(rng, 180, 360)
    first, second = _minutes(rng, 15, 40), _minutes(rng, 15, 40)
    later = start + first + gap
    slots = [(start, start + first + SPACING), (later, later + second + SPACING)]
    if not all(w.free((service, cluster), a, b) for a, b in slots):
        return False
    for (a, b), length in zip(slots, (first, second), strict=True):
        w.take((service, cluster), a, b)
        inc = w.incident(
            "recurrence",
            SERVICES[service].team,
            service,
            cluster,
            f"{service} cannot reach its upstream",
        )
        w.alert(
            inc,
            "UpstreamConnectErrors",
            "critical",
            [(a, a + length)],
            f"{service} fails to connect upstream",
        )
    return True


def _storm(w: _World, start: datetime) -> bool:
    """Many services of one region alert within minutes: one incident (the region's)."""
    rng = w.rng
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 15, 40)
    members = [s for s in APPS + STATEFUL if s != "search"] + ["search"]
    members = sorted(set(members))
    rng.shuffle(members)
    members = [m for m in members if w.free((m, cluster), start, start + length + SPACING)]
    members = members[: rng.randint(8, 14)]
    if len(members) < 8:
        return False
    for m in members:
        w.take((m, cluster), start, start + length + SPACING)
    region = cluster.split("-", 1)[1]
    root = w.incident("storm", PLATFORM_TEAM, "", cluster, f"network degraded in {region}")
    for m in members:
        part = w.incident(
            "storm", PLATFORM_TEAM, m, cluster, f"{m} hit by the {region} outage", parent=root.id
        )
        a = start + _minutes(rng, 0, 4)
        b = start + length + _minutes(rng, -2, 4)
        names = [
            ("HighErrorRate", "critical"),
            ("HighLatencyP99", "warning"),
            ("TargetDown", "high"),
        ]
        for alertname, severity in rng.sample(names, rng.randint(1, 2)):
            extra = {"pod": _pods(m, cluster, 1)[0]} if alertname != "TargetDown" else {}
            tl = "" if alertname == "TargetDown" else None
            w.alert(
                part,
                alertname,
                severity,
                [(a + _minutes(rng, 0, 1), b)],
                f"{m}: {alertname}",
                team_label=tl,
                **extra,
            )
    return True


def _security(w: _World, start: datetime) -> bool:
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 60, 300)
    alertname, severity, summary = rng.choice(
        [
            ("FalcoShellInContainer", "critical", "a shell was spawned in a container"),
            ("VulnerableImageDetected", "high", "an image with a critical CVE is running"),
            ("SuspiciousOutboundTraffic", "critical", "outbound traffic to a known-bad host"),
        ]
    )
    if not w.free((service, cluster, "security"), start, start + length + SPACING):
        return False
    w.take((service, cluster, "security"), start, start + length + SPACING)
    inc = w.incident("security", SECURITY_TEAM, service, cluster, f"{service}: {summary}")
    w.alert(
        inc,
        alertname,
        severity,
        [(start, start + length)],
        f"{service}: {summary}",
        team_label=SECURITY_TEAM,
        category="security",
        pod=_pods(service, cluster, 1)[0],
    )
    return True


# -- noise ---------------------------------------------------------------------


def _transient(w: _World, start: datetime) -> bool:
    """A blip that resolves on its own within a minute or two."""
    rng = w.rng
    service = rng.choice(APPS + STATEFUL)
    cluster = rng.choice([*PROD_CLUSTERS, STAGING_CLUSTER])
    length = timedelta(seconds=rng.randint(20, 150))
    key = (service, cluster, "noise")
    if not w.free(key, start, start + length + SPACING):
        return False
    w.take(key, start, start + length + SPACING)
    inc = w.incident("transient", SERVICES[service].team, service, cluster, f"{service} blip")
    alertname = rng.choice(["CPUThrottlingHigh", "HighLatencyP99Short", "ErrorSpike"])
    w.alert(
        inc,
        alertname,
        "warning",
        [(start, start + length)],
        f"{service}: {alertname}",
        pod=_pods(service, cluster, 3)[rng.randint(0, 2)],
    )
    return True


def _info(w: _World, start: datetime) -> bool:
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice([*PROD_CLUSTERS, STAGING_CLUSTER])
    length = _minutes(rng, 10, 180)
    key = (service, cluster, "info")
    if not w.free(key, start, start + length + SPACING):
        return False
    w.take(key, start, start + length + SPACING)
    inc = w.incident("info", SERVICES[service].team, service, cluster, f"{service} scaled out")
    alertname = rng.choice(["KubeHpaMaxedOut", "ConfigReloaded", "CertificateRenewed"])
    w.alert(
        inc, alertname, "info", [(start, start + length)], f"{service}: {alertname}", team_label=""
    )
    return True


def _flapping(w: _World, start: datetime) -> bool:
    """An alert that toggles every few minutes for an hour or so."""
    rng = w.rng
    service = rng.choice(APPS)
    cluster = rng.choice(PROD_CLUSTERS)
    length = _minutes(rng, 30, 90)
    key = (service, cluster, "flap")
    if not w.free(key, start, start + length + SPACING):
        return False
    w.take(key, start, start + length + SPACING)
    inc = w.incident(
        "flapping",
        SERVICES[service].team,
        service,
        cluster,
        f"{service} memory hovers at its limit",
    )
    intervals, t = [], start
    while t < start + length:
        on = _minutes(rng, 1, 6)
        intervals.append((t, t + on))
        t = t + on + _minutes(rng, 1, 6)
    w.alert(
        inc,
        "HighMemoryUsage",
        "warning",
        intervals,
        f"{service} memory near its limit",
        pod=_pods(service, cluster, 1)[0],
    )
    return True


# -- files ---------------------------------------------------------------------


def catalog_yaml() -> str:
    """The fleet as the config's `catalog:` section (team, tier, depends_on)."""
    out = ["catalog:", f"  default_team: {PLATFORM_TEAM}", "  services:"]
    for s in FLEET:
        out.append(f"    {s.name}:")
        out.append(f"      team: {s.team}")
        out.append(f'      tier: "{s.tier}"')
        if s.depends_on:
            out.append(f"      depends_on: [{', '.join(s.depends_on)}]")
    out.append("  teams:")
    for team in sorted({s.team for s in FLEET} | {SECURITY_TEAM, PLATFORM_TEAM}):
        out.append(f"    {team}: {{name: {team.title()}, schedule: {team}-oncall}}")
    return "\n".join(out) + "\n"


def schedules_yaml() -> str:
    """A weekly rotation of three people per team, handing off Mondays 09:00 UTC:
    every ticket can name who is on call."""
    out = ["schedules:"]
    for team in sorted({s.team for s in FLEET} | {SECURITY_TEAM, PLATFORM_TEAM}):
        users = ", ".join(f"{team}-{n}" for n in (1, 2, 3))
        out += [
            f"  {team}-oncall:",
            "    time_zone: UTC",
            f"    layers: [{{name: weekly, users: [{users}], rotation: weekly,"
            " start: 2026-01-05T09:00}]",
        ]
    return "\n".join(out) + "\n"


# Warnings wait out a transient: longer than Alertmanager's group_interval (5 m
# here), the most a resolve can lag behind the alert's end on its way to us.
PAUSE = "    pause: {warning: 6m}"


def config_yaml() -> str:
    """The example config the lab scores with: the catalog, and a route per team.

    Each team's services have a route of their own (as a team would own its
    routing); no route writes `group_by`, so grouping is the pipeline's default
    (cross-alert: service and cluster, per environment). Warnings pause 6 min
    (`PAUSE`), as a team would set it. Info alerts are not dropped here: that
    is for the pipeline's defaults to decide, which is what the lab measures.
    """
    teams: dict[str, list[str]] = {}
    for s in FLEET:
        teams.setdefault(s.team, []).append(s.name)
    routes = [
        "routes:",
        "  - name: drop-watchdog",
        "    matchers: ['alertname=~\"Watchdog|InfoInhibitor\"']",
        "    action: ignore",
        "  - name: security",
        "    matchers: ['category=\"security\"']",
        f"    team: {SECURITY_TEAM}",
    ]
    for team, names in teams.items():
        routes += [
            f"  - name: team-{team}",
            f"    matchers: ['service=~\"{'|'.join(names)}\"']",
            PAUSE,
        ]
    routes += ["  - name: default", PAUSE]
    return (
        "# The scenario lab's example config (bench/scenario.py): catalog + a route per team.\n"
        "timers:\n  resolve_after: 5m\n  reopen_within: 1h\n"
        # A storm's ticket goes to the platform team (the default threshold, 3 services
        # of one cluster within 5 min, is kept).
        "correlation:\n  storm: {team: platform}\n"
        + catalog_yaml()
        + schedules_yaml()
        + "\n".join(routes)
        + "\n"
    )


def write_scenario(scenario: Scenario, out: Path) -> dict[str, Path]:
    """stream.ndjson, truth.json, catalog.yaml and config.yaml in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "stream": out / "stream.ndjson",
        "truth": out / "truth.json",
        "catalog": out / "catalog.yaml",
        "config": out / "config.yaml",
    }
    paths["stream"].write_bytes(b"".join(line + b"\n" for line in scenario.lines))
    paths["truth"].write_bytes(
        orjson.dumps(scenario.truth(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    paths["catalog"].write_text(catalog_yaml() + schedules_yaml())
    paths["config"].write_text(config_yaml())
    return paths


def load_scenario(path: Path) -> tuple[list[bytes], dict[str, Any] | None]:
    """A scenario directory's stream and truth, or a bare NDJSON stream (no truth).

    ValueError names the file and what is wrong with it."""
    stream = path / "stream.ndjson" if path.is_dir() else path
    truth_file = path / "truth.json" if path.is_dir() else None
    try:
        lines = [line for line in stream.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        raise ValueError(f"{stream}: cannot be read ({exc.strerror or exc})") from None
    if truth_file is None or not truth_file.exists():
        return lines, None
    try:
        truth = orjson.loads(truth_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{truth_file}: not a readable JSON truth ({exc})") from None
    missing = [k for k in ("incidents", "episodes", "deliveries", "received") if k not in truth]
    if missing:
        raise ValueError(f"{truth_file}: missing {', '.join(missing)}")
    return lines, truth


def _env(cluster: str) -> str:
    return cluster.split("-", 1)[0]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
