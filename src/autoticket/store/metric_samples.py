"""Pushed SLI samples: stored once per (series, t), read back per service and window."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from autoticket.model import MetricSample
from autoticket.store.tables import metric_samples
from autoticket.store.upsert import insert_ignore

__all__ = ["add_samples", "fleet_between", "read_samples", "series_between", "series_of"]


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


def series_between(
    conn: Connection, service: str, environment: str, start: datetime, end: datetime
) -> list[tuple[str, str, list[tuple[datetime, float]]]]:
    """Every series of the service and environment with samples in [start, end).

    Each is (key, name, [(t, v), ...] in time order); the key is the name, with
    its other labels in braces when it has some (`latency_seconds{quantile=0.99}`).
    """
    c = metric_samples.c
    query = (
        select(c.name, c.labels, c.t, c.v)
        .where(c.service == service, c.environment == environment, c.t >= start, c.t < end)
        .order_by(c.name, c.series, c.t)
    )
    found: dict[str, tuple[str, list[tuple[datetime, float]]]] = {}
    for m in conn.execute(query).mappings():
        key = _key(m["name"], dict(m["labels"]))
        found.setdefault(key, (m["name"], []))[1].append((m["t"], m["v"]))
    return [(key, name, samples) for key, (name, samples) in sorted(found.items())]


def fleet_between(
    conn: Connection,
    environment: str,
    keys: Sequence[str],
    exclude: Collection[str],
    start: datetime,
    end: datetime,
) -> dict[str, list[list[tuple[datetime, float]]]]:
    """Other services' samples of the series `keys` in [start, end): the fleet control.

    key -> one [(t, v), ...] per other service with samples, by service name.
    """
    if not keys:
        return {}
    names = sorted({key.split("{", 1)[0] for key in keys})
    c = metric_samples.c
    query = (
        select(c.name, c.service, c.series, c.labels, c.t, c.v)
        .where(
            c.environment == environment,
            c.service.not_in(sorted(exclude)),
            c.name.in_(names),
            c.t >= start,
            c.t < end,
        )
        .order_by(c.service, c.name, c.series, c.t)
    )
    wanted = set(keys)
    found: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    # Rows come series by series: the key and its list are found once per series
    # (the fleet read runs at every release check, over many rows).
    last: tuple[str, str] | None = None
    run: list[tuple[datetime, float]] | None = None
    for name, service, series, labels, t, v in conn.execute(query):
        if (service, series) != last:
            last = (service, series)
            key = _key(name, dict(labels))
            run = found.setdefault(key, {}).setdefault(service, []) if key in wanted else None
        if run is not None:
            run.append((t, v))
    return {key: [found[key][s] for s in sorted(found[key])] for key in sorted(found)}


def _key(name: str, labels: dict[str, str]) -> str:
    """The name, with its other labels in braces when it has some."""
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"
