"""A game day against a served app, scored; the replay path and the CLI commands of the lab."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from autoticket.api.app import create_app
from autoticket.cli import app
from autoticket.clock import FixedClock
from autoticket.service.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gameday import play, read_back  # noqa: E402
from bench.scenario import ScenarioSpec, build_scenario, write_scenario  # noqa: E402
from bench.scenario_run import default_config, pipeline_tickets, tickets_of_store  # noqa: E402
from bench.scenario_score import score  # noqa: E402
from bench.server import free_port  # noqa: E402

SMALL = ScenarioSpec(seed=5, span=timedelta(hours=8), scale=0.3)


class _TestPace:
    """The served app's fixed clock: waiting moves it on and lets the worker run."""

    def __init__(self, clock: FixedClock, runtime: Runtime) -> None:
        self.clock, self.runtime = clock, runtime

    def now(self) -> datetime:
        return self.clock.now()

    def wait_until(self, at: datetime) -> None:
        if at > self.clock.now():
            self.clock.set(at)
        self.runtime.worker.drain()


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[TestClient, _TestPace]]:
    """The app over a fresh store (SQLite and PostgreSQL), its clock at the scenario's start."""
    scenario = build_scenario(SMALL)
    start = datetime.fromisoformat(next(iter(scenario.received.values())).replace("Z", "+00:00"))
    clock = FixedClock(start)
    runtime = Runtime(default_config(), engine, clock=clock, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client, _TestPace(clock, runtime)


def test_a_game_day_files_what_replay_files(served: tuple[TestClient, _TestPace]) -> None:
    client, pace = served
    scenario = build_scenario(SMALL)
    truth = scenario.truth()
    seen: list[int] = []
    record = play(
        scenario.lines, client, pace, speed=1.0, progress=lambda n, _t, _a: seen.append(n)
    )
    assert record.errors == [] and record.posted == len(scenario.lines) == seen[-1]
    assert len(record.events) == scenario.stats["alerts_in_bodies"]
    pace.wait_until(pace.now() + timedelta(hours=2))  # resolve timers run out
    live = score(read_back(client, record), truth)
    replayed = score(pipeline_tickets(scenario.lines, default_config())[0], truth)
    assert live["tickets"] == replayed["tickets"] > 0
    for key in (
        "duplicate_tickets",
        "noise_tickets",
        "missed_actionable",
        "purity",
        "team_accuracy",
        "premature_resolutions",
    ):
        assert live[key] == replayed[key], key


def test_scenario_generate_score_and_simulate_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "s"
    made = runner.invoke(
        app,
        [
            "scenario",
            "generate",
            "--seed",
            "4",
            "--out",
            str(out),
            "--hours",
            "6",
            "--scale",
            "0.2",
        ],
    )
    assert made.exit_code == 0, made.output
    assert {p.name for p in out.iterdir()} == {
        "stream.ndjson",
        "truth.json",
        "catalog.yaml",
        "config.yaml",
    }
    result_file = tmp_path / "score.json"
    scored = runner.invoke(app, ["scenario", "score", str(out), "--output", str(result_file)])
    assert scored.exit_code == 0, scored.output
    assert "jiralert baseline" in scored.output
    results = json.loads(result_file.read_text())
    [run] = results["per_scenario"]
    assert run["autoticket"]["ideal_tickets"] == run["jiralert"]["ideal_tickets"] > 0
    assert set(results["targets"]) == set(run["targets"]) >= {"purity", "duplicate_rate"}
    assert "issue 15 targets met by autoticket" in scored.output
    printed = runner.invoke(app, ["simulate", str(out)])
    assert printed.exit_code == 0, printed.output
    assert (
        printed.output.count("\n#") + printed.output.startswith("#") == run["autoticket"]["tickets"]
    )
    missing = runner.invoke(app, ["scenario", "score"])
    assert missing.exit_code == 2 and "--seeds" in missing.output


def test_bad_scenarios_and_an_unreachable_server_are_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    no_stream = runner.invoke(app, ["scenario", "score", str(empty)])
    assert no_stream.exit_code == 2
    assert "stream.ndjson: cannot be read" in no_stream.output
    (empty / "stream.ndjson").write_text("")
    (empty / "truth.json").write_text('{"incidents": []}')
    partial = runner.invoke(app, ["scenario", "score", str(empty)])
    assert partial.exit_code == 2
    assert "truth.json: missing episodes, deliveries, received" in partial.output
    (empty / "truth.json").write_text("{")
    broken = runner.invoke(app, ["scenario", "score", str(empty)])
    assert broken.exit_code == 2 and "not a readable JSON truth" in broken.output
    out = tmp_path / "s"
    write_scenario(build_scenario(ScenarioSpec(seed=1, span=timedelta(hours=2), scale=0.1)), out)
    closed = free_port()
    gone = runner.invoke(
        app, ["simulate", str(out), "--url", f"http://127.0.0.1:{closed}", "--speed", "100000"]
    )
    assert gone.exit_code == 2 and "game day failed: ConnectError" in gone.output


def test_replay_s_tickets_read_the_same_from_either_store(engine: Engine) -> None:
    from autoticket.replay import replay

    scenario = build_scenario(SMALL)
    replay(iter(scenario.lines), default_config(), engine=engine)
    stored = tickets_of_store(engine)
    in_memory, stats = pipeline_tickets(scenario.lines, default_config())
    assert len(stored) == len(in_memory) == stats["tickets"] > 0
    assert sorted(sorted(t.alerts) for t in stored) == sorted(sorted(t.alerts) for t in in_memory)
    assert score(stored, scenario.truth())["raw"] == score(in_memory, scenario.truth())["raw"]
