"""Fuzz the network-facing ingest endpoint: never a 500, always an explaining body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoticket.api.app import create_app
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from conftest import EXAMPLES

ALLOWED = {202, 400, 404, 413, 415, 422}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


_EXAMPLE = orjson.loads((EXAMPLES / "payloads" / "alertmanager.json").read_bytes())


@st.composite
def _mutations(draw: st.DrawFn) -> bytes:
    """The example payload with one field of one alert replaced by arbitrary JSON."""
    alert = dict(_EXAMPLE["alerts"][0])
    key = draw(st.sampled_from(sorted(alert)))
    alert[key] = draw(json_values)
    return orjson.dumps({**_EXAMPLE, "alerts": [alert]})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "f.db"
    runtime = Runtime.from_url(
        parse_config_text("ingest: {max_body_bytes: 4096}"), f"sqlite:///{path}", start_worker=False
    )
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        yield c


def _check(client: TestClient, source: str, body: bytes, content_type: str) -> None:
    r = client.post(
        f"/api/v1/ingest/{source}", content=body, headers={"content-type": content_type}
    )
    assert r.status_code in ALLOWED, (r.status_code, r.text)
    data = r.json()
    if r.status_code == 202:
        assert data["accepted"] == len(data["ids"])
    else:
        assert data["error"]["field"]
        assert data["error"]["message"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from(["alertmanager", "generic", "unknown"]),
    body=st.binary(max_size=300) | json_values.map(orjson.dumps),
    content_type=st.sampled_from(["application/json", "text/plain", "application/vnd+json", ""]),
)
def test_arbitrary_input(client: TestClient, source: str, body: bytes, content_type: str) -> None:
    _check(client, source, body, content_type)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_mutations())
def test_mutated_alertmanager_payloads(client: TestClient, body: bytes) -> None:
    _check(client, "alertmanager", body, "application/json")
