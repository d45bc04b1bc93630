"""The Prometheus reader on a mocked HTTP API: request shape, parsing, every failure.

The real server is exercised in tests/e2e/test_prometheus_judge.py; here the
edge cases a healthy Prometheus rarely produces (errors, bad JSON, NaN/Inf
strings, several series) are fed through httpx.MockTransport.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from autoticket.model import Release
from autoticket.releases.evaluate import evaluate_with, prefetch
from autoticket.releases.prometheus import PrometheusError, PrometheusReader, parse_matrix
from autoticket.releases.readers import CombinedReader, PushedReader
from autoticket.releases.settings import PrometheusSettings, ReleaseSettings, SliSpec

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SLI = SliSpec(
    name="checkout_error_ratio",
    query='sum(rate(errors{service="{service}",env="{environment}"}[1m]))',
    critical=True,
)
SETTINGS = PrometheusSettings(url="http://prom.test:9090/", step=timedelta(seconds=15))

Handler = Callable[[httpx.Request], httpx.Response]


def _reader(handler: Handler, **kwargs: Any) -> PrometheusReader:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return PrometheusReader(kwargs.pop("settings", SETTINGS), [SLI], client, **kwargs)


def _matrix(*series: tuple[dict[str, str], list[list[Any]]]) -> dict[str, Any]:
    result = [{"metric": labels, "values": values} for labels, values in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _ts(minutes: float) -> float:
    return (START + timedelta(minutes=minutes)).timestamp()


def test_the_request_is_a_query_range_with_the_filled_query_and_window() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_matrix(({}, [[_ts(-1), "0.5"], [_ts(1), "1"]])))

    reading = _reader(handler).read("checkout", "prod", START - timedelta(minutes=30), START)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://prom.test:9090/api/v1/query_range"
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "query": 'sum(rate(errors{service="checkout",env="prod"}[1m]))',
        "start": f"{(START - timedelta(minutes=30)).timestamp():.3f}",
        "end": f"{START.timestamp():.3f}",
        "step": "15",
        "timeout": "10",
    }
    # Only [start, end): the point at +1m is past the end asked for.
    assert reading.series == [
        ("checkout_error_ratio", "checkout_error_ratio", [(START - timedelta(minutes=1), 0.5)])
    ]
    assert reading.missing == {}


def test_values_are_strings_and_nan_and_infinities_are_kept() -> None:
    body = _matrix(
        ({"job": "x"}, [[_ts(0), "NaN"], [_ts(1), "+Inf"], [_ts(2), "-Inf"], [_ts(3), "2e-3"]])
    )
    ((labels, points),) = parse_matrix(200, json.dumps(body).encode())
    assert labels == {"job": "x"}
    values = [v for _, v in points]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 0.002]
    assert points[0][0] == START


def test_several_series_are_keyed_by_their_labels() -> None:
    body = _matrix(
        ({"__name__": "x", "pod": "b"}, [[_ts(0), "1"]]),
        ({"__name__": "x", "pod": "a"}, [[_ts(0), "2"]]),
    )
    reading = _reader(lambda _: httpx.Response(200, json=body)).read(
        "checkout", "prod", START, START + timedelta(minutes=5)
    )
    assert [(key, name) for key, name, _ in reading.series] == [
        ("checkout_error_ratio{pod=a}", "checkout_error_ratio"),
        ("checkout_error_ratio{pod=b}", "checkout_error_ratio"),
    ]


def test_a_very_long_range_asks_for_a_coarser_step() -> None:
    steps: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        steps.append(parse_qs(request.content.decode())["step"][0])
        return httpx.Response(200, json=_matrix(({}, [[_ts(0), "1"]])))

    _reader(handler).read("s", "e", START, START + timedelta(days=7))
    assert steps == ["60.48"]  # 7 days / 10,000 points, above the 15s asked for


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            400,
            b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}',
            "HTTP 400: bad_data: parse error at char 5",
        ),
        (
            422,
            b'{"status":"error","errorType":"execution","error":"many-to-many matching"}',
            "HTTP 422: execution: many-to-many matching",
        ),
        (
            503,
            b'{"status":"error","errorType":"timeout","error":"query timed out"}',
            "HTTP 503: timeout",
        ),
        (502, b"<html>Bad Gateway</html>", "HTTP 502: <html>Bad Gateway</html>"),
        (200, b"not json", "not a JSON object: not json"),
        (
            200,
            b'{"status":"success","data":{"resultType":"vector","result":[]}}',
            "'matrix', got 'vector'",
        ),
        (200, b'{"status":"error","error":"boom"}', "status 'error': error: boom"),
        (200, b'{"status":"success","data":{"resultType":"matrix","result":{}}}', "not a list"),
        (
            200,
            b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}',
            'values[0] is not [unix seconds, "value"]',
        ),
        (
            200,
            b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}',
            "bad value 'x'",
        ),
        (200, json.dumps(_matrix()).encode(), "no series for checkout/prod"),
    ],
)
def test_a_failed_query_is_no_data_with_its_reason(status: int, body: bytes, reason: str) -> None:
    reader = _reader(lambda _: httpx.Response(status, content=body))
    reading = reader.read("checkout", "prod", START, START + timedelta(minutes=5))
    assert reading.series == []
    assert reason in reading.missing["checkout_error_ratio"]
    assert reading.missing["checkout_error_ratio"].startswith("Prometheus: ")


def test_timeouts_and_refused_connections_are_no_data() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    window = (START, START + timedelta(minutes=5))
    slow = _reader(timeout).read("checkout", "prod", *window).missing
    assert slow == {"checkout_error_ratio": "Prometheus: no answer within 10s"}
    down = _reader(refused).read("checkout", "prod", *window).missing
    assert down == {
        "checkout_error_ratio": "Prometheus: unreachable (ConnectError: Connection refused)"
    }


def test_a_failure_is_logged_once_until_the_query_works_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = (
        [httpx.Response(503, content=b"down")] * 3
        + [httpx.Response(200, json=_matrix(({}, [[_ts(0), "1"]])))]
        + [httpx.Response(503, content=b"down")]
    )
    replies = iter(answers)
    reader = _reader(lambda _: next(replies))
    with caplog.at_level(logging.INFO, logger="autoticket.releases.prometheus"):
        for _ in answers:
            reader.read("checkout", "prod", START, START + timedelta(minutes=5))
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "query failed" in m]) == 2
    assert len([m for m in messages if "works again" in m]) == 1


def test_credentials_come_from_the_environment() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_matrix(({}, [[_ts(0), "1"]])))

    settings = SETTINGS.model_copy(
        update={
            "bearer_token_env": "PROM_TOKEN",
            "headers": {"X-Scope-OrgID": "tenant-1"},
            "headers_env": {"X-Extra": "PROM_EXTRA"},
        }
    )
    env = {"PROM_TOKEN": "s3cret", "PROM_EXTRA": "e"}
    _reader(handler, settings=settings, env=env).read("a", "b", START, START + timedelta(1))
    headers = seen[0].headers
    assert headers["authorization"] == "Bearer s3cret"
    assert (headers["x-scope-orgid"], headers["x-extra"]) == ("tenant-1", "e")
    with pytest.raises(ValueError, match="bearer_token_env: environment variable PROM_TOKEN"):
        _reader(handler, settings=settings, env={"PROM_EXTRA": "e"})


def test_parse_matrix_raises_a_readable_error() -> None:
    with pytest.raises(PrometheusError, match="HTTP 500: \\(empty body\\)"):
        parse_matrix(500, b"")


def test_a_failed_sli_is_no_data_in_the_verdict_and_pushed_metrics_still_count() -> None:
    """The SLI's reason reaches the judgement; the other metric is judged from pushed samples."""
    release = Release(service="checkout", environment="prod", version="v1", started_at=START)
    flat = [(START + timedelta(minutes=m), 1.0 + (m % 3) * 0.01) for m in range(-30, 30)]

    def pushed(*_: Any) -> list[Any]:
        return [
            ("checkout_error_ratio", "checkout_error_ratio", flat),  # served by Prometheus
            ("checkout_latency_seconds", "checkout_latency_seconds", flat),
        ]

    live = _reader(lambda _: httpx.Response(503, content=b"down"))
    reader = CombinedReader([live, PushedReader(pushed, live.names)])
    settings = ReleaseSettings(prometheus=SETTINGS, slis=[SLI])
    evaluation = evaluate_with(reader, release, settings, START + timedelta(hours=1))
    by_name = {m["name"]: m for m in evaluation.metrics()}
    assert set(by_name) == {"checkout_error_ratio", "checkout_latency_seconds"}
    assert by_name["checkout_error_ratio"]["classification"] == "no_data"
    assert by_name["checkout_error_ratio"]["reason"] == "Prometheus: HTTP 503: down"
    assert by_name["checkout_latency_seconds"]["classification"] == "pass"
    assert evaluation.verdict == "pass"


