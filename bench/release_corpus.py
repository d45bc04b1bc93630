"""A seeded corpus of releases with known truth, as replay lines (issue 13).

`build_corpus(seed)` returns the NDJSON lines of one stream (release,
metrics and Alertmanager lines) and the truth of every release and incident
in it. The same seed gives the same bytes.

The world: a fleet of `SERVICES` in `prod`, each pushing four SLIs every
`INTERVAL` (`error_ratio`, `latency_seconds{quantile=0.99}`,
`success_ratio`, `throughput`), each at a level of its own with noise, all
following one daily cycle (busier at noon: more throughput, a bit slower,
a few more errors). Every case gets a day of its own, and its samples run
from `LEAD` before its first release to `TAIL` after its last, so cases never
share a judge's window.

Sizes are relative and symmetric: a regression of size s multiplies a
higher-is-worse metric by 1 + s and divides a lower-is-worse one by 1 + s
(200% on throughput is a third of it). Truth for precision and recall: a
release is *positive* when it regresses a metric by at least `MIN_SIZE`
(20%), *negative* when nothing it did is worse, and *grey* (scored apart)
when it regresses by less.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "CATALOG",
    "ENVIRONMENT",
    "INTERVAL",
    "METRICS",
    "MIN_SIZE",
    "SERVICES",
    "Corpus",
    "IncidentTruth",
    "ReleaseTruth",
    "build_corpus",
    "corpus_config_yaml",
]

ENVIRONMENT = "prod"
SERVICES = ("web", "api", "auth", "cart", "search", "catalog", "orders", "notify")
CATALOG = {"web": ["api", "auth"]}  # web depends on api and auth
INTERVAL = timedelta(seconds=30)
LEAD = timedelta(minutes=35)  # samples before a case's first release (the judge's baseline is 30m)
TAIL = timedelta(minutes=35)  # and after its last one (the judge watches 30m)
MIN_SIZE = 0.2
# How the corpus's SLIs are judged: each is critical, may move 10% the worse
# way; past that (and significant) it fails the release.
RELEASES_YAML = """releases:
  metrics:
    http_error_ratio: {critical: true, allowed_increase: 1.1}
    http_latency_seconds: {critical: true, allowed_increase: 1.1}
    http_success_ratio: {critical: true, allowed_decrease: 0.95}
    http_throughput: {critical: true, allowed_decrease: 0.9}
  early: {pass_margin: 0.15}
