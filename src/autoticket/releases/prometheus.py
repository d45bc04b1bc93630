"""Live SLI series from the Prometheus HTTP API (`/api/v1/query_range`).

Each configured SLI (`releases.slis`) is one PromQL template; for a release
it is filled with the release's service and environment (releases/promql.py
escapes them) and evaluated over the baseline and the window at
`releases.prometheus.step`. The answer is a matrix:

    {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {...labels}, "values": [[<unix seconds>, "<value>"], ...]}]}}

Values are strings (`"0.25"`, `"NaN"`, `"+Inf"`): NaN and infinities are
kept, and the judge drops and counts them. A failure (timeout, connection,
HTTP 4xx/5xx with `errorType`/`error`, JSON that is not such an answer, no
series at all) never raises: the SLI is `no_data` with the reason, and the
reason is logged once per SLI, service and environment, until the query
works again.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from autoticket.releases.readers import Reading, Series
from autoticket.releases.settings import PrometheusSettings, SliSpec

__all__ = [
    "MAX_POINTS",
    "PrometheusError",
    "PrometheusReader",
    "missing_secrets",
    "parse_matrix",
]

log = logging.getLogger(__name__)

MAX_POINTS = 10_000  # per series and query; Prometheus refuses more than 11,000
QUERY_RANGE = "/api/v1/query_range"
_SNIPPET = 200  # characters of an error body quoted in a reason

Points = list[tuple[datetime, float]]


class PrometheusError(Exception):
    """A query that gave no usable answer; the message is the no_data reason.

    `unreachable`: no answer at all (timeout, connection): the next query
    would fare no better, so the read's other SLIs are not sent.
    """

    def __init__(self, reason: str, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


def missing_secrets(settings: PrometheusSettings, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field, message) for every environment variable the settings name and env lacks."""
    wanted = [("bearer_token_env", settings.bearer_token_env)] if settings.bearer_token_env else []
    wanted += [(f"headers_env.{header}", var) for header, var in settings.headers_env.items()]
    return [
        (where, f"environment variable {var} is not set")
        for where, var in wanted
        if not env.get(var)
    ]


def _headers(settings: PrometheusSettings, env: Mapping[str, str]) -> dict[str, str]:
    if problems := missing_secrets(settings, env):
        raise ValueError("; ".join(f"releases.prometheus.{w}: {m}" for w, m in problems))
    headers = {"Accept": "application/json", **settings.headers}
    headers |= {header: env[var] for header, var in settings.headers_env.items()}
    if settings.bearer_token_env:
        headers["Authorization"] = f"Bearer {env[settings.bearer_token_env]}"
    return headers


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _seconds(delta: timedelta) -> str:
    """Seconds as a plain number: Prometheus reads `60.48`, but refuses `60.48s`."""
    return f"{delta.total_seconds():.3f}".rstrip("0").rstrip(".")


