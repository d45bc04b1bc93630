"""`autoticket bench`: replay and live HTTP figures, printed and written as JSON.

Sizes are chosen so that a full run takes a few minutes on 2 cores; `quick`
is a smoke run of a few seconds. Every phase is bounded in count and time.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.live import latency_run, throughput_run
from bench.replay_run import replay_bench
from bench.server import start_server
from bench.traffic import TrafficSpec, deliveries

__all__ = ["Sizes", "live_bench", "run_bench"]


@dataclass(frozen=True, slots=True)
class Sizes:
    replay_events: int = 100_000
    batch_size: int = 200
    live_events: int = 20_000
    concurrency: int = 32
    post_time_limit: float = 120
    drain_timeout: float = 120
    latency_rates: tuple[float, ...] = (250, 500, 1000)  # events/s, one steady run each
    latency_seconds: float = 10
    probe_every: int = 5

    @classmethod
    def quick(cls) -> Sizes:
        return cls(replay_events=5_000, live_events=1_000, latency_rates=(200,), latency_seconds=3)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets against what was measured (None: not measured)."""
    runs = [x for x in r["latency"]["runs"] if x["target_events_per_second"] == 500]
    steady = runs[0] if runs else None

    def check(measured: float | None, target: float, higher: bool) -> dict[str, Any]:
        met = None if measured is None else measured >= target if higher else measured < target
        return {"target": target, "measured": measured, "met": met}

    return {
        "replay_events_per_second": check(
            r["replay"]["events_per_second"] if r["replay"] else None, 2_000, True
        ),
        "live_processed_events_per_second": check(
            r["live"]["processed_events_per_second"], 500, True
        ),
        "steady_500_event_to_ticket_p99_ms": check(
            steady["event_to_ticket_ms"]["p99"] if steady else None, 250, False
        ),
        "steady_500_probe_to_listed_p99_ms": check(
            steady["probe_send_to_ticket_listed_ms"]["p99"] if steady else None, 250, False
        ),
    }