"""
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)

ERROR, LATENCY = "http_error_ratio", "http_latency_seconds"
SUCCESS, THROUGHPUT = "http_success_ratio", "http_throughput"
METRICS = (ERROR, LATENCY, SUCCESS, THROUGHPUT)
HIGHER_IS_WORSE = frozenset({ERROR, LATENCY})
QUANTILE = {"quantile": "0.99"}
# How much each metric follows the daily cycle (relative amplitude), and its noise.
SEASON_AMPLITUDE = {ERROR: 0.15, LATENCY: 0.12, SUCCESS: 0.0, THROUGHPUT: 0.35}
NOISE = {ERROR: 0.25, LATENCY: 0.10, SUCCESS: 0.25, THROUGHPUT: 0.08}


@dataclass(frozen=True, slots=True)
class ReleaseTruth:
    case: str
    scenario: str
    service: str
    version: str
    started_at: str
    metric: str | None  # the metric it regresses (or improves), None when harmless
    size: float  # relative size of the regression; negative for an improvement; 0 when harmless
    label: str  # positive | negative | grey


@dataclass(frozen=True, slots=True)
class IncidentTruth:
    case: str
    service: str  # the service that alerts
    culprit_service: str
    culprit_version: str
    opened_at: str


@dataclass
class Corpus:
    seed: int
    lines: list[bytes] = field(default_factory=list)
    releases: list[ReleaseTruth] = field(default_factory=list)
    incidents: list[IncidentTruth] = field(default_factory=list)

    def truth(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "releases": [asdict(r) for r in self.releases],
            "incidents": [asdict(i) for i in self.incidents],
        }


# An effect on a service's metric: (service, metric) -> factor at time t (1.0: none).
Effect = Callable[[str, str, datetime], float]


@dataclass
class _Case:
    name: str
    scenario: str
    releases: list[tuple[str, datetime, str | None, float]]  # service, start, metric, size
    effects: list[Effect] = field(default_factory=list)
    gaps: list[tuple[str, datetime, datetime]] = field(default_factory=list)  # service, from, to
    spikes: dict[tuple[str, datetime], float] = field(default_factory=dict)
    incident: tuple[str, datetime, int] | None = None  # alerting service, opened, culprit index


def corpus_config_yaml() -> str:
    """The config the corpus is replayed with: its catalog, routes that keep environment."""
    services = "\n".join(
        f"    {s}:\n      team: team-{s}"
        + (f"\n      depends_on: [{', '.join(CATALOG[s])}]" if s in CATALOG else "")
        for s in SERVICES
    )
    return (
        "catalog:\n  default_team: platform\n  services:\n"
        f"{services}\n"
        "routes:\n  - name: default\n    group_by: [alertname, service, environment]\n"
        f"{RELEASES_YAML}"
    )


def build_corpus(seed: int, scenarios: tuple[str, ...] | None = None) -> Corpus:
    """The stream and its truth for `seed`; `scenarios` keeps only the cases of those
    scenarios or of those names (tests)."""
    rng = random.Random(seed)
    levels = _levels(rng)
    corpus = Corpus(seed)
    cases = _cases(rng)
    if scenarios is not None:
        cases = [c for c in cases if c.scenario in scenarios or c.name in scenarios]
    for day, case in enumerate(cases):
        _emit(corpus, case, levels, random.Random(f"{seed}-{case.name}"), day)
    return corpus


def _levels(rng: random.Random) -> dict[tuple[str, str], float]:
    ranges = {ERROR: (0.005, 0.015), LATENCY: (0.15, 0.35), SUCCESS: (0.002, 0.01),
              THROUGHPUT: (100.0, 400.0)}  # fmt: skip  # SUCCESS: the failure share
    return {(s, m): rng.uniform(*ranges[m]) for s in SERVICES for m in METRICS}


def _at(day: int, hour: float) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour)


def _cases(rng: random.Random) -> list[_Case]:
    """Every scenario of the corpus; times are hours of the day, placed on a day later."""
    cases: list[_Case] = []
    plain = [s for s in SERVICES if s != "web"]

    def hour() -> float:
        return rng.choice([2.0, 9.5, 11.0, 14.0, 16.5, 21.0])

    for metric in METRICS:
        sizes = (0.1, 0.2, 0.5, 2.0)
        for size in sizes:
            name = f"regress-{metric}-{round(size * 100)}"
            cases.append(
                _Case(name, f"regression-{metric}", [(rng.choice(plain), _h(hour()), metric, size)])
            )
    for i in range(3):
        cases.append(_Case(f"harmless-{i}", "harmless", [(rng.choice(plain), _h(hour()), None, 0)]))
    for metric, size in ((ERROR, -0.5), (LATENCY, -0.3), (THROUGHPUT, -0.3)):
        cases.append(
            _Case(
                f"improve-{metric}", "improvement", [(rng.choice(plain), _h(hour()), metric, size)]
            )
        )
    # The steepest parts of the daily cycle: rising at 06:00, falling at 18:00.
    for at in (6.0, 18.0):
        cases.append(
            _Case(f"season-{round(at)}h", "seasonality", [(rng.choice(plain), _h(at), None, 0)])
        )
    cases.append(_fleet_dip(rng.choice(plain), _h(hour())))
    cases.append(_outliers(rng.choice(plain), _h(hour())))
    for size in (0.0, 0.5):
        cases.append(_gap(rng.choice(plain), _h(hour()), size))
    cases.append(_dependency_incident(_h(hour())))
    cases.append(
        _own_incident(rng.choice([s for s in plain if s not in ("api", "auth")]), _h(hour()))
    )
    return cases


def _h(hour: float) -> datetime:
    """An hour of day 0; `_emit` moves it to the case's own day."""
    return _at(0, hour)


