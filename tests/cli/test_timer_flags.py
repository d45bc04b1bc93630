"""serve/worker --resolve-after, --reopen-within, --update-interval: the config's
timers overridden for a quick trial, said in the start-up line."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoticket.checks import load_checked
from autoticket.cli import _with_timers, app
from autoticket.config import format_duration
from conftest import EXAMPLES


def test_flags_override_the_config_and_keep_the_rest() -> None:
    config = load_checked(EXAMPLES / "config.yaml")
    changed, text = _with_timers(config, timedelta(seconds=30), None, timedelta(minutes=1))
    assert changed.timers.resolve_after == timedelta(seconds=30)
    assert changed.timers.reopen_within == config.timers.reopen_within == timedelta(hours=1)
    assert changed.tickets.update_interval == timedelta(minutes=1)
    assert changed.tickets.update_every_alerts == config.tickets.update_every_alerts
    assert changed.routes == config.routes
    assert changed.source == config.source
    assert changed.line_of("routes", 0) == config.line_of("routes", 0) is not None
    assert text == "timers: resolve_after 30s (flag), reopen_within 1h, update_interval 1m (flag)"
    assert config.timers.resolve_after == timedelta(minutes=5), "the loaded config is untouched"


def test_no_flag_no_change() -> None:
    config = load_checked(EXAMPLES / "config.yaml")
    assert _with_timers(config, None, None, None) == (config, "")


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(seconds=30), "30s"), (timedelta(seconds=90), "1m30s"),
     (timedelta(days=7, hours=1), "7d1h"), (timedelta(0), "0s")],
)  # fmt: skip
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("flag", "value"),
    [("--resolve-after", "soon"), ("--reopen-within", "-5"), ("--update-interval", "5 min")],
)
def test_a_bad_duration_is_a_usage_error(
    tmp_path: Path, command: str, flag: str, value: str
) -> None:
    database = tmp_path / "never.db"
    args = [command, flag, value, "--database-url", f"sqlite:///{database}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())  # Rich's error box
    assert f"Invalid value for '{flag}': not a duration: '{value}'" in flat
    assert "use e.g. 30s, 5m" in flat
    assert not database.exists()


def test_serve_prints_the_timers_it_runs_with(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTICKET_")}
    cmd = [sys.executable, "-m", "autoticket.cli", "serve", "--port", "0", "--no-worker"]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'serve.db'}", "--resolve-after", "30s"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        stderr = proc.stderr
        assert stderr is not None
        threading.Thread(target=lambda: lines.put(stderr.readline()), daemon=True).start()
        line = lines.get(timeout=60)
        assert "autoticket serving on http://127.0.0.1:" in line
        assert "timers: resolve_after 30s (flag), reopen_within 1h, update_interval 5m" in line
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
