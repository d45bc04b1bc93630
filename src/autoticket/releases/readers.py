"""One interface for reading a release's metric series, whatever holds them.

The judge needs, for a service and environment, every metric's samples in a
time range. A `MetricReader` returns them as a `Reading`: the series found,
and the metrics that could not be read with the reason (each becomes
`no_data` with that reason, never an error). Two readers exist:

- `PushedReader`: samples pushed to `POST /api/v1/metrics` (and replayed
  `source: "metrics"` lines), through a fetch function the caller gives it
  (the store's `series_between` on its connection: this package has no
  storage of its own);
- `PrometheusReader` (releases/prometheus.py): the configured SLIs' PromQL
  queries over the Prometheus HTTP API.

`CombinedReader` puts them together: each SLI from Prometheus, every other
metric from the pushed samples. `Prefetched` serves a reading made before a
database transaction was opened (so none is held open on a slow query).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = [
    "CombinedReader",
    "LiveReader",
    "MetricReader",
    "Prefetched",
    "PushedReader",
    "Reading",
    "Series",
]

# A metric's series: its key (the name, plus its other labels when it has
# some, e.g. `latency_seconds{quantile=0.99}`), its base name, and its
# samples as (t, v), in time order.
Series = tuple[str, str, Sequence[tuple[datetime, float]]]


@dataclass(frozen=True, slots=True)
class Reading:
    series: list[Series] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # metric name -> why not read


class MetricReader(Protocol):
    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Reading:
        """Every series of the service and environment with samples in [start, end)."""
        ...


class LiveReader(MetricReader, Protocol):
    """A reader of some metrics only (the configured SLIs), which it names."""

    @property
    def names(self) -> frozenset[str]: ...


Fetch = Callable[[str, str, datetime, datetime], Sequence[Series]]


@dataclass(frozen=True, slots=True)
class PushedReader:
    """Pushed samples, except those of `skip` (metrics another reader serves)."""

    fetch: Fetch
    skip: Collection[str] = ()

    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Reading:
        found = self.fetch(service, environment, start, end)
        return Reading([s for s in found if s[1] not in self.skip])


@dataclass(frozen=True, slots=True)
class CombinedReader:
    """Every reader's series and missing metrics, in the readers' order."""

    readers: Sequence[MetricReader]

    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Reading:
        series: list[Series] = []
        missing: dict[str, str] = {}
        for reader in self.readers:
            reading = reader.read(service, environment, start, end)
            series.extend(reading.series)
            missing.update(reading.missing)
        return Reading(series, missing)


@dataclass(frozen=True, slots=True)
class Prefetched:
    """A live reading made earlier (outside a database transaction), served as a reader.

    A Prometheus query can take seconds; whoever judges inside a transaction
    reads first, then judges on this, so no connection is held while waiting.
    """

    reading: Reading
    names: frozenset[str]

    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Reading:
        return self.reading
