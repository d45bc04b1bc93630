"""Pushed SLI samples: stored once per (series, t), read back per service and window."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from autoticket.model import MetricSample
from autoticket.store.tables import metric_samples
from autoticket.store.upsert import insert_ignore

__all__ = ["add_samples", "read_samples", "series_of"]


def series_of(sample: MetricSample) -> str:
    """A digest of the name and every label: one series, whatever the label order."""
    key = [sample.name, sample.service, sample.environment, sorted(sample.labels.items())]
    return hashlib.sha1(json.dumps(key, separators=(",", ":")).encode()).hexdigest()


def add_samples(conn: Connection, samples: Sequence[MetricSample], now: datetime) -> None:
    """Store the samples; a sample already stored (a retried push) is ignored."""
    rows = [
        {
            "series": series_of(s),
            "name": s.name,
            "service": s.service,
            "environment": s.environment,
            "labels": s.labels,
            "t": s.t,
            "v": s.v,
            "received_at": now,
        }
        for s in samples
    ]
    insert_ignore(conn, metric_samples, rows, ["series", "t"])


def read_samples(
    conn: Connection, name: str, service: str, environment: str, start: datetime, end: datetime
) -> list[MetricSample]:
    """Samples of `name` for the service and environment with start <= t < end, by time."""
    c = metric_samples.c
    query = (
        select(c.name, c.service, c.environment, c.labels, c.t, c.v)
        .where(
            c.service == service,
            c.environment == environment,
            c.name == name,
            c.t >= start,
            c.t < end,
        )
        .order_by(c.t, c.id)
    )
    return [
        MetricSample(
            name=m["name"],
            service=m["service"],
            environment=m["environment"],
            t=m["t"],  # not r.t: a Row's `t` is its tuple accessor
            v=m["v"],
            labels=dict(m["labels"]),
        )
        for m in conn.execute(query).mappings()
    ]
