"""Score the release judge on the seeded corpus, beside a fixed-threshold baseline.

`score_seed(seed)` builds the corpus (bench/release_corpus.py), runs it
through `autoticket.replay.replay` exactly as `autoticket replay` does (the
real pipeline, store and judge decide), and compares the output with the
truth:

- precision and recall on regressions of at least 20% (a `fail` verdict is
  a detection; regressions under 20% are scored apart, as `grey`);
- detection delay, `decided_at - started_at`, of every caught regression;
- suspect-release top-1: the first of a ticket's `suspect_releases` is the
  release that caused its incident;
- a confusion table per scenario.

The baseline is what Flagger does: every `STEP` during the analysis window,
check the last step's mean error ratio, p99 latency, success ratio and
throughput against fixed limits; `FAILED_CHECKS` failed checks fail the
release. It reads the same samples.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autoticket.releases.alert import TITLE_PREFIX
from bench.release_corpus import (
    ERROR,
    LATENCY,
    SUCCESS,
    THROUGHPUT,
    Corpus,
    ReleaseTruth,
    build_corpus,
    corpus_config_yaml,
)

__all__ = [
    "BASELINE_LIMITS",
    "FAILED_CHECKS",
    "Call",
    "baseline_calls",
    "judge_calls",
    "run_release_bench",
    "score_calls",
    "score_seed",
    "score_seeds",
]

ANALYSIS = timedelta(minutes=30)
STEP = timedelta(minutes=1)
FAILED_CHECKS = 3  # Flagger's `threshold`
# (metric, "max" | "min", limit): the limits a team would write from its SLOs.
BASELINE_LIMITS = (
    (ERROR, "max", 0.02),
    (LATENCY, "max", 0.5),
    (SUCCESS, "min", 0.98),
    (THROUGHPUT, "min", 50.0),
)


@dataclass(frozen=True, slots=True)
class Call:
    """One release as a judge called it."""

    service: str
    version: str
    failed: bool
    verdict: str
    decided_at: datetime | None
    started_at: datetime


def score_seeds(seeds: Sequence[int], scenarios: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every seed's scores, and the judge's and the baseline's over all seeds."""
    runs = [score_seed(seed, scenarios) for seed in seeds]
    return {
        "seeds": list(seeds),
        "per_seed": runs,
        "overall": {who: _pooled([r[who] for r in runs]) for who in ("judge", "baseline")},
    }


def score_seed(seed: int, scenarios: tuple[str, ...] | None = None) -> dict[str, Any]:
    corpus = build_corpus(seed, scenarios)
    output = _replay(corpus)
    judge = score_calls(judge_calls(output), corpus.releases)
    judge["suspects"] = _suspects(output, corpus)
    baseline = score_calls(baseline_calls(corpus), corpus.releases)
    return {"seed": seed, "judge": judge, "baseline": baseline, "truth": corpus.truth()}


def _replay(corpus: Corpus) -> dict[str, Any]:
    from autoticket.config import parse_config_text
    from autoticket.replay import replay

    config = parse_config_text(corpus_config_yaml(), "bench/release_corpus.py")
    return replay(iter(corpus.lines), config).output


def judge_calls(output: dict[str, Any]) -> list[Call]:
    return [
        Call(
            r["service"],
            r["version"],
            r["verdict"] == "fail",
            r["verdict"],
            _time(r["decided_at"]) if r["decided_at"] else None,
            _time(r["started_at"]),
        )
        for r in output["releases"]
    ]


def baseline_calls(corpus: Corpus) -> list[Call]:
    """Flagger's analysis on the corpus's samples: fixed limits, N failed checks."""
    series: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for raw in corpus.lines:
        line = json.loads(raw)
        if line["source"] != "metrics":
            continue
        for s in line["body"]["samples"]:
            series.setdefault((s["labels"]["service"], s["name"]), []).append(
                (_time(s["t"]), s["v"])
            )
    calls = []
    for truth in corpus.releases:
        start = _time(truth.started_at)
        failed_checks, decided = 0, None
        at = start + STEP
        while at <= start + ANALYSIS and decided is None:
            if _check_fails(series, truth.service, at - STEP, at):
                failed_checks += 1
                if failed_checks >= FAILED_CHECKS:
                    decided = at
            at += STEP
        verdict = "fail" if decided else "pass"
        calls.append(
            Call(
                truth.service,
                truth.version,
                decided is not None,
                verdict,
                decided or start + ANALYSIS,
                start,
            )
        )
    return calls


def _check_fails(
    series: dict[tuple[str, str], list[tuple[datetime, float]]],
    service: str,
    start: datetime,
    end: datetime,
) -> bool:
    for metric, kind, limit in BASELINE_LIMITS:
        values = [v for t, v in series.get((service, metric), []) if start <= t < end]
        if not values:
            continue  # Flagger fails a check on no data only when told to; ours is not
        mean = statistics.fmean(values)
        if (kind == "max" and mean > limit) or (kind == "min" and mean < limit):
            return True
    return False


