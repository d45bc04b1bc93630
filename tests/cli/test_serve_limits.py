"""`serve` hands the `server:` limits of the config to uvicorn and to the listening socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner
from uvicorn.protocols.http.h11_impl import H11Protocol

from autoticket import cli
from autoticket.cli import app


class _Recorder:
    configs: list[Any] = []

    def __init__(self, config: uvicorn.Config) -> None:
        self.configs.append(config)

    def run(self, sockets: list[Any]) -> None:
        for sock in sockets:
            sock.close()


def test_serve_applies_the_server_limits_of_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "server:\n  keep_alive_timeout: 3s\n  max_connections: 77\n"
        "  backlog: 99\n  max_header_bytes: 8192\n  header_timeout: 7s\n"
    )
    backlogs: list[int] = []
    real_listen = cli._listen

    def listen(host: str, port: int, backlog: int = 2048) -> Any:
        backlogs.append(backlog)
        return real_listen(host, port, backlog)

    monkeypatch.setattr(uvicorn, "Server", _Recorder)
    monkeypatch.setattr(cli, "_listen", listen)
    _Recorder.configs.clear()
    database = f"sqlite:///{tmp_path / 'a.db'}"
    args = ["serve", "--config", str(config), "--port", "0", "--no-worker"]
    result = CliRunner().invoke(app, [*args, "--database-url", database])
    assert result.exit_code == 0, result.output
    [uv] = _Recorder.configs
    assert (uv.timeout_keep_alive, uv.limit_concurrency, uv.backlog) == (3, 77, 99)
    assert uv.h11_max_incomplete_event_size == 8192
    assert issubclass(uv.http, H11Protocol) and uv.http.header_timeout == 7.0
    assert backlogs == [99]


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("ingest:\n  body_timeout: 0s\n", "ingest.body_timeout", "longer than 0s"),
        ("server:\n  keep_alive_timeout: 0\n", "server.keep_alive_timeout", "longer than 0s"),
        ("server:\n  max_connections: 0\n", "server.max_connections", "greater than 0"),
        ("ingest:\n  max_label_value_length: 10\n", "ingest.max_label_value_length", "64"),
        ("ingest:\n  max_labels: 3\n", "ingest.max_labels", "8"),
    ],
)
def test_limits_that_cannot_work_are_config_errors(
    tmp_path: Path, text: str, path: str, fragment: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = CliRunner().invoke(app, ["check-config", str(config)])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert f"line 2: {path}:" in flat
    assert fragment in flat
