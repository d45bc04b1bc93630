"""serve binds its port before anything else starts: a taken port is one clear
line and exit 2, and --port 0 serves on a free port whose URL is printed."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.service.listen import ListenError, bound_port, listen


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_taken_port_is_one_clear_error_before_any_start_up(taken: int, tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    result = CliRunner().invoke(
        app, ["serve", "--port", str(taken), "--database-url", f"sqlite:///{database}"]
    )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{taken}" in result.output
    assert "pick another with --port" in result.output
    assert not database.exists(), "nothing may start (nor migrate) before the port is ours"


def test_listen_on_port_zero_accepts_connections() -> None:
    sock = listen("127.0.0.1", 0)
    try:
        port = bound_port(sock)
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        sock.close()


def test_an_address_not_on_this_machine_names_the_address() -> None:
    # 192.0.2.0/24 is reserved for documentation: binding to it fails at once.
    with pytest.raises(ListenError, match=re.escape("cannot listen on 192.0.2.1:8080: ")):
        listen("192.0.2.1", 8080)


def test_serve_on_port_zero_prints_the_port_it_serves_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTICKET_")}
    cmd = [sys.executable, "-m", "autoticket.cli", "serve", "--port", "0"]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'serve.db'}"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, cwd=tmp_path, text=True)
    try:
        line = _first_line(proc, within=60)
        found = re.search(r"serving on (http://127\.0\.0\.1:(\d+)/)", line)
        assert found, line
        assert int(found.group(2)) > 0
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(found.group(1) + "healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def _first_line(proc: subprocess.Popen[str], within: float) -> str:
    """The first stderr line, read on a thread so a silent child cannot hang the test."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr
    threading.Thread(target=lambda: lines.put(stderr.readline()), daemon=True).start()
    try:
        return lines.get(timeout=within)
    except queue.Empty:
        raise AssertionError(f"serve printed nothing within {within:.0f}s") from None
