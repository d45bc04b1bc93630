"""Pushed SLI samples: the body of `POST /api/v1/metrics` and of `source: "metrics"` lines.

`{"samples": [{"name", "labels": {"service", "environment", ...}, "t", "v"}]}`.
Samples may arrive late and out of order: each is placed by its `t`. A
sample without a finite value is refused (the judge treats gaps as gaps, not
as zeros); every problem names the sample and field.
"""

from __future__ import annotations

import math
from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import MetricSample
from autoticket.sources.base import check_str_map, json_type, parse_time, reject_unknown_fields

__all__ = ["MAX_METRIC_NAME", "MAX_SAMPLES", "parse_samples"]

MAX_SAMPLES = 10_000  # per request or line
MAX_METRIC_NAME = 200
MAX_LABEL = 128
_SAMPLE_FIELDS = frozenset({"name", "labels", "t", "v"})


def parse_samples(body: Any, max_samples: int = MAX_SAMPLES) -> list[MetricSample]:
    if type(body) is not dict:
        raise PayloadError("body", f"expected a JSON object, got {json_type(body)}")
    reject_unknown_fields(body, frozenset({"samples"}), "")
    items = body.get("samples")
    if type(items) is not list:
        raise PayloadError("samples", f"expected an array, got {json_type(items)}")
    if len(items) > max_samples:
        raise PayloadError(
            "samples", f"at most {max_samples} samples per request, got {len(items)}", status=413
        )
    return [_sample(item, f"samples[{i}]") for i, item in enumerate(items)]


def _sample(item: Any, path: str) -> MetricSample:
    if type(item) is not dict:
        raise PayloadError(path, f"expected an object, got {json_type(item)}")
    reject_unknown_fields(item, _SAMPLE_FIELDS, f"{path}.")
    name = item.get("name")
    if type(name) is not str or not name:
        raise PayloadError(f"{path}.name", "is required (a non-empty string)")
    if len(name) > MAX_METRIC_NAME:
        raise PayloadError(f"{path}.name", f"at most {MAX_METRIC_NAME} characters")
    labels = check_str_map(item.get("labels") or {}, f"{path}.labels")
    for key, value in labels.items():
        if len(key) > MAX_LABEL or len(value) > MAX_LABEL:
            where = f"{path}.labels.{key[:MAX_LABEL]}"
            raise PayloadError(where, f"at most {MAX_LABEL} characters")
    service = labels.pop("service", "")
    if not service:
        raise PayloadError(f"{path}.labels.service", "is required: the judge compares per service")
    environment = labels.pop("environment", "") or labels.pop("env", "") or "default"
    value = _finite(item.get("v"), f"{path}.v")
    return MetricSample(
        name=name,
        service=service,
        environment=environment,
        t=parse_time(item.get("t"), f"{path}.t"),
        v=value,
        labels=labels,
    )


def _finite(value: Any, path: str) -> float:
    if type(value) not in (int, float):
        raise PayloadError(path, f"expected a finite number, got {json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise PayloadError(path, f"expected a finite number, got {str(value)[:32]}")
    return number
