"""bench/release_corpus.py and bench/release_score.py: the corpus's truth and its bookkeeping.

The scorer runs a few cases of one seed through replay; the figures quoted in
bench/README.md come from `autoticket bench-releases` on every case.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bench.release_corpus import MIN_SIZE, ReleaseTruth, build_corpus, corpus_config_yaml
from bench.release_score import Call, baseline_calls, score_calls, score_seed
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.config import parse_config_text
from autoticket.replay import replay

SMALL = ("regress-http_success_ratio-200", "harmless-0", "fleet-dip", "incident-dependency")
T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    first = build_corpus(7, ("harmless",))
    assert first.lines == build_corpus(7, ("harmless",)).lines
    assert first.lines != build_corpus(8, ("harmless",)).lines


def test_every_release_has_its_truth_and_every_incident_its_culprit() -> None:
    one_of_each = (
        "regress-http_error_ratio-10",
        "regress-http_error_ratio-20",
        "regress-http_throughput-200",
        "harmless-0",
        "improve-http_latency_seconds",
        "season-6h",
        "fleet-dip",
        "outliers",
        "gap-harmless",
        "incident-dependency",
    )
    corpus = build_corpus(1, one_of_each)
    by_case = {r.case: r for r in corpus.releases}
    assert by_case["regress-http_error_ratio-10"].label == "grey"
    assert by_case["regress-http_error_ratio-20"].label == "positive"
    assert by_case["regress-http_throughput-200"].size == 2.0
    assert by_case["improve-http_latency_seconds"].label == "negative"
    assert by_case["fleet-dip"].label == "negative"
    assert {r.scenario for r in corpus.releases} >= {
        "harmless", "improvement", "seasonality", "fleet-dip", "outliers", "gaps", "incident",
    }  # fmt: skip
    (dependency,) = [i for i in corpus.incidents if i.case == "incident-dependency"]
    assert (dependency.service, dependency.culprit_service) == ("web", "api")
    lines = [json.loads(line) for line in corpus.lines]
    assert {line["source"] for line in lines} == {"release", "metrics", "alertmanager"}
    released = {(b["service"], b["version"]) for line in lines if (b := line["body"]) and
                line["source"] == "release"}  # fmt: skip
    assert released == {(r.service, r.version) for r in corpus.releases}


def _truth(case: str, label: str, size: float) -> ReleaseTruth:
    return ReleaseTruth(case, "s", "svc", case, "2026-11-20T09:00:00Z", "m", size, label)


def test_calls_are_counted_against_the_truth() -> None:
    truth = [
        _truth("caught", "positive", 0.5),
        _truth("missed", "positive", MIN_SIZE),
        _truth("quiet", "negative", 0.0),
        _truth("alarm", "negative", 0.0),
        _truth("small", "grey", 0.1),
    ]

    def call(version: str, failed: bool, minutes: int = 30) -> Call:
        verdict = "fail" if failed else "pass"
        return Call("svc", version, failed, verdict, T + timedelta(minutes=minutes), T)

    calls = [call("caught", True, 4), call("missed", False), call("quiet", False),
             call("alarm", True, 2), call("small", True, 9)]  # fmt: skip
    score = score_calls(calls, truth)
    assert (score["tp"], score["fn"], score["tn"], score["fp"]) == (1, 1, 1, 1)
    assert (score["precision"], score["recall"]) == (0.5, 0.5)
    assert score["grey"] == {"caught": 1, "missed": 0}
    assert score["delays"] == [4.0]  # only caught regressions of 20% or more
    outcomes = {c["case"]: c["outcome"] for c in score["cases"]}
    assert outcomes == {"caught": "tp", "missed": "fn", "quiet": "tn", "alarm": "fp",
                        "small": "grey_caught"}  # fmt: skip


def test_the_scorer_runs_a_small_corpus_through_replay() -> None:
    result = score_seed(1, SMALL)
    judge = {c["case"]: c for c in result["judge"]["cases"]}
    assert judge["regress-http_success_ratio-200"]["outcome"] == "tp"
    assert judge["regress-http_success_ratio-200"]["delay_minutes"] <= 30
    assert judge["harmless-0"]["outcome"] == "tn"
    assert judge["fleet-dip"]["outcome"] == "tn"  # the fleet control at work
    assert result["judge"]["suspects"]["incidents"] == 1
    assert result["judge"]["suspects"]["top1"] == 1.0
    baseline = {c["case"]: c for c in result["baseline"]["cases"]}
    assert baseline["regress-http_success_ratio-200"]["outcome"] == "tp"
    assert baseline["fleet-dip"]["outcome"] == "fp"  # fixed limits cannot tell a fleet dip


def test_the_baseline_fails_after_its_third_failed_check() -> None:
    corpus = build_corpus(1, ("regress-http_success_ratio-200",))
    (call,) = [c for c in baseline_calls(corpus) if c.version.endswith("-200-0")]
    assert call.failed and call.decided_at is not None
    # Success falls to a third from the release on: checks fail from the first minute.
    assert call.decided_at - call.started_at == timedelta(minutes=3)


def test_the_command_refuses_seeds_that_are_not_numbers(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench-releases", "--seeds", "1,x", "--output", str(tmp_path / "o.json")]
    )
    assert result.exit_code == 2
    assert "--seeds" in result.output or "--seeds" in (result.stderr or "")


@pytest.mark.parametrize("seed", [3])
def test_the_command_writes_the_scores(tmp_path: Path, seed: int, monkeypatch) -> None:
    monkeypatch.setattr("bench.release_score.build_corpus",
                        lambda s, scenarios=None: build_corpus(s, ("harmless-0",)))  # fmt: skip
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["bench-releases", "--seeds", str(seed), "--output", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["seeds"] == [seed]
    assert written["overall"]["judge"]["tn"] == 1
    assert "judge" in result.output and "baseline" in result.output


def test_the_corpus_replays_the_same_at_every_batch_size() -> None:
    """The fleet control reads other services' samples: still the same output at any batch size."""
    corpus = build_corpus(2, ("fleet-dip", "incident-dependency"))
    config = parse_config_text(corpus_config_yaml())
    outputs = [replay(iter(corpus.lines), config, batch_size=size).output for size in (1, 50)]
    assert outputs[0]["releases"] and outputs[0]["tickets"]
    assert json.dumps(outputs[0], sort_keys=True, default=str) == json.dumps(
        outputs[1], sort_keys=True, default=str
    )