def _fleet_dip(service: str, start: datetime) -> _Case:
    """Every service dips for 20 minutes, 3 minutes after a harmless release."""
    dip_from, dip_to = start + timedelta(minutes=3), start + timedelta(minutes=23)
    factors = {ERROR: 2.5, LATENCY: 1.6, SUCCESS: 1 / 1.15, THROUGHPUT: 1 / 1.5}

    def dip(_service: str, metric: str, t: datetime) -> float:
        return factors[metric] if dip_from <= t < dip_to else 1.0

    return _Case("fleet-dip", "fleet-dip", [(service, start, None, 0)], effects=[dip])


def _outliers(service: str, start: datetime) -> _Case:
    """A harmless release with a few wild samples on both sides."""
    spikes = {}
    for minutes, factor in ((-12, 8.0), (-4.5, 6.0), (4, 10.0), (9.5, 8.0), (17, 12.0)):
        spikes[(service, start + timedelta(minutes=minutes))] = factor
    return _Case("outliers", "outliers", [(service, start, None, 0)], spikes=spikes)


def _gap(service: str, start: datetime, size: float) -> _Case:
    """No samples from 2 to 14 minutes after the release (a scrape outage)."""
    gaps = [(service, start + timedelta(minutes=2), start + timedelta(minutes=14))]
    metric = ERROR if size else None
    name = f"gap-{'regress' if size else 'harmless'}"
    return _Case(name, "gaps", [(service, start, metric, size)], gaps=gaps)


def _dependency_incident(start: datetime) -> _Case:
    """api (a dependency of web) ships a bad release; web alerts 7 minutes later.

    Decoys: auth, another dependency of web, ships a harmless release closer
    to the incident, and search, unrelated, one closer still.
    """
    releases = [
        ("api", start, ERROR, 2.0),
        ("auth", start + timedelta(minutes=2), None, 0.0),
        ("search", start + timedelta(minutes=5), None, 0.0),
    ]

    def knock_on(service: str, metric: str, t: datetime) -> float:
        late = t >= start + timedelta(minutes=1)
        return 2.0 if service == "web" and metric == ERROR and late else 1.0

    incident = ("web", start + timedelta(minutes=7), 0)
    return _Case("incident-dependency", "incident", releases, [knock_on], incident=incident)


def _own_incident(service: str, start: datetime) -> _Case:
    """A service's own release doubles its latency; it alerts 6 minutes later. Decoy: search."""
    releases = [(service, start, LATENCY, 1.5), ("search", start + timedelta(minutes=3), None, 0)]
    if service == "search":
        releases[1] = ("notify", releases[1][1], None, 0)
    incident = (service, start + timedelta(minutes=6), 0)
    return _Case("incident-own", "incident", releases, incident=incident)


def _emit(corpus: Corpus, case: _Case, levels: dict, rng: random.Random, day: int) -> None:
    shift = timedelta(days=day + 1)
    releases = [(s, start + shift, m, size) for s, start, m, size in case.releases]
    versions = []
    for n, (service, start, metric, size) in enumerate(releases):
        version = f"{case.name}-{n}"
        versions.append(version)
        label = _label(metric, size)
        corpus.releases.append(
            ReleaseTruth(
                case.name, case.scenario, service, version, _iso(start), metric, size, label
            )
        )
    effects = list(case.effects)  # written on day 0, like case.releases
    effects += [_release_effect(s, start, m, size) for s, start, m, size in case.releases if m]
    first = min(r[1] for r in releases)
    last = max(r[1] for r in releases)
    gaps = [(s, a + shift, b + shift) for s, a, b in case.gaps]
    spikes = {(s, t + shift): f for (s, t), f in case.spikes.items()}
    shifted = [_shifted(e, shift) for e in effects]
    lines: list[tuple[datetime, int, dict[str, Any]]] = []
    for n, (service, start, _, _) in enumerate(releases):
        body = {
            "service": service,
            "version": versions[n],
            "environment": ENVIRONMENT,
            "started_at": _iso(start),
            "finished_at": _iso(start + timedelta(minutes=5)),
            "rollout_percent": 100,
        }
        lines.append((start, 0, {"source": "release", "received_at": _iso(start), "body": body}))
    t = _floor(first - LEAD)
    while t < last + TAIL:
        samples = [
            sample
            for service in SERVICES
            if not any(s == service and a <= t < b for s, a, b in gaps)
            for sample in _samples(service, t, levels, shifted, spikes, rng)
        ]
        if samples:
            body = {"samples": samples}
            received = t + timedelta(seconds=5)
            lines.append(
                (received, 1, {"source": "metrics", "received_at": _iso(received), "body": body})
            )
        t += INTERVAL
    if case.incident is not None:
        service, opened, culprit = case.incident
        opened += shift
        lines.append(
            (
                opened,
                2,
                {
                    "source": "alertmanager",
                    "received_at": _iso(opened),
                    "body": _alert(service, opened),
                },
            )
        )
        corpus.incidents.append(
            IncidentTruth(case.name, service, releases[culprit][0], versions[culprit], _iso(opened))
        )
    lines.sort(key=lambda item: (item[0], item[1]))
    for n, (_, _, line) in enumerate(lines):
        line = {"id": f"{case.name}-{n}", **line, "headers": {"content-type": "application/json"}}
        corpus.lines.append(json.dumps(line, separators=(",", ":")).encode())