def live_bench(workdir: Path, sizes: Sizes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a server, run throughput then steady latency runs on it, stop it."""
    load = list(deliveries(TrafficSpec(events=sizes.live_events, seed=11)))
    server = start_server(workdir)
    try:
        live = throughput_run(
            server.base_url,
            load,
            concurrency=sizes.concurrency,
            time_limit=sizes.post_time_limit,
            drain_timeout=sizes.drain_timeout,
            cpu=server.cpu_seconds,
        )
        live["server_peak_rss_mb"] = server.peak_rss_mb()
        runs = []
        for i, rate in enumerate(sizes.latency_rates):
            events = int(rate * sizes.latency_seconds * 1.5) + 100
            run = latency_run(
                server.base_url,
                deliveries(TrafficSpec(events=events, seed=23 + i)),
                events_per_second=rate,
                seconds=sizes.latency_seconds,
                probe_every=sizes.probe_every,
                cpu=server.cpu_seconds,
                concurrency=sizes.concurrency,
            )
            run["server_peak_rss_mb"] = server.peak_rss_mb()
            runs.append(run)
        latency = {"configured_waits_seconds": 0, "runs": runs}
        live["database_bytes"] = sum(
            p.stat().st_size for p in workdir.glob("bench.db*") if p.is_file()
        )
    finally:
        server.stop()
    return live, latency


def run_bench(
    output: Path,
    quick: bool = False,
    live_only: bool = False,
    rates: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """The whole bench; `live_only` skips replay (for alternating before/after runs of
    the live part, which is where this machine's spread is widest), `rates` replaces
    the steady rates."""
    sizes = Sizes.quick() if quick else Sizes()
    if rates:
        sizes = replace(sizes, latency_rates=rates)
    console = Console()
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "sizes": _asdict(sizes)}
    with tempfile.TemporaryDirectory(prefix="autoticket-bench-") as tmp:
        workdir = Path(tmp)
        results["replay"] = None
        if not live_only:
            console.print(f"[bold]replay[/bold] {sizes.replay_events} events …")
            spec = TrafficSpec(events=sizes.replay_events)
            results["replay"] = replay_bench(workdir, spec, batch_size=sizes.batch_size)
        console.print(f"[bold]live[/bold] {sizes.live_events} events, then latency …")
        results["live"], results["latency"] = live_bench(workdir, sizes)
    results["targets"] = targets(results)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    console.print(summary_table(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    console.print(f"written to {output}")
    return results


def _asdict(sizes: Sizes) -> dict[str, Any]:
    return {name: getattr(sizes, name) for name in sizes.__dataclass_fields__}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.1f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


_TARGET_LABELS = {
    "replay_events_per_second": "target replay ≥ 2,000 events/s",
    "live_processed_events_per_second": "target live ≥ 500 events/s",
    "steady_500_event_to_ticket_p99_ms": "target p99 event→ticket < 250 ms (500/s)",
    "steady_500_probe_to_listed_p99_ms": "same, client upper bound",
}


def _p50_p99(d: dict[str, Any]) -> str:
    return f"{_fmt(d['p50'])} / {_fmt(d['p99'], ' ms')}"


def _replay_rows(rp: dict[str, Any]) -> list[tuple[str, str]]:
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in rp["stage_seconds"].items())
    return [
        ("replay events/s", _fmt(rp["events_per_second"])),
        ("replay events / wall", f"{_fmt(rp['events'])} / {_fmt(rp['wall_seconds'], ' s')}"),
        ("replay stages", stages),
        (
            "replay batches (deliveries each)",
            f"{_fmt(rp.get('batches'))} ({_fmt(rp.get('deliveries_per_batch'))})",
        ),
        ("replay incidents / tickets", f"{_fmt(rp['incidents'])} / {_fmt(rp['tickets'])}"),
        ("replay peak RSS", _fmt(rp["peak_rss_mb"], " MB")),
    ]


def summary_table(r: dict[str, Any]) -> Table:
    rp, lv = r["replay"], r["live"]
    e2t = lv["event_to_ticket_ms"]
    table = Table(title=f"autoticket bench ({r['machine']['cores']} cores)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = _replay_rows(rp) if rp else [("replay", "skipped (--live-only)")]
    rows += [
        ("live accepted events/s", _fmt(lv["accepted_events_per_second"])),
        ("live processed events/s", _fmt(lv["processed_events_per_second"])),
        ("live request p50/p99", f"{_fmt(lv['request_latency_ms']['p50'])} / "
         f"{_fmt(lv['request_latency_ms']['p99'], ' ms')}"),
        ("live event→ticket p50/p99", f"{_fmt(e2t['p50'])} / {_fmt(e2t['p99'], ' ms')}"),
        ("live CPU server / client", f"{_fmt(lv['server_cpu_cores'])} / "
         f"{_fmt(lv['client_cpu_cores'], ' cores')}"),
    ]  # fmt: skip
    for run in r["latency"]["runs"]:
        rate = f"steady {run['target_events_per_second']:g}/s"
        le2t, probe = run["event_to_ticket_ms"], run["probe_send_to_ticket_listed_ms"]
        rows += [
            (f"{rate}: achieved events/s", _fmt(run["events_per_second"])),
            (f"{rate}: event→ticket p50/p99", _p50_p99(le2t)),
            (f"{rate}: probe→listed p50/p99", _p50_p99(probe)),
        ]  # fmt: skip
    peak = r["latency"]["runs"][-1]["server_peak_rss_mb"] if r["latency"]["runs"] else None
    rows.append(("server peak RSS", _fmt(peak or lv["server_peak_rss_mb"], " MB")))
    for name, t in r.get("targets", {}).items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        rows.append((_TARGET_LABELS[name], f"{_fmt(t['measured'])}: {verdict}"))
    for name, value in rows:
        table.add_row(name, value)
    return table
