"""Limits against a real `autoticket serve`: a huge label under a regex route, and a
client that trickles its body.

These promise latencies of a served process, so they measure them, with bounds
far above what a healthy server needs (it answers /healthz in milliseconds).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from conftest import am_alert, am_payload

from .conftest import HOST, Autoticket, start_autoticket, write_test_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BODY_TIMEOUT_S = 1.0
HEALTHZ_BOUND_S = 1.0  # the promise is 100 ms; generous for a loaded test machine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Autoticket]:
    directory = tmp_path_factory.mktemp("limits")
    config = write_test_config(directory)
    data = yaml.safe_load(config.read_text())
    data["ingest"] = {**(data.get("ingest") or {}), "body_timeout": f"{BODY_TIMEOUT_S:g}s"}
    data["server"] = {**(data.get("server") or {}), "header_timeout": f"{BODY_TIMEOUT_S:g}s"}
    canary = {"name": "canary", "matchers": ['instance=~".*-.*-canary"'], "group_by": ["instance"]}
    data["routes"] = [canary, *data["routes"]]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    started = start_autoticket("limits", f"sqlite:///{directory / 'limits.db'}", config, directory)
    try:
        yield started
    finally:
        started.client.close()
        started.proc.stop()


def _healthz_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=30.0) as client:
        while not stop.is_set():
            began = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            out.append(time.perf_counter() - began)
            time.sleep(0.02)


def test_a_90kb_label_under_a_regex_route_leaves_healthz_responsive(server: Autoticket) -> None:
    instance = "web-" * 22_500 + "1-canary"  # 90 KB; `re` took 24 s on this
    deliveries = [
        am_payload(am_alert(alertname=f"Huge{i}", instance=f"{i}{instance}")) for i in range(5)
    ]
    latencies: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_healthz_latencies, args=(server.url, stop, latencies))
    poller.start()
    try:
        for payload in deliveries:
            r = server.client.post("/api/v1/ingest/alertmanager", json=payload)
            assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        found: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(found) < 5:
            found = [i for n in range(5) for i in server.incidents(f"Huge{n}")]
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join(timeout=60)
    assert not poller.is_alive(), "the /healthz poller did not finish"
    assert len(found) == 5, "every huge-label event is processed"
    assert latencies, "the poller got answers"
    assert max(latencies) < HEALTHZ_BOUND_S, sorted(latencies)[-5:]
    detail = server.incident(int(found[0]["id"]))  # type: ignore[call-overload]
    decisions = detail["explain"]["events"][0]["decisions"]
    capped = next(d for d in decisions if d["stage"] == "normalize")
    assert capped["inputs"]["truncated"] == ["labels.instance"]


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes. A close while our last trickled bytes
    were still unread arrives as a reset after the answer: what came before counts."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        if not data:
            raise
    return data


def test_a_client_trickling_its_body_gets_408_and_a_closed_connection(
    server: Autoticket,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/ingest/alertmanager HTTP/1.1\r\n"
            + f"Host: {HOST}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        began = time.monotonic()
        for _ in range(200):  # one byte every 0.1 s, for up to 20 s, until it answers
            answered, _, _ = select.select([sock], [], [], 0.1)
            if answered:
                break
            sock.sendall(b" ")
        received = _read_all(sock)  # returns at EOF: the server closed the connection
        held = time.monotonic() - began
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"request_timeout" in received
    assert held < 15, f"the connection stayed open {held:.1f}s"


def _trickle_until_answered(sock: socket.socket, byte: bytes) -> tuple[bytes, float]:
    """Send `byte` every 0.1 s (up to 20 s) until the server answers; read to EOF."""
    began = time.monotonic()
    for _ in range(200):
        answered, _, _ = select.select([sock], [], [], 0.1)
        if answered:
            break
        if byte:
            sock.sendall(byte)
    return _read_all(sock), time.monotonic() - began


@pytest.mark.parametrize("byte", [b"X", b""], ids=["trickled-headers", "silent"])
def test_a_connection_without_its_headers_in_time_is_closed(
    server: Autoticket, byte: bytes
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " if byte else b"")
        received, held = _trickle_until_answered(sock, byte)
    if byte:
        assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    else:  # nothing asked, nothing answered: closed as an idle keep-alive would be
        assert received == b""
    assert held < 15, f"the connection stayed open {held:.1f}s"
    assert server.client.get("/healthz").status_code == 200  # the server is fine
