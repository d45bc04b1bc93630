"""A live `autoticket serve` for the benchmark: started, watched and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

__all__ = ["Server", "free_port", "start_server"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    database: Path
    log: Path
    _log_fh: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _status_mb(self, field: str) -> float | None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
        return None

    def peak_rss_mb(self) -> float | None:
        """VmHWM: the most resident memory the server has had so far."""
        return self._status_mb("VmHWM")

    def rss_mb(self) -> float | None:
        return self._status_mb("VmRSS")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server has used so far (all its threads)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful: the runtime stops), then SIGKILL; only this PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._log_fh.close()
        return self.proc.returncode

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start_server(workdir: Path, timeout: float = 60) -> Server:
    """Start `python -m autoticket.cli serve` on 127.0.0.1 and wait for /readyz."""
    port = free_port()
    database = workdir / "bench.db"
    log = workdir / "server.log"
    env = dict(os.environ)
    for name in ("AUTOTICKET_INGEST_TOKEN", "AUTOTICKET_CONFIG", "AUTOTICKET_DATABASE_URL"):
        env.pop(name, None)  # bundled config, no ingest token, our own database
    cmd = [
        sys.executable, "-m", "autoticket.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--database-url", f"sqlite:///{database}",
    ]  # fmt: skip
    log_fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = Server(proc, f"http://127.0.0.1:{port}", database, log, log_fh)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                server.stop()
                raise RuntimeError(f"server exited ({proc.returncode}): {server.log_tail()}")
            try:
                if client.get("/readyz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server not ready within {timeout}s: {server.log_tail()}")
