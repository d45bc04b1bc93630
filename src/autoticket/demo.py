"""`autoticket demo`: a server with content, from the bundled example stream."""

from __future__ import annotations

import socket
import threading
import time
from importlib import resources
from pathlib import Path

import httpx
import orjson
import uvicorn

from autoticket.api.app import create_app
from autoticket.config import Config
from autoticket.service.listen import bound_port
from autoticket.service.runtime import Runtime

__all__ = ["demo_stream_path", "run_demo"]


def demo_stream_path() -> Path:
    return Path(str(resources.files("autoticket") / "examples" / "streams" / "demo.ndjson"))


def run_demo(config: Config, sock: socket.socket, runtime: Runtime) -> None:
    """Serve on the bound `sock` in a thread, feed it the demo stream, then wait."""
    app = create_app(runtime)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{bound_port(sock)}"
    for _ in range(100):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.1)
    if not server.started:
        runtime.stop()
        raise SystemExit(f"demo: the server on {base} did not start; see the log above")
    sent = 0
    with httpx.Client(base_url=base, timeout=10) as client:
        for raw in demo_stream_path().read_bytes().splitlines():
            line = orjson.loads(raw)
            response = client.post(
                f"/api/v1/ingest/{line['source']}",
                json=line["body"],
                headers=line.get("headers") or {},
            )
            sent += response.status_code == 202
    print(f"demo: fed {sent} deliveries; open {base}/ (Ctrl-C to stop)", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.should_exit = True
