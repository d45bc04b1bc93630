"""Inputs at the edges of what the database can hold, and one bad item among good ones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.model import DeadLetter, Delivery
from autoticket.service.committer import GroupCommitter
from autoticket.service.runtime import Runtime
from autoticket.store import inbox as inbox_store
from autoticket.store.tables import dead_letters, inbox
from conftest import token_headers

MAX_ID = 2**63 - 1
TOO_LARGE = ["99999999999999999999", str(MAX_ID + 1)]


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))  # replay needs an admin token
        yield c


# (method, path with {id}, name of the path parameter)
ID_ROUTES = [
    ("GET", "/api/v1/incidents/{id}", "incident_id"),
    ("POST", "/api/v1/incidents/{id}/ack", "incident_id"),
    ("POST", "/api/v1/incidents/{id}/resolve", "incident_id"),
    ("POST", "/api/v1/incidents/{id}/label", "incident_id"),
    ("GET", "/api/v1/tickets/{id}", "ticket_id"),
    ("GET", "/api/v1/dead-letters/{id}", "dead_letter_id"),
    ("POST", "/api/v1/dead-letters/{id}/replay", "dead_letter_id"),
]


@pytest.mark.parametrize("value", [*TOO_LARGE, "0", "-1"])
@pytest.mark.parametrize(
    ("method", "path", "name"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES]
)
def test_out_of_range_ids_answer_422_naming_the_field(
    client: TestClient, method: str, path: str, name: str, value: str
) -> None:
    kwargs = {"json": {"label": "x"}} if path.endswith("/label") else {}
    r = client.request(method, path.format(id=value), **kwargs)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == f"path.{name}"


@pytest.mark.parametrize(
    ("method", "path", "name"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES]
)
def test_largest_id_is_a_plain_not_found(
    client: TestClient, method: str, path: str, name: str
) -> None:
    kwargs = {"json": {"label": "x"}} if path.endswith("/label") else {}
    r = client.request(method, path.format(id=MAX_ID), **kwargs)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["field"] == name


@pytest.mark.parametrize("listing", ["incidents", "tickets", "dead-letters"])
def test_out_of_range_offset_answers_422(client: TestClient, listing: str) -> None:
    r = client.get(f"/api/v1/{listing}", params={"offset": TOO_LARGE[0]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "query.offset"
    assert client.get(f"/api/v1/{listing}", params={"offset": -5}).status_code == 200


def _delivery(delivery_id: str) -> Delivery:
    return Delivery(delivery_id, "generic", datetime.now(UTC), b'{"title": "x"}', {})


def test_one_failing_item_does_not_fail_its_group(engine: Engine) -> None:
    """Items committed in one group: only the waiter of the bad one gets the exception."""
    with engine.begin() as conn:
        inbox_store.append(conn, [(_delivery("taken"), 1)])
    commits: list[int] = []
    committer = GroupCommitter(engine, on_commit=lambda: commits.append(1))

    async def scenario() -> list[object]:
        calls = [
            committer.append(_delivery("good-1"), 1),
            committer.append(_delivery("taken"), 1),  # unique delivery_id: IntegrityError
            committer.dead_letter(DeadLetter(_delivery("dl-1"), "ingest", "bad", "body"), 422),
            committer.append(_delivery("good-2"), 1),
        ]
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0)  # every item is queued before the writer runs: one group
        assert committer._queue.qsize() == 4
        committer.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        good_1, taken, dead_id, good_2 = asyncio.run(scenario())
    finally:
        committer.stop()
    assert good_1 is None and good_2 is None
    assert isinstance(taken, Exception) and "IntegrityError" in type(taken).__name__
    assert isinstance(dead_id, int)
    with engine.connect() as conn:
        ids = set(conn.execute(select(inbox.c.delivery_id)).scalars())
        letters = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
    assert ids == {"taken", "good-1", "good-2"}
    assert letters == 1
    assert commits  # the worker is woken for what was committed


def test_group_commit_fast_path_is_one_transaction(engine: Engine) -> None:
    committer = GroupCommitter(engine)

    async def scenario() -> None:
        tasks = [asyncio.ensure_future(committer.append(_delivery(f"d-{n}"), 1)) for n in range(5)]
        await asyncio.sleep(0)
        committer.start()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(scenario())
    finally:
        committer.stop()
    assert (committer.batches, committer.items) == (1, 5)
