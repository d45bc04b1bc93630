"""Pushed SLI samples: field-named errors, stored once per series and time, read by window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config, load_config
from autoticket.errors import PayloadError
from autoticket.releases.samples import parse_samples
from autoticket.replay.check import check_stream
from autoticket.replay.engine import replay
from autoticket.service.runtime import Runtime
from autoticket.store import make_engine, migrate
from autoticket.store.metric_samples import add_samples, read_samples
from autoticket.store.tables import metric_samples

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ERRORS = "checkout_error_ratio"


def _sample(minute: int, v: Any = 0.01, **labels: str) -> dict[str, Any]:
    at = (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    return {"name": ERRORS, "labels": {"service": "checkout", **labels}, "t": at, "v": v}


def test_samples_parse_with_service_environment_and_other_labels() -> None:
    [first, second] = parse_samples(
        {"samples": [_sample(0, environment="prod", quantile="0.99"), _sample(1, v=2)]}
    )
    assert (first.name, first.service, first.environment) == (ERRORS, "checkout", "prod")
    assert first.labels == {"quantile": "0.99"}
    assert first.t == T0
    assert (second.environment, second.v, type(second.v)) == ("default", 2.0, float)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"samples": {}}, "samples", "expected an array, got object"),
        ({"sample": []}, "sample", "did you mean 'sample' -> 'samples'?"),
        ({"samples": [_sample(0, v="1")]}, "samples[0].v", "expected a finite number, got string"),
        (
            {"samples": [_sample(0, v=True)]},
            "samples[0].v",
            "expected a finite number, got boolean",
        ),
        ({"samples": [_sample(0, v=10**400)]}, "samples[0].v", "expected a finite number"),
        (
            {"samples": [_sample(0), {"name": "x", "t": "2026-11-20T09:00:00Z", "v": 1}]},
            "samples[1].labels.service",
            "is required",
        ),
        ({"samples": [_sample(0) | {"t": "soon"}]}, "samples[0].t", "invalid RFC 3339"),
        ({"samples": [_sample(0) | {"name": ""}]}, "samples[0].name", "is required"),
        ({"samples": [_sample(0) | {"value": 1}]}, "samples[0].value", "unknown field"),
    ],
)
def test_bad_samples_name_the_field(body: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_samples(body)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_too_many_samples_is_a_413() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_samples({"samples": [_sample(0)] * 3}, max_samples=2)
    assert (caught.value.status, caught.value.field) == (413, "samples")


def test_stored_once_and_read_by_window_in_time_order(engine: Engine) -> None:
    late = parse_samples({"samples": [_sample(5, v=0.5, environment="prod")]})
    early = parse_samples(
        {"samples": [_sample(m, v=m / 100, environment="prod") for m in range(5)]}
    )
    other = parse_samples({"samples": [_sample(1, environment="staging")]})
    with engine.begin() as conn:
        add_samples(conn, late, T0)
        add_samples(conn, early, T0)
        add_samples(conn, early, T0)  # a retried push
        add_samples(conn, other, T0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_samples)).scalar() == 7
        window = read_samples(
            conn, ERRORS, "checkout", "prod", T0 + timedelta(minutes=1), T0 + timedelta(minutes=5)
        )
    assert [(s.t, s.v) for s in window] == [
        (T0 + timedelta(minutes=m), m / 100) for m in range(1, 5)
    ]  # start included, end excluded, the late sample placed by its t


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime.from_url(
        load_config(None), f"sqlite:///{tmp_path}/m.db", start_worker=False, clock=FixedClock(T0)
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as test_client:
        yield test_client


def test_the_api_accepts_samples_and_names_bad_ones(client: TestClient) -> None:
    ok = client.post("/api/v1/metrics", json={"samples": [_sample(0), _sample(1)]})
    assert (ok.status_code, ok.json()) == (202, {"accepted": 2})
    bad = client.post("/api/v1/metrics", json={"samples": [_sample(0, v=None)]})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "samples[0].v"
    assert (
        client.post(
            "/api/v1/metrics", content=b"{}", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_samples)).scalar() == 2


def test_replay_stores_metrics_lines_and_check_validates_them(
    config: Config, tmp_path: Path
) -> None:
    def line(line_id: str, body: object) -> bytes:
        record = {"id": line_id, "source": "metrics", "received_at": "2026-11-20T09:10:00Z"}
        return orjson.dumps(record | {"body": body})

    lines = [
        line("M1", {"samples": [_sample(3), _sample(1)]}),
        line("M2", {"samples": [_sample(2, v="high")]}),
        line("M3", {"samples": [_sample(1)]}),  # the same sample again: stored once
    ]
    engine = make_engine(f"sqlite:///{tmp_path}/replay.db")
    migrate(engine)
    out = replay(iter(lines), config, engine=engine).output
    expected = [{"line_id": "M2", "error": "samples[0].v: expected a finite number, got string"}]
    assert out["errors"] == expected
    assert check_stream(iter(lines))["errors"] == expected
    with engine.connect() as conn:
        stored = read_samples(conn, ERRORS, "checkout", "default", T0, T0 + timedelta(hours=1))
    assert [s.t for s in stored] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]