def test_once_prometheus_does_not_answer_the_other_slis_are_not_sent() -> None:
    sent: list[str] = []

    def refused(request: httpx.Request) -> httpx.Response:
        sent.append(parse_qs(request.content.decode())["query"][0])
        raise httpx.ConnectError("Connection refused", request=request)

    second = SliSpec(name="checkout_latency_seconds", query='max(lat{service="{service}"})')
    client = httpx.Client(transport=httpx.MockTransport(refused))
    reader = PrometheusReader(SETTINGS, [SLI, second], client)
    missing = reader.read("checkout", "prod", START, START + timedelta(minutes=5)).missing
    assert len(sent) == 1
    assert missing["checkout_error_ratio"] == (
        "Prometheus: unreachable (ConnectError: Connection refused)"
    )
    assert missing["checkout_latency_seconds"] == (
        "Prometheus: unreachable (ConnectError: Connection refused)"
        " (not queried: an earlier query got no answer)"
    )


def test_a_prefetched_reading_is_judged_like_a_live_one() -> None:
    """What the API does: query Prometheus first, then judge inside a transaction."""
    release = Release(service="checkout", environment="prod", version="v1", started_at=START)
    seen: list[tuple[float, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        seen.append((float(form["start"][0]), float(form["end"][0])))
        points = [[_ts(m), str(0.01 if m < 0 else 0.04 + m * 1e-4)] for m in range(-30, 30)]
        return httpx.Response(200, json=_matrix(({}, points)))

    live = _reader(handler)
    settings = ReleaseSettings(prometheus=SETTINGS, slis=[SLI])
    now = START + timedelta(minutes=12)
    fetched = prefetch(live, release, settings, now)
    assert seen == [((START - timedelta(minutes=30)).timestamp(), now.timestamp())]
    assert fetched.names == {"checkout_error_ratio"}
    direct = evaluate_with(CombinedReader([live]), release, settings, now)
    later = evaluate_with(fetched, release, settings, now)
    assert (later.verdict, later.how, later.decided_at) == ("fail", "early_fail", direct.decided_at)
    assert later.metrics() == direct.metrics()
