"""A real database outage: the service keeps answering (503 with a reason, never
500), logs the outage once instead of a traceback per request, loses nothing
it accepted, and says when the database is back.

PostgreSQL: the service reaches the shared server through a TCP proxy the test
cuts (every connection closed, new ones refused) and restores; the server
itself is never touched. SQLite: the database file's directory disappears
(an unmounted volume) while the process runs.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from autoticket.api.app import create_app
from autoticket.config import Config
from autoticket.service.runtime import Runtime
from autoticket.store import make_engine
from conftest import am_alert, am_payload


class CuttableProxy:
    """127.0.0.1:<free port> → target, until `cut()`: then every connection is
    closed and new ones are refused, until `restore()` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._open = True
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return sock

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: cut
                return
            with self._lock:
                if not self._open:
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._open = False
            conns, self._conns = self._conns, []
        with contextlib.suppress(OSError):  # wakes the blocked accept(); close() would not
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        with self._lock:
            self._open = True
        self._listener = self._listen(self.port)

    def close(self) -> None:
        self.cut()


def _wait_for(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll until `check()` holds; the limit only keeps a broken run from hanging."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Everything autoticket logged but the access log (one line per request, always)."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("autoticket") and r.name != "autoticket.access"
    ]


def _access(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autoticket.access"]


def _alert(name: str, fingerprint: str) -> dict[str, object]:
    alert = am_alert(name)
    alert["fingerprint"] = fingerprint
    return alert


def _incidents(client: TestClient) -> list[dict]:
    r = client.get("/api/v1/incidents?status=all")
    return r.json()["items"] if r.status_code == 200 else []


@pytest.fixture
def proxied(pg_engine: Engine, pg_available: str) -> Iterator[tuple[Engine, CuttableProxy]]:
    """An engine on `pg_engine`'s schema that goes through a cuttable proxy."""
    with pg_engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    url = pg_engine.url
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(
        through.replace("postgresql+psycopg://", "postgresql://"),
        connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 5},
    )
    yield engine, proxy
    engine.dispose()
    proxy.close()


def _outage_checks(
    client: TestClient,
    runtime: Runtime,
    cut: Callable[[], None],
    restore: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The common walk: before, during and after an outage."""
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(_alert("Before", "b" * 16)))
    assert r.status_code == 202, r.text
    _wait_for(lambda: len(_incidents(client)) == 1, "the first incident")
    # and for its ticket's log line, written once the dispatch committed
    _wait_for(lambda: any(r.name == "autoticket.tickets" for r in caplog.records), "the ticket")

    caplog.clear()
    cut()
    refused = 0
    for _ in range(10):
        page = client.get("/")
        assert page.status_code == 503, page.text
        assert "text/html" in page.headers["content-type"]
        assert "Database unavailable" in page.text
        assert page.headers["retry-after"] == "5"
        api = client.get("/api/v1/incidents")
        assert api.status_code == 503, api.text
        error = api.json()["error"]
        assert error["code"] == "database_unavailable"
        assert error["message"].startswith("the database is unavailable (")
        assert api.headers["retry-after"] == "5"
        refused += 2
    lost = client.post("/api/v1/ingest/alertmanager", json=am_payload(_alert("During", "d" * 16)))
    assert lost.status_code == 503, lost.text
    assert lost.json()["error"]["code"] == "storage_unavailable"
    assert lost.headers["retry-after"] == "5"
    refused += 1
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert "autoticket_database_available 0.0" in scrape.text
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert ready.json()["checks"]["database"].startswith("unavailable: ")
    if runtime.start_worker:  # the worker fails its rounds too, and says nothing more
        _wait_for(lambda: runtime.worker.last_error is not None, "the worker to see the outage")
        time.sleep(2.5)  # two or three more failing rounds
    during = _lines(caplog)
    assert not [r for r in during if r.exc_info], "no tracebacks during an outage"
    down = [r for r in during if r.getMessage().startswith("database unavailable (")]
    assert len(down) == 1, [r.getMessage() for r in during]
    assert down[0].levelno == logging.ERROR
    assert len(during) == 1, [r.getMessage() for r in during]
    access = _access(caplog)
    assert len(access) == refused + 2  # and /metrics, /readyz
    assert sum(" 503 " in line for line in access) == refused + 1, access

    restore()
    caplog.clear()
    _wait_for(lambda: client.get("/api/v1/incidents").status_code == 200, "the database back")
    back = [r.getMessage() for r in _lines(caplog)]
    assert len(back) == 1, back
    assert back[0].startswith("database available again after ")
    assert back[0].endswith(f", {refused} requests refused")
    assert client.get("/readyz").json()["checks"]["database"] == "ok"
    assert "autoticket_database_available 1.0" in client.get("/metrics").text
    again = client.post("/api/v1/ingest/alertmanager", json=am_payload(_alert("During", "d" * 16)))
    assert again.status_code == 202, again.text
    if not runtime.start_worker:
        runtime.worker.drain()
    _wait_for(lambda: len(_incidents(client)) == 2, "the resent delivery's incident")
    titles = sorted(i["title"] for i in _incidents(client))
    assert ["Before" in titles[0], "During" in titles[1]] == [True, True], titles


def test_postgresql_outage_through_a_cut_proxy(
    proxied: tuple[Engine, CuttableProxy], config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    engine, proxy = proxied
    caplog.set_level(logging.INFO, logger="autoticket")
    runtime = Runtime(config, engine)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        _outage_checks(client, runtime, proxy.cut, proxy.restore, caplog)


def test_sqlite_outage_when_the_volume_goes_away(
    tmp_path: Path, sqlite_template: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """The directory of the database file disappears (an unmounted volume) and
    comes back. Connections the pool already holds would keep reading the moved
    file, so the pool is emptied when it goes, as a restarted process would find it."""
    home = tmp_path / "volume"
    home.mkdir()
    shutil.copyfile(sqlite_template, home / "autoticket.db")
    engine = make_engine(f"sqlite:///{home / 'autoticket.db'}")
    caplog.set_level(logging.INFO, logger="autoticket")
    runtime = Runtime(config, engine)
    away = tmp_path / "unmounted"

    def cut() -> None:
        home.rename(away)
        engine.dispose()

    def restore() -> None:
        engine.dispose()
        away.rename(home)

    try:
        with TestClient(create_app(runtime), base_url="http://localhost") as client:
            _outage_checks(client, runtime, cut, restore, caplog)
    finally:
        engine.dispose()
