"""The sinks page: each sink's queue and breaker, parked actions, and an admin-only
replay button behind the Origin and CSRF checks (the API's replay underneath)."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.service.runtime import Runtime
from autoticket.sinks import BuiltinSink, NoSettings, OutboxItem, Sink, SinkResult
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox
from conftest import token_headers

ORIGIN = {"origin": "http://localhost"}
CONFIG = "routes: [{name: default, sinks: [builtin]}]\n"


class Tracker(Sink):
    """Refuses every action for good, so it is parked."""

    type = "tracker"

    def __init__(self) -> None:
        super().__init__("trk", NoSettings(), httpx.Client())

    def apply(self, item: OutboxItem) -> SinkResult:
        return SinkResult("permanent", reason="HTTP 422 Unprocessable Entity")


def _sign_in(client: TestClient, engine: Engine, name: str, role: str) -> None:
    secret = token_headers(engine, name, role)["authorization"][7:]
    r = client.post("/login", data={"token": secret}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_parked_actions_show_and_only_an_admin_replays_them(engine: Engine, t0: datetime) -> None:
    tracker = Tracker()
    sinks = {"builtin": BuiltinSink(), "trk": tracker}
    runtime = Runtime(
        parse_config_text(CONFIG), engine, FixedClock(t0), start_worker=False, sinks=sinks
    )
    with engine.begin() as conn:
        action = TicketAction(1, "open", "1-open", ["trk"], {"title": "Checkout down"})
        outbox_store.enqueue(conn, [action], t0)
    assert runtime.external.run_once() == 1
    with engine.connect() as conn:
        parked_id = conn.execute(select(outbox.c.id)).scalar_one()
    form = f"/sinks/trk/parked/{parked_id}/retry"
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        _sign_in(client, engine, "val", "viewer")
        page = client.get("/sinks").text
        assert "Parked in trk" in page and "HTTP 422 Unprocessable Entity" in page
        assert "Checkout down" in page and form not in page, "no button for a viewer"
        assert client.post(form, headers=ORIGIN).status_code == 403
        _sign_in(client, engine, "root", "admin")
        page = client.get("/sinks").text
        assert form in page
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert csrf is not None
        assert client.post(form, data={"csrf": "0" * 64}, headers=ORIGIN).status_code == 403
        cross = {"origin": "http://evil.example"}
        assert client.post(form, data={"csrf": csrf.group(1)}, headers=cross).status_code == 403
        done = client.post(
            form, data={"csrf": csrf.group(1)}, headers=ORIGIN, follow_redirects=False
        )
        assert done.status_code == 303
        again = client.post(form, data={"csrf": csrf.group(1)}, headers=ORIGIN)
        assert again.status_code == 404 and "no parked action" in again.text
        assert "Nothing parked" in client.get("/sinks").text
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.status)).scalar_one() == "pending"
