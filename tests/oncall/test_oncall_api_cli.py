"""`GET /api/v1/oncall` and `autoticket oncall`: answers, and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from autoticket.api.app import create_app
from autoticket.cli import app
from autoticket.config import Config, bundled_config_path
from autoticket.service.runtime import Runtime
from conftest import token_headers
from oncall.escalation_config import ONCALL, escalation_config


@pytest.fixture
def config() -> Config:
    return escalation_config()


@pytest.fixture
def runtime(engine: Engine, config: Config) -> Iterator[Runtime]:
    rt = Runtime(config, engine, start_worker=False)
    yield rt
    rt.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        yield c


def test_who_is_on_call_at_an_instant(client: TestClient) -> None:
    r = client.get("/api/v1/oncall", params={"team": "payments", "at": "2026-01-06T12:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["team"], body["user"], body["schedule"], body["layer"], body["source"]) == (
        "payments",
        "bob",
        "payments-primary",
        "primary",
        "rotation",
    )
    assert (body["shift_start"], body["shift_end"]) == (
        "2026-01-06T00:00:00+00:00",
        "2026-01-07T00:00:00+00:00",
    )


def test_now_is_the_default_and_a_viewer_token_may_ask(client: TestClient, engine: Engine) -> None:
    headers = token_headers(engine, "vic", "viewer")
    r = client.get("/api/v1/oncall", params={"team": "payments"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["user"] in ("ann", "bob")
    assert client.get("/api/v1/oncall", params={"team": "payments"}).status_code == 401


def test_a_team_without_a_schedule_has_nobody_and_says_why(client: TestClient) -> None:
    r = client.get("/api/v1/oncall", params={"team": "discovery", "at": "2026-01-06T12:00:00Z"})
    assert r.status_code == 200
    assert r.json()["user"] is None and "has no schedule" in r.json()["reason"]


@pytest.mark.parametrize(
    ("params", "status", "field", "text"),
    [
        ({"team": "nobody"}, 404, "team", "unknown team 'nobody'"),
        ({"team": "payments", "at": "yesterday"}, 422, "at", "not an RFC 3339 time"),
        ({"team": "payments", "at": "2026-01-06T12:00:00"}, 422, "at", "no UTC offset"),
    ],
)
def test_clear_errors(
    client: TestClient, params: dict[str, str], status: int, field: str, text: str
) -> None:
    r = client.get("/api/v1/oncall", params=params)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["field"] == field
    assert text in error["message"]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    data = yaml.safe_load(bundled_config_path().read_text())
    data.update(ONCALL)
    data["catalog"]["teams"]["payments"]["schedule"] = "payments-primary"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_answers_for_an_instant(config_file: Path) -> None:
    code, out, _ = _cli(
        "oncall", "payments", "--at", "2026-01-05T23:59:59Z", "-c", str(config_file)
    )
    assert code == 0
    assert out.startswith("ann is on call for payments at 2026-01-05T23:59:59+00:00")
    assert "layer 'primary'" in out
    code, out, _ = _cli(
        "oncall", "payments", "--at", "2026-01-06T00:00:00Z", "-c", str(config_file), "--json"
    )
    assert code == 0
    assert orjson.loads(out)["user"] == "bob"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["nobody"], "unknown team 'nobody'"),
        (["payments", "--at", "soon"], "not an RFC 3339 time"),
        (["payments", "--at", "2026-01-06T00:00"], "no UTC offset"),
    ],
)
def test_cli_errors_exit_2(config_file: Path, args: list[str], text: str) -> None:
    code, _, err = _cli("oncall", *args, "-c", str(config_file))
    assert code == 2
    assert text in err


def test_cli_exits_1_when_nobody_is_on_call(config_file: Path) -> None:
    code, out, _ = _cli(
        "oncall", "payments", "--at", "2025-12-31T12:00:00Z", "-c", str(config_file)
    )
    assert code == 1
    assert "nobody is on call for payments" in out
    assert "starts later" in out


def test_refresh_rereads_the_feeds_and_the_answer_follows(engine: Engine, tmp_path: Path) -> None:
    feed = tmp_path / "oncall.ics"

    def shift(person: str) -> str:
        return (
            "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:1\n"
            "DTSTAMP:20260101T000000Z\nDTSTART:20260105T000000Z\nDTEND:20260112T000000Z\n"
            f"SUMMARY:{person}\nEND:VEVENT\nEND:VCALENDAR\n"
        )

    feed.write_text(shift("ann"))
    schedules = {"cal": {"layers": [{"name": "feed", "ical": {"path": str(feed)}}]}}
    config = escalation_config(schedules=schedules, escalation_policies={})
    teams = dict(config.catalog.teams)
    teams["payments"] = teams["payments"].model_copy(
        update={"schedule": "cal", "escalation_policy": None}
    )
    config = config.model_copy(
        update={"catalog": config.catalog.model_copy(update={"teams": teams})}
    )
    runtime = Runtime(config, engine, start_worker=False)
    params = {"team": "payments", "at": "2026-01-06T12:00:00Z"}
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        assert c.get("/api/v1/oncall", params=params).json()["user"] == "ann"
        feed.write_text(shift("bob"))
        r = c.post("/api/v1/oncall/refresh", json={})
        assert r.status_code == 200
        assert r.json() == {"feeds": [{"feed": "cal.feed", "error": None}]}
        answer = c.get("/api/v1/oncall", params=params).json()
        assert (answer["user"], answer["source"]) == ("bob", "ical")
        feed.write_text("garbage")
        error = c.post("/api/v1/oncall/refresh", json={}).json()["feeds"][0]["error"]
        assert "not an iCalendar file" in error
        assert c.get("/api/v1/oncall", params=params).json()["user"] == "bob"  # last copy
    runtime.stop()
