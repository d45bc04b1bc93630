"""`autoticket bench --live-only --rates`: the live part alone, for before/after pairs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from autoticket.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rates", ["fast", "0", "100,-5"])
def test_bad_rates_are_refused_naming_the_option(rates: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "--live-only", "--rates", rates, "--output", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 2
    assert "--rates" in result.output
    assert not (tmp_path / "r.json").exists()


def test_live_only_skips_replay_and_runs_the_given_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # bench/ is imported from the repository root
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["bench", "--quick", "--live-only", "--rates", "40", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = orjson.loads(out.read_bytes())
    assert figures["replay"] is None
    assert "skipped" in result.output
    assert [r["target_events_per_second"] for r in figures["latency"]["runs"]] == [40.0]
    assert figures["live"]["processed_events_per_second"] > 0
    assert figures["targets"]["replay_events_per_second"]["met"] is None
