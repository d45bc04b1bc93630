"""`releases.prometheus` and `releases.slis` in the config, and the live verdict on the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.checks import config_problems
from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.service.runtime import Runtime

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

LIVE = """
routes: [{name: all}]
releases:
  window: 20m
  baseline: 20m
  step: 30s
  prometheus: {url: "http://prom.test:9090", timeout: 3s, step: 1m, bearer_token_env: PROM_T}
  slis:
    - name: checkout_error_ratio
      query: 'sum(rate(errors_total{service="{service}",env="{environment}"}[1m]))'
      critical: true
      weight: 2
"""


def test_the_live_settings_load_with_their_defaults_and_specs() -> None:
    releases = parse_config_text(LIVE).releases
    assert (releases.window, releases.baseline, releases.step) == (
        timedelta(minutes=20),
        timedelta(minutes=20),
        timedelta(seconds=30),
    )
    assert releases.prometheus is not None
    assert (releases.prometheus.timeout, releases.prometheus.step) == (
        timedelta(seconds=3),
        timedelta(minutes=1),
    )
    spec = releases.spec_for("checkout_error_ratio")
    assert (spec.critical, spec.weight) == (True, 2.0)
    defaults = parse_config_text("routes: [{name: all}]").releases
    assert (defaults.window, defaults.baseline, defaults.step) == (
        timedelta(minutes=30),
        timedelta(minutes=30),
        timedelta(minutes=1),
    )


@pytest.mark.parametrize(
    ("releases", "where", "message"),
    [
        ("{slis: [{name: a, query: up}]}", "releases", "set releases.prometheus.url"),
        ("{prometheus: {url: 'prom:9090'}}", "releases.prometheus.url", "http(s) URL"),
        ("{window: 0s}", "releases.window", "longer than 0s"),
        (
            "{prometheus: {url: 'http://p'}, slis: [{name: a, query: 'up{job={service}}'}]}",
            "releases.slis.0.query",
            "no quoted string",
        ),
        (
            "{prometheus: {url: 'http://p'}, metrics: {a: {}}, slis: [{name: a, query: up}]}",
            "releases",
            "slis or metrics, not both",
        ),
        (
            "{prometheus: {url: 'http://p'}, slis: [{name: a, query: up}, {name: a, query: up}]}",
            "releases",
            "unique: a",
        ),
    ],
)
def test_bad_live_settings_name_the_field(releases: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(f"routes: [{{name: all}}]\nreleases: {releases}\n")
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(path == where and message in text for path, text in problems), problems


def test_an_unset_credential_variable_is_a_config_problem() -> None:
    config = parse_config_text(LIVE)
    problems = config_problems(config, env={})
    assert [(p.path, p.message) for p in problems] == [
        ("releases.prometheus.bearer_token_env", "environment variable PROM_T is not set")
    ]
    assert config_problems(config, env={"PROM_T": "x"}) == []


def _matrix(values: list[tuple[datetime, float]]) -> dict[str, Any]:
    points = [[at.timestamp(), repr(v)] for at, v in values]
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": {}, "values": points}]},
    }


def test_the_release_api_judges_configured_slis_from_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /api/v1/releases/{id} queries Prometheus for the SLI; nothing was pushed."""
    monkeypatch.setenv("PROM_T", "token")
    queries: list[dict[str, str]] = []

    def prometheus(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        queries.append(form)
        start, end = float(form["start"]), float(form["end"])
        at = START - timedelta(minutes=20)
        values = []
        while at.timestamp() <= end:
            if at.timestamp() >= start:  # 1% errors before the release, 5% after
                values.append((at, (0.01 if at < START else 0.05) + (at.minute % 3) * 0.001))
            at += timedelta(minutes=1)
        return httpx.Response(200, json=_matrix(values))

    clock = FixedClock(START + timedelta(minutes=25))
    runtime = Runtime.from_url(
        parse_config_text(LIVE),
        f"sqlite:///{tmp_path}/live.db",
        start_worker=False,
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(prometheus)),
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        body = {
            "service": "checkout",
            "environment": "prod",
            "version": "v2",
            "started_at": START.isoformat(),
        }
        assert client.post("/api/v1/releases", json=body).status_code == 201
        release_id = client.get("/api/v1/releases").json()["items"][0]["id"]
        verdict = client.get(f"/api/v1/releases/{release_id}").json()
    assert queries[0]["query"] == 'sum(rate(errors_total{service="checkout",env="prod"}[1m]))'
    assert float(queries[0]["start"]) == (START - timedelta(minutes=20)).timestamp()
    assert float(queries[0]["end"]) == (START + timedelta(minutes=20)).timestamp()
    assert verdict["verdict"] == "fail"
    assert verdict["action"] == "rollback"
    (metric,) = verdict["metrics"]
    assert (metric["name"], metric["classification"], metric["critical"]) == (
        "checkout_error_ratio",
        "high",
        True,
    )
    assert metric["before"]["count"] == 20 and metric["ratio"] > 4


def test_the_prometheus_example_in_the_docs_is_valid() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "releases.md").read_text()
    (block,) = [b.split("```")[0] for b in text.split("```yaml")[1:] if "slis:\n    -" in b]
    config = parse_config_text("routes: [{name: all}]\n" + block)
    assert config_problems(config, env={"PROM_TOKEN": "t", "PROM_API_KEY": "k"}) == []
    releases = config.releases
    assert [s.name for s in releases.slis] == ["http_error_ratio", "http_latency_seconds"]
    query = releases.slis[0].template.render({"service": "checkout", "environment": "prod"})
    assert 'service="checkout",env="prod",code=~"5.."' in query