def _shifted(effect: Effect, shift: timedelta) -> Effect:
    """Case effects are written on day 0; the samples are on the case's day."""
    return lambda service, metric, t: effect(service, metric, t - shift)


def _release_effect(service: str, start: datetime, metric: str, size: float) -> Effect:
    """The release's change, reached over two minutes (pods roll), from its start on."""
    factor = 1.0 + size if metric in HIGHER_IS_WORSE else 1.0 / (1.0 + size)
    if size < 0:  # an improvement: a better value, the same way round
        factor = 1.0 + size if metric in HIGHER_IS_WORSE else 1.0 - size

    def effect(s: str, m: str, t: datetime) -> float:
        if s != service or m != metric or t < start:
            return 1.0
        ramp = min(1.0, (t - start) / timedelta(minutes=2))
        return 1.0 + (factor - 1.0) * ramp

    return effect


def _samples(
    service: str,
    t: datetime,
    levels: dict[tuple[str, str], float],
    effects: list[Effect],
    spikes: dict[tuple[str, datetime], float],
    rng: random.Random,
) -> Iterator[dict[str, Any]]:
    phase = math.sin(2 * math.pi * ((t - DAY0).total_seconds() / 86400.0 - 0.25))
    for metric in METRICS:
        factor = math.prod(e(service, metric, t) for e in effects)
        season = 1.0 + SEASON_AMPLITUDE[metric] * phase
        level = levels[(service, metric)]
        noise = rng.lognormvariate(0.0, NOISE[metric])
        if metric == SUCCESS:  # the failure share moves; the ratio is what is pushed
            value = (1.0 - min(0.5, level * noise)) * factor
        elif metric == THROUGHPUT:
            value = level * season * factor * max(0.2, rng.gauss(1.0, NOISE[metric]))
        else:
            value = level * season * factor * noise
        if metric in (ERROR, LATENCY) and (spike := spikes.get((service, t))):
            value *= spike
        labels = {"service": service, "environment": ENVIRONMENT}
        if metric == LATENCY:
            labels |= QUANTILE
        yield {"name": metric, "labels": labels, "t": _iso(t), "v": round(value, 6)}


def _label(metric: str | None, size: float) -> str:
    if metric is None or size <= 0:
        return "negative"
    return "positive" if size >= MIN_SIZE - 1e-9 else "grey"


def _floor(t: datetime) -> datetime:
    seconds = int(INTERVAL.total_seconds())
    return t - timedelta(seconds=int(t.timestamp()) % seconds, microseconds=t.microsecond)


def _alert(service: str, at: datetime) -> dict[str, Any]:
    labels = {
        "alertname": "HighErrorRate",
        "service": service,
        "severity": "critical",
        "environment": ENVIRONMENT,
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{service="{service}"}}',
        "status": "firing",
        "receiver": "autoticket",
        "groupLabels": {"alertname": "HighErrorRate", "service": service},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{service} is failing requests"},
                "startsAt": _iso(at - timedelta(seconds=30)),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": hashlib.sha1(service.encode()).hexdigest()[:16],
            }
        ],
    }


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