class PrometheusReader:
    """The configured SLIs of a service and environment, read from Prometheus."""

    def __init__(
        self,
        settings: PrometheusSettings,
        slis: Sequence[SliSpec],
        client: httpx.Client | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`client`: tests pass one on a MockTransport; else the reader owns one.

        Raises ValueError when a variable named by `bearer_token_env` or
        `headers_env` is not set in `env` (default: none set).
        """
        self.settings = settings
        self.slis = list(slis)
        self._headers = _headers(settings, env or {})
        self._owns_client = client is None
        self._client = client or httpx.Client(follow_redirects=False)
        # (SLI, service, environment) whose query fails: logged when it starts failing.
        self._failing: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(sli.name for sli in self.slis)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Reading:
        series: list[Series] = []
        missing: dict[str, str] = {}
        if end <= start:
            return Reading(series, missing)
        values = {"service": service, "environment": environment}
        down: str | None = None  # the reason, once Prometheus did not answer
        for sli in self.slis:
            if down is not None:
                missing[sli.name] = down
                continue
            query = sli.template.render(values)
            try:
                found = self.query_range(query, start, end)
                if not found:
                    raise PrometheusError(f"no series for {service}/{environment}")
            except PrometheusError as exc:
                missing[sli.name] = f"Prometheus: {exc}"
                self._note_failure((sli.name, service, environment), query, str(exc))
                if exc.unreachable:
                    down = missing[sli.name] + " (not queried: an earlier query got no answer)"
                continue
            self._note_success((sli.name, service, environment))
            series.extend(_keyed(sli.name, found, start, end))
        return Reading(series, missing)

    def query_range(
        self, query: str, start: datetime, end: datetime
    ) -> list[tuple[dict[str, str], Points]]:
        """Every series the query yields over [start, end], as (labels, points)."""
        span = end - start
        step = max(self.settings.step, span / MAX_POINTS)
        timeout = self.settings.timeout.total_seconds()
        try:
            response = self._client.post(
                self.settings.url + QUERY_RANGE,
                data={
                    "query": query,
                    "start": _unix(start),
                    "end": _unix(end),
                    "step": _seconds(step),
                    "timeout": _seconds(self.settings.timeout),
                },
                headers=self._headers,
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise PrometheusError(f"no answer within {timeout:g}s", unreachable=True) from None
        except httpx.HTTPError as exc:
            reason = f"unreachable ({type(exc).__name__}: {exc})"
            raise PrometheusError(reason, unreachable=True) from None
        return parse_matrix(response.status_code, response.content)

    def _note_failure(self, key: tuple[str, str, str], query: str, reason: str) -> None:
        with self._lock:
            if key in self._failing:
                return
            self._failing.add(key)
        log.warning(
            "release SLI %s of %s/%s: Prometheus query failed: %s (query: %s)", *key, reason, query
        )

    def _note_success(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            if key not in self._failing:
                return
            self._failing.discard(key)
        log.info("release SLI %s of %s/%s: Prometheus query works again", *key)


def parse_matrix(status: int, body: bytes) -> list[tuple[dict[str, str], Points]]:
    """The series of a query_range answer, or PrometheusError saying what is wrong."""
    try:
        answer: Any = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    if not 200 <= status < 300:
        raise PrometheusError(f"HTTP {status}: {_error_of(answer, body)}")
    if type(answer) is not dict:
        raise PrometheusError(f"not a JSON object: {_snippet(body)}")
    if answer.get("status") != "success":
        raise PrometheusError(f"status {answer.get('status')!r}: {_error_of(answer, body)}")
    data = answer.get("data")
    if type(data) is not dict or data.get("resultType") != "matrix":
        kind = data.get("resultType") if type(data) is dict else None
        raise PrometheusError(f"expected data.resultType 'matrix', got {kind!r}")
    result = data.get("result")
    if type(result) is not list:
        raise PrometheusError("data.result is not a list")
    return [_series(item, i) for i, item in enumerate(result)]


def _series(item: Any, index: int) -> tuple[dict[str, str], Points]:
    where = f"data.result[{index}]"
    if type(item) is not dict:
        raise PrometheusError(f"{where} is not an object")
    labels = item.get("metric") or {}
    if type(labels) is not dict or not all(type(v) is str for v in labels.values()):
        raise PrometheusError(f"{where}.metric is not a map of strings")
    values = item.get("values", [])  # a native-histogram series has none
    if type(values) is not list:
        raise PrometheusError(f"{where}.values is not a list")
    return dict(labels), [_point(v, f"{where}.values[{j}]") for j, v in enumerate(values)]


def _point(pair: Any, where: str) -> tuple[datetime, float]:
    if type(pair) is not list or len(pair) != 2:
        raise PrometheusError(f"{where} is not a [time, value] pair")
    at, value = pair
    if type(at) not in (int, float) or not math.isfinite(at) or type(value) is not str:
        raise PrometheusError(f'{where} is not [unix seconds, "value"]')
    try:
        number = float(value)  # also "NaN", "+Inf", "-Inf"
        moment = datetime.fromtimestamp(at, UTC)
    except (ValueError, OverflowError, OSError):
        raise PrometheusError(f"{where} has a bad value {value[:32]!r} at {at!r}") from None
    return moment, number


def _error_of(answer: Any, body: bytes) -> str:
    if type(answer) is dict and (answer.get("error") or answer.get("errorType")):
        kind = answer.get("errorType") or "error"
        return f"{kind}: {str(answer.get('error', ''))[:_SNIPPET]}"
    return _snippet(body) or "(empty body)"


def _snippet(body: bytes) -> str:
    return body[:_SNIPPET].decode("utf-8", "replace").strip()


def _keyed(
    name: str, found: list[tuple[dict[str, str], Points]], start: datetime, end: datetime
) -> list[Series]:
    """One series keyed by the SLI name; several keyed by it and their labels."""
    series: list[Series] = []
    for labels, points in found:
        key = name
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        if len(found) > 1 and shown:
            key += "{" + ",".join(f"{k}={shown[k]}" for k in sorted(shown)) + "}"
        series.append((key, name, [(t, v) for t, v in points if start <= t < end]))
    return sorted(series, key=lambda s: s[0])
