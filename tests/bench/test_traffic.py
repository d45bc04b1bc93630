"""The benchmark's traffic generator, and a small replay run of the harness."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from autoticket.replay.stream import LineError, read_lines
from autoticket.sources import AlertmanagerSource

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.replay_run import replay_bench  # noqa: E402
from bench.traffic import (  # noqa: E402
    TrafficSpec,
    TrafficStats,
    deliveries,
    generate,
    iter_lines,
    probe_body,
)

SPEC = TrafficSpec(events=3_000, span=timedelta(hours=12), services=50, seed=3)


def lines_of(spec: TrafficSpec) -> list[bytes]:
    return list(iter_lines(generate(spec)))


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert lines_of(SPEC) == lines_of(SPEC)
    other = TrafficSpec(events=SPEC.events, span=SPEC.span, services=SPEC.services, seed=4)
    assert lines_of(other) != lines_of(SPEC)


def test_lines_have_the_replay_shape_and_parse() -> None:
    stats = TrafficStats()
    raw = list(iter_lines(generate(SPEC), stats))
    assert all(line.endswith(b"\n") for line in raw)
    objs = [orjson.loads(line) for line in raw]
    assert {tuple(sorted(o)) for o in objs} == {("body", "headers", "id", "received_at", "source")}
    assert len({o["id"] for o in objs}) == len(objs)
    times = [datetime.fromisoformat(o["received_at"]) for o in objs]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times)
    assert times[-1] - times[0] <= SPEC.span
    # Every alert counts; HA duplicates included; at most the asked-for number.
    events = sum(len(o["body"]["alerts"]) for o in objs)
    assert events == stats.events <= SPEC.events
    assert events > 0.95 * SPEC.events
    assert all(1 <= len(o["body"]["alerts"]) <= SPEC.max_alerts for o in objs)
    # The service's own reader and adapter accept every line.
    parsed = list(read_lines(iter(raw)))
    assert not [p for p in parsed if isinstance(p, LineError)]
    source = AlertmanagerSource()
    for o, t in zip(objs[:300], times, strict=False):
        assert source.parse(o["body"], o["headers"], delivery_id=o["id"], received_at=t)


def test_traffic_is_realistic() -> None:
    stats = TrafficStats()
    objs = [orjson.loads(line) for line in iter_lines(generate(SPEC), stats)]
    # Mostly unchanged repeats, but also firsts, changes and resolves.
    kinds = stats.lines_by_kind
    assert set(kinds) == {"first", "changed", "repeat", "resolved"}
    assert stats.events_by_kind["repeat"] == max(stats.events_by_kind.values())
    # Every notification is sent by both Alertmanagers, a few ms apart.
    by_body: Counter[bytes] = Counter()
    for o in objs:
        body = dict(o["body"], externalURL="")
        by_body[orjson.dumps(body)] += 1
    assert max(by_body.values()) >= 2
    assert sum(by_body.values()) / len(by_body) > 1.8
    # HA: each replica sends every notification, its twin arrives within a second.
    replicas = Counter(o["body"]["externalURL"] for o in objs)
    assert len(replicas) == SPEC.replicas
    assert len(set(replicas.values())) == 1  # as many lines from each
    twins: dict[bytes, list[datetime]] = {}
    for o in objs:
        body = orjson.dumps(dict(o["body"], externalURL=""))
        twins.setdefault(body, []).append(datetime.fromisoformat(o["received_at"]))
    unpaired = 0
    for times in twins.values():
        times.sort()
        pairs = zip(times[::2], times[1::2], strict=False)
        unpaired += len(times) % 2 + sum(b - a > timedelta(seconds=1) for a, b in pairs)
    assert unpaired <= 0.05 * len(twins)
    # Proportions near what the spec asks for (seed 3 and its neighbours land well inside).
    share = {k: n / stats.events for k, n in stats.events_by_kind.items()}
    assert 0.30 <= share["repeat"] <= 0.70, share
    assert 0.05 <= share["first"] <= 0.35, share
    assert 0.03 <= share["resolved"] <= 0.25, share
    assert 0.10 <= share["changed"] <= 0.40, share
    alerts = [a for o in objs for a in o["body"]["alerts"]]
    envs = Counter(a["labels"]["environment"] for a in alerts)
    for env, asked in SPEC.environments:
        assert abs(envs[env] / len(alerts) - asked) < 0.1, (env, envs)
    statuses = Counter(a["status"] for o in objs for a in o["body"]["alerts"])
    assert statuses["firing"] > statuses["resolved"] > 0
    severities = {a["labels"]["severity"] for o in objs for a in o["body"]["alerts"]}
    assert {"critical", "warning", "info"} <= severities
    assert any("team" in a["labels"] for o in objs for a in o["body"]["alerts"])
    assert stats.services > 20


def test_deliveries_and_probes() -> None:
    pairs = list(deliveries(SPEC))
    assert pairs and all(source == "alertmanager" for source, _ in pairs)
    assert [orjson.loads(b) for _, b in pairs[:5]] == [
        orjson.loads(line)["body"] for line in lines_of(SPEC)[:5]
    ]
    at = datetime.fromisoformat("2024-05-14T10:00:00+00:00")
    a, b = probe_body("t", 1, at), probe_body("t", 2, at)
    assert a["alerts"][0]["annotations"]["summary"] == "probe t-1"
    assert a["alerts"][0]["labels"]["service"] != b["alerts"][0]["labels"]["service"]


def test_replay_bench_quick(tmp_path: Path) -> None:
    figures = replay_bench(tmp_path, TrafficSpec(events=5_000), batch_size=200)
    for key in (
        "events",
        "lines",
        "wall_seconds",
        "events_per_second",
        "stage_seconds",
        "incidents",
        "tickets",
        "peak_rss_mb",
        "traffic",
    ):
        assert key in figures, key
    assert figures["events"] == figures["traffic"]["events"] > 4_000
    assert figures["lines"] == figures["traffic"]["lines"]
    assert 0 < figures["tickets"] <= figures["incidents"] <= figures["traffic"]["groups"] * 2
    assert figures["errors"] == 0
    assert {"normalize", "correlate", "decide"} <= set(figures["stage_seconds"])
    assert all(s >= 0 for s in figures["stage_seconds"].values())
    assert figures["wall_seconds"] > 0 and figures["events_per_second"] > 0
    assert figures["peak_rss_mb"] > 0
    assert not list(tmp_path.glob("*.ndjson"))
    # Same seed, same outcome: only the timings may differ.
    again = replay_bench(tmp_path, TrafficSpec(events=5_000), batch_size=200)
    for key in ("events", "lines", "incidents", "tickets", "errors", "traffic"):
        assert again[key] == figures[key], key
