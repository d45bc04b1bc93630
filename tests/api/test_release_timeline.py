"""The release timeline in the API: filters, paging, per service and environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import load_config
from autoticket.model import Release
from autoticket.service.runtime import Runtime
from autoticket.store.incidents import incidents_opened_between
from autoticket.store.releases import list_releases, release_targets, save_release

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _save(engine: Engine, service: str, environment: str, version: str, minutes: int) -> None:
    release = Release(service, environment, version, T0 + timedelta(minutes=minutes))
    with engine.begin() as conn:
        save_release(conn, release, T0)


def test_the_timeline_is_newest_first_filtered_and_paged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    for k in range(5):
        _save(engine, "checkout", "prod", f"v{k}", 10 * k)
    _save(engine, "checkout", "staging", "v9", 0)
    _save(engine, "search", "prod", "s1", 5)
    with engine.connect() as conn:
        assert release_targets(conn) == [
            ("checkout", "prod", 5),
            ("checkout", "staging", 1),
            ("search", "prod", 1),
        ]
        page, total = list_releases(conn, "checkout", "prod", limit=2, offset=2)
        assert ([r.version for r in page], total) == (["v2", "v1"], 5)
        assert incidents_opened_between(conn, T0, T0 + timedelta(hours=1)) == []
    runtime = Runtime(load_config(None), engine, start_worker=False, clock=FixedClock(T0))
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        first = client.get(
            "/api/v1/releases", params={"service": "checkout", "environment": "prod", "limit": 3}
        ).json()
        assert first["total"] == 5
        assert [r["version"] for r in first["items"]] == ["v4", "v3", "v2"]
        rest = client.get(
            "/api/v1/releases",
            params={"service": "checkout", "environment": "prod", "limit": 3, "offset": 3},
        ).json()
        assert [r["version"] for r in rest["items"]] == ["v1", "v0"]
        item = rest["items"][0]
        assert {"verdict", "score", "action", "decided_at"} <= item.keys()
        staging = client.get("/api/v1/releases", params={"environment": "staging"}).json()
        assert [r["version"] for r in staging["items"]] == ["v9"]
        too_long = client.get("/api/v1/releases", params={"service": "x" * 200})
        assert too_long.status_code == 422
