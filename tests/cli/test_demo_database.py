"""`make demo` (`autoticket demo`) fills a store of its own, never the one `serve` uses."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from typer.testing import CliRunner

import autoticket.cli as cli
import autoticket.demo as demo_module


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The database URL each demo run opens; nothing is served or written."""
    urls: list[str] = []

    def fake_runtime(config: object, url: str, *args: Any, **kwargs: Any) -> object:
        urls.append(url)
        return object()

    monkeypatch.setattr(cli, "_runtime", fake_runtime)
    monkeypatch.setattr(cli, "_listen", lambda host, port: socket.socket())
    monkeypatch.setattr(demo_module, "run_demo", lambda config, sock, runtime: sock.close())
    return urls


def test_the_demo_does_not_use_the_served_database(
    opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTICKET_DATABASE_URL", "sqlite:///autoticket.db")
    result = CliRunner().invoke(cli.app, ["demo", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert opened == ["sqlite:///autoticket-demo.db"]
    assert opened[0] != cli.Settings.from_env().database_url


def test_the_demo_database_can_be_chosen(opened: list[str]) -> None:
    result = CliRunner().invoke(
        cli.app, ["demo", "--port", "0", "--database-url", "sqlite:///elsewhere.db"]
    )
    assert result.exit_code == 0, result.output
    assert opened == ["sqlite:///elsewhere.db"]