def score_calls(calls: Iterable[Call], truth: Sequence[ReleaseTruth]) -> dict[str, Any]:
    """Precision, recall, delays and the confusion per scenario of one judge's calls."""
    by_key = {(c.service, c.version): c for c in calls}
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    grey = {"caught": 0, "missed": 0}
    delays: list[float] = []
    per_scenario: dict[str, dict[str, int]] = {}
    cases = []
    for t in truth:
        call = by_key.get((t.service, t.version))
        failed = bool(call and call.failed)
        if t.label == "grey":
            outcome = "grey_caught" if failed else "grey_missed"
            grey["caught" if failed else "missed"] += 1
        elif t.label == "positive":
            outcome = "tp" if failed else "fn"
        else:
            outcome = "fp" if failed else "tn"
        if outcome in counts:
            counts[outcome] += 1
        delay = None
        if failed and call and call.decided_at and t.label != "negative":
            delay = (call.decided_at - call.started_at).total_seconds() / 60.0
            if t.label == "positive":
                delays.append(delay)
        row = per_scenario.setdefault(t.scenario, {})
        row[outcome] = row.get(outcome, 0) + 1
        cases.append(
            {
                "case": t.case,
                "service": t.service,
                "version": t.version,
                "label": t.label,
                "verdict": call.verdict if call else None,
                "outcome": outcome,
                "delay_minutes": delay,
            }
        )
    return {
        **counts,
        "precision": _ratio(counts["tp"], counts["tp"] + counts["fp"]),
        "recall": _ratio(counts["tp"], counts["tp"] + counts["fn"]),
        "grey": grey,
        "delay_minutes": _delays(delays),
        "delays": delays,
        "per_scenario": dict(sorted(per_scenario.items())),
        "cases": cases,
    }


def _suspects(output: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    """Top-1 of each ticket's suspects against the incident's culprit."""
    by_case = {i.case: i for i in corpus.incidents}
    hits, rows = 0, []
    for ticket in output["tickets"]:
        if ticket["title"].startswith(TITLE_PREFIX):
            continue  # the judge's own ticket for a failed release, not a corpus incident
        case = ticket["line_ids"][0].rsplit("-", 1)[0] if ticket["line_ids"] else ""
        incident = by_case.get(case)
        if incident is None:
            continue
        top = ticket["suspect_releases"][0] if ticket["suspect_releases"] else None
        hit = bool(top) and (top["service"], top["version"]) == (
            incident.culprit_service,
            incident.culprit_version,
        )
        hits += hit
        rows.append(
            {
                "case": case,
                "culprit": f"{incident.culprit_service} {incident.culprit_version}",
                "top": top,
                "hit": hit,
            }
        )
    return {
        "top1": _ratio(hits, len(by_case)),
        "hits": hits,
        "incidents": len(by_case),
        "rows": rows,
    }


def _pooled(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {k: sum(s[k] for s in scores) for k in ("tp", "fp", "tn", "fn")}
    delays = [d for s in scores for d in s["delays"]]
    pooled: dict[str, Any] = {
        **counts,
        "precision": _ratio(counts["tp"], counts["tp"] + counts["fp"]),
        "recall": _ratio(counts["tp"], counts["tp"] + counts["fn"]),
        "delay_minutes": _delays(delays),
    }
    if all("suspects" in s for s in scores):
        hits = sum(s["suspects"]["hits"] for s in scores)
        pooled["suspect_top1"] = _ratio(hits, sum(s["suspects"]["incidents"] for s in scores))
    return pooled


def _delays(delays: Sequence[float]) -> dict[str, float | None]:
    if not delays:
        return {"p50": None, "p90": None, "max": None}
    ordered = sorted(delays)
    return {"p50": _quantile(ordered, 0.5), "p90": _quantile(ordered, 0.9), "max": ordered[-1]}


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_release_bench(seeds: Sequence[int], output: Path) -> dict[str, Any]:
    """Score the seeds, print one line per seed and judge, write the JSON to `output`."""
    results = score_seeds(seeds)
    for run in results["per_seed"]:
        for who in ("judge", "baseline"):
            print(f"seed {run['seed']} {who:8} {_line(run[who])}")
    for who, pooled in results["overall"].items():
        print(f"all      {who:8} {_line(pooled)}")
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def _line(s: dict[str, Any]) -> str:
    delay = s["delay_minutes"]
    top1 = s.get("suspect_top1", s.get("suspects", {}).get("top1"))
    parts = [
        f"precision {_fmt(s['precision'])}",
        f"recall {_fmt(s['recall'])}",
        f"tp {s['tp']} fp {s['fp']} tn {s['tn']} fn {s['fn']}",
        f"delay p50/p90/max {delay['p50']}/{delay['p90']}/{delay['max']} min",
    ]
    if top1 is not None:
        parts.append(f"suspect top-1 {_fmt(top1)}")
    return ", ".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
