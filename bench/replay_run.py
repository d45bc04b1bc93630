"""Replay benchmark: one replay in a child process, so its peak RSS is its own.

`replay_bench` (parent) writes the traffic as NDJSON and runs
`python -m bench.replay_run FILE --batch-size N`; the child replays the file
with the bundled example config, exactly as `autoticket replay` does, and
prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.traffic import TrafficSpec, write_ndjson

__all__ = ["measure", "replay_bench"]

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(path: Path, batch_size: int) -> dict[str, Any]:
    """Replay `path` in this process and report throughput, stages and memory."""
    from autoticket.config import load_config
    from autoticket.replay import replay

    config = load_config(None)
    baseline = _rss_mb("VmRSS")
    started = time.perf_counter()
    with path.open("rb") as fh:
        result = replay(iter(fh), config, batch_size=batch_size)
    wall = time.perf_counter() - started
    stats = result.output["stats"]
    stages = {k: round(v, 3) for k, v in result.stage_seconds.items()}
    return {
        "lines": result.lines,
        "events": result.events,
        "batch_size": batch_size,
        "batches": result.batches,
        "deliveries_per_batch": round(result.deliveries / result.batches, 1)
        if result.batches
        else None,
        "wall_seconds": round(wall, 3),
        "events_per_second": round(result.events / wall, 1) if wall else None,
        "stage_seconds": stages,
        "outside_stages_seconds": round(wall - sum(result.stage_seconds.values()), 3),
        "incidents": stats["incidents"],
        "tickets": stats["tickets"],
        "tickets_by_status": stats["tickets_by_status"],
        "errors": stats["errors"],
        "baseline_rss_mb": round(baseline, 1) if baseline is not None else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def replay_bench(
    workdir: Path, spec: TrafficSpec, batch_size: int = 200, timeout: float = 900
) -> dict[str, Any]:
    """Generate `spec` into `workdir`, replay it in a child process, return its figures."""
    stream = workdir / f"replay-{spec.events}.ndjson"
    traffic = write_ndjson(stream, spec)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("AUTOTICKET_CONFIG", None)
    cmd = [sys.executable, "-m", "bench.replay_run", str(stream), "--batch-size", str(batch_size)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"replay child failed ({done.returncode}): {tail}")
    figures: dict[str, Any] = orjson.loads(done.stdout)
    figures["traffic"] = traffic.to_dict()
    figures["stream_bytes"] = stream.stat().st_size
    stream.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stream", type=Path)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    sys.stdout.buffer.write(orjson.dumps(measure(args.stream, args.batch_size)) + b"\n")


if __name__ == "__main__":
    main()
