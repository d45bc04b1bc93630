"""The `sinks:` map: names checked by config.py, settings by each sink type, line-numbered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.config import ConfigError, parse_config_text
from autoticket.sinks import BuiltinSink, build_sinks, check_sinks

HOOK = """\
sinks:
  hook:
    type: webhook
    url: https://hooks.example.com/x
    secret_env: HOOK_SECRET
routes:
  - name: default
    sinks: [builtin, hook]
"""
ENV = {"HOOK_SECRET": "x"}


def _problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    """Every problem as `line N: path: message`, from parsing and from the sinks."""
    try:
        config = parse_config_text(text)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in check_sinks(config, ENV if env is None else env)]


def test_a_valid_webhook_sink_and_the_implicit_builtin() -> None:
    config = parse_config_text(HOOK)
    assert _problems(HOOK) == []
    sinks = build_sinks(config, httpx.Client(), env=ENV)
    assert set(sinks) == {"builtin", "hook"}
    assert isinstance(sinks["builtin"], BuiltinSink)


BAD: list[tuple[str, str]] = [
    (HOOK.replace("[builtin, hook]", "[builtin, jira]"), "line 8: routes.0.sinks.1: unknown sink"),
    (
        HOOK.replace("type: webhook", "type: carrier-pigeon"),
        "line 3: sinks.hook.type: unknown sink type 'carrier-pigeon'",
    ),
    (HOOK.replace("https://hooks", "ftp://hooks"), "line 4: sinks.hook.url: URL scheme should be"),
    (
        HOOK.replace("    secret_env: HOOK_SECRET\n", ""),
        "line 2: sinks.hook.secret_env: Field required",
    ),
    (
        HOOK.replace("type: webhook", "type: webhook\n    tiemout: 5s"),
        "line 4: sinks.hook.tiemout: Extra inputs",
    ),
    (
        HOOK.replace("type: webhook", "type: webhook\n    timeout: 0s"),
        "line 4: sinks.hook.timeout: Value error, timeout must be",
    ),
    (
        HOOK.replace("type: webhook", "type: webhook\n    headers: {Authorization: x}"),
        "line 4: sinks.hook.headers: Value error, headers set by",
    ),
    (
        HOOK.replace("hook:\n    type: webhook", "builtin:\n    type: webhook"),
        "line 3: sinks.builtin.type: the name 'builtin' is the built-in store",
    ),
    ("sinks:\n  hook: {url: x}\n", "line 2: sinks.hook.type: Field required"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_sink_config_is_line_numbered(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def test_a_missing_secret_names_the_sink_and_the_variable() -> None:
    problems = _problems(HOOK, env={})
    assert problems == [
        "line 5: sinks.hook.secret_env: sink 'hook': environment variable HOOK_SECRET is not set"
    ]
    with pytest.raises(ConfigError) as info:
        build_sinks(parse_config_text(HOOK, "ops.yaml"), httpx.Client(), env={})
    assert str(info.value).startswith("ops.yaml: 1 problem(s)")
    assert "HOOK_SECRET" in str(info.value)


def test_check_config_reports_sink_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HOOK.replace("https://hooks", "ftp://hooks"))
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 2
    assert "line 4: sinks.hook.url: URL scheme" in result.output
    path.write_text(HOOK)
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 2
    assert "line 5: sinks.hook.secret_env" in result.output and "HOOK_SECRET" in result.output
    monkeypatch.setenv("HOOK_SECRET", "x")
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output


def test_config_validation_does_not_import_the_sinks() -> None:
    code = (
        "import sys; from autoticket.config import load_config; load_config(None); "
        "assert 'autoticket.sinks' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_worker_refuses_to_start_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HOOK)
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    monkeypatch.setenv("AUTOTICKET_DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    result = CliRunner().invoke(app, ["worker", "--config", str(path)])
    assert result.exit_code == 2
    assert "config error" in result.output
    assert "sink 'hook': environment variable HOOK_SECRET is not set" in result.output
