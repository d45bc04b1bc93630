"""Live HTTP benchmark against a running `autoticket serve`.

Two runs, one after the other, on the same server:

- throughput: post recorded traffic as fast as `concurrency` requests in
  flight allow; measure accepted events/s (202) and request latency, then
  wait until the inbox is drained and read event->ticket latency from the
  server's own histogram;
- latency: post traffic at a steady, modest rate with a fresh firing alert
  (a "probe", its own incident) every few deliveries; a poller lists tickets
  every `poll_interval` and notes when each probe's ticket first shows up.

Requests go through several small httpx.AsyncClient pools (see POOL), and the
CPU used by the server and by this client is reported with every run: on a
2-core machine the client competes with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.promtext import Histogram, histogram, scalar
from bench.traffic import SOURCE, probe_body

__all__ = ["latency_run", "percentiles", "throughput_run"]

_JSON = {"content-type": "application/json"}

CpuReader = Callable[[], float | None]


@dataclass(slots=True)
class _Cpu:
    """CPU cores used over a run by the server (via `read`) and by this client."""

    read: CpuReader | None
    server: float | None = None
    client: float = 0.0
    wall: float = 0.0

    def __post_init__(self) -> None:
        self.server = self.read() if self.read else None
        self.client = time.process_time()
        self.wall = time.perf_counter()

    def figures(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.wall
        now = self.read() if self.read else None
        server = None if now is None or self.server is None else (now - self.server) / wall
        client = (time.process_time() - self.client) / wall
        return {
            "server_cpu_cores": None if server is None else round(server, 2),
            "client_cpu_cores": round(client, 2),
        }


_E2T = "autoticket_event_to_ticket_seconds"


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | None]:
    """p50/p90/p99/max (linear between ranks), in ms by default."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        out[name] = round((ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)) * scale, 1)
    out["max"] = round(ordered[-1] * scale, 1)
    return out


def hist_figures(h: Histogram, scale: float = 1000.0) -> dict[str, float | None]:
    """Count and p50/p90/p99 (interpolated in buckets) of a histogram, in ms."""

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * scale, 1)

    return {
        "count": h.count,
        "p50": ms(h.quantile(0.5)),
        "p90": ms(h.quantile(0.9)),
        "p99": ms(h.quantile(0.99)),
        "mean": ms(h.mean),
        "buckets": {("+Inf" if le == float("inf") else f"{le:g}"): n for le, n in h.buckets},
    }


@dataclass(slots=True)
class _Posts:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: int = 0
    latencies: list[float] = field(default_factory=list)
    transport_errors: int = 0

    async def post(self, client: httpx.AsyncClient, source: str, body: bytes) -> None:
        started = time.perf_counter()
        try:
            r = await client.post(f"/api/v1/ingest/{source}", content=body, headers=_JSON)
        except httpx.HTTPError:
            self.transport_errors += 1
            return
        self.latencies.append(time.perf_counter() - started)
        self.statuses[r.status_code] += 1
        if r.status_code == 202:
            self.accepted += int(orjson.loads(r.content).get("accepted", 0))

    def figures(self) -> dict[str, Any]:
        return {
            "requests": sum(self.statuses.values()) + self.transport_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": self.transport_errors,
            "accepted_events": self.accepted,
            "request_latency_ms": percentiles(self.latencies),
        }


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)


#: Connections per AsyncClient. httpx's pool costs more CPU per request the more
#: connections it holds (measured: ~1 ms/request at 8, ~3 ms at 32), and the
#: client shares the machine with the server, so load comes from several small pools.
POOL = 8


async def _clients(
    stack: contextlib.AsyncExitStack, base_url: str, concurrency: int
) -> list[httpx.AsyncClient]:
    count = max(1, -(-concurrency // POOL))
    return [await stack.enter_async_context(_client(base_url, POOL)) for _ in range(count)]


async def _metrics(client: httpx.AsyncClient) -> str:
    return (await client.get("/metrics")).text


async def _drain(client: httpx.AsyncClient, timeout: float) -> tuple[float | None, str]:
    """Wait until no delivery is pending and ticket actions stop; (drained at, /metrics)."""
    deadline = time.perf_counter() + timeout
    drained_at: float | None = None
    text = await _metrics(client)
    while time.perf_counter() < deadline:
        if scalar(text, "autoticket_inbox_pending") == 0:
            drained_at = time.perf_counter()
            break
        await asyncio.sleep(0.2)
        text = await _metrics(client)
    # The worker applies the batch's ticket actions just after: let them land.
    for _ in range(20):
        await asyncio.sleep(0.25)
        after = await _metrics(client)
        same = scalar(after, "autoticket_tickets") == scalar(text, "autoticket_tickets")
        text = after
        if same:
            break
    return drained_at, text


async def _throughput(
    base_url: str,
    items: list[tuple[str, bytes]],
    concurrency: int,
    time_limit: float,
    drain_timeout: float,
    cpu: CpuReader | None,
) -> dict[str, Any]:
    posts = _Posts()
    async with contextlib.AsyncExitStack() as stack:
        pool = await _clients(stack, base_url, concurrency)
        client = pool[0]
        before = histogram(await _metrics(client), _E2T)
        usage = _Cpu(cpu)
        pending = iter(items)
        started = time.perf_counter()
        deadline = started + time_limit

        async def sender(via: httpx.AsyncClient) -> None:
            for source, body in pending:
                await posts.post(via, source, body)
                if time.perf_counter() > deadline:
                    return

        await asyncio.gather(*(sender(pool[i % len(pool)]) for i in range(concurrency)))
        posted = time.perf_counter() - started
        backlog = scalar(await _metrics(client), "autoticket_inbox_pending")
        drained_at, text = await _drain(client, drain_timeout)
        cores = usage.figures()
    e2t = histogram(text, _E2T).minus(before)
    batches = histogram(text, "autoticket_worker_batch_size")
    drain_seconds = None if drained_at is None else drained_at - started
    return {
        **posts.figures(),
        "concurrency": concurrency,
        "post_seconds": round(posted, 2),
        "accepted_events_per_second": round(posts.accepted / posted, 1) if posted else None,
        "requests_per_second": round(sum(posts.statuses.values()) / posted, 1) if posted else None,
        "inbox_pending_when_posting_ended": backlog,
        "drained": drained_at is not None,
        "seconds_to_drain": None if drain_seconds is None else round(drain_seconds, 2),
        "processed_events_per_second": (
            round(posts.accepted / drain_seconds, 1) if drain_seconds else None
        ),
        "tickets_opened": e2t.count,
        "event_to_ticket_ms": hist_figures(e2t),
        "worker_batch_size_mean": None if batches.mean is None else round(batches.mean, 1),
        **cores,
    }


def throughput_run(
    base_url: str,
    items: list[tuple[str, bytes]],
    concurrency: int = 32,
    time_limit: float = 120,
    drain_timeout: float = 120,
    cpu: CpuReader | None = None,
) -> dict[str, Any]:
    return asyncio.run(_throughput(base_url, items, concurrency, time_limit, drain_timeout, cpu))


@dataclass(slots=True)
class _Schedule:
    due: float
    body: bytes
    probe: str | None


def _schedule(
    background: Iterable[tuple[str, bytes]],
    events_per_second: float,
    seconds: float,
    probe_every: int,
    tag: str,
) -> list[_Schedule]:
    """Deliveries paced so that events (alerts) arrive at `events_per_second`."""
    out: list[_Schedule] = []
    sent_events = 0
    source = iter(background)
    now = datetime.now(UTC)
    for i in range(int(events_per_second * seconds) + 1):
        due = sent_events / events_per_second
        if due >= seconds:
            break
        if i % probe_every == 0:
            title = f"probe {tag}-{i}"
            out.append(_Schedule(due, orjson.dumps(probe_body(tag, i, now)), title))
            sent_events += 1
            continue
        try:
            _, body = next(source)
        except StopIteration:
            break
        out.append(_Schedule(due, body, None))
        sent_events += len(orjson.loads(body)["alerts"])
    return out


@dataclass(slots=True)
class _Polls:
    """Ticket list polls (start, end) and, per probe title, the first poll listing it."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)

    def bounds(self, title: str, sent: float) -> tuple[float, float] | None:
        """When the ticket became visible, after `sent`: (lower, upper) in seconds.

        It was not listed by the poll before (which read after that poll's start)
        and was by this one (which read before its end).
        """
        i = self.first.get(title)
        if i is None:
            return None
        lower = self.spans[i - 1][0] - sent if i > 0 else 0.0
        return max(0.0, lower), self.spans[i][1] - sent


async def _poll(client: httpx.AsyncClient, polls: _Polls, after_id: int, page: int = 50) -> int:
    """List tickets newer than `after_id` (paging back); return the newest ticket id."""
    newest, offset = after_id, 0
    started = time.perf_counter()
    titles: list[str] = []
    for _ in range(10):
        r = await client.get("/api/v1/tickets", params={"limit": page, "offset": offset})
        items = orjson.loads(r.content)["items"]
        titles += [t["title"] for t in items if t["id"] > after_id]
        newest = max([newest, *(t["id"] for t in items)])
        if len(items) < page or min(t["id"] for t in items) <= after_id:
            break
        offset += page
    polls.spans.append((started, time.perf_counter()))
    for title in titles:
        if title.startswith("probe "):
            polls.first.setdefault(title, len(polls.spans) - 1)
    return newest


async def _latency(
    base_url: str,
    background: Iterable[tuple[str, bytes]],
    events_per_second: float,
    seconds: float,
    probe_every: int,
    poll_interval: float,
    settle_timeout: float,
    cpu: CpuReader | None,
    concurrency: int,
) -> dict[str, Any]:
    tag = f"{int(time.time())}-{events_per_second:g}"
    plan = _schedule(background, events_per_second, seconds, probe_every, tag)
    posts = _Posts()
    sent: dict[str, float] = {}
    polls = _Polls()
    lag: list[float] = []
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(_client(base_url, 4))  # metrics and polls
        pool = await _clients(stack, base_url, concurrency)
        before = histogram(await _metrics(client), _E2T)
        first = orjson.loads((await client.get("/api/v1/tickets", params={"limit": 1})).content)
        last_id = max((t["id"] for t in first["items"]), default=0)

        async def poller() -> None:
            newest = last_id
            deadline = None
            while len(polls.first) < len(sent) or not stop.is_set():
                if stop.is_set():
                    deadline = deadline or time.perf_counter() + settle_timeout
                    if time.perf_counter() > deadline:
                        return
                newest = await _poll(client, polls, newest)
                await asyncio.sleep(poll_interval)

        in_flight = asyncio.Semaphore(concurrency)

        async def send(item: _Schedule, via: httpx.AsyncClient) -> None:
            try:
                if item.probe is not None:
                    sent[item.probe] = time.perf_counter()
                await posts.post(via, SOURCE, item.body)
            finally:
                in_flight.release()

        poll_task = asyncio.create_task(poller())
        usage = _Cpu(cpu)
        tasks = []
        started = time.perf_counter()
        for i, item in enumerate(plan):
            delay = started + item.due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag.append(max(0.0, -delay))
            await in_flight.acquire()
            tasks.append(asyncio.create_task(send(item, pool[i % len(pool)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        cores = usage.figures()
        stop.set()
        await poll_task
        _, text = await _drain(client, settle_timeout)
    e2t = histogram(text, _E2T).minus(before)
    found = [b for t, at in sent.items() if (b := polls.bounds(t, at)) is not None]
    return {
        **posts.figures(),
        "target_events_per_second": events_per_second,
        "seconds": round(elapsed, 2),
        "events_per_second": round(posts.accepted / elapsed, 1) if elapsed else None,
        "deliveries_per_second": round(len(plan) / elapsed, 1) if elapsed else None,
        "max_in_flight": concurrency,
        "schedule_lag_ms": percentiles(lag),
        "probes_sent": len(sent),
        "probes_ticketed": len(found),
        "poll_interval_ms": round(poll_interval * 1000),
        "poll_round_trip_ms": percentiles([end - start for start, end in polls.spans]),
        "probe_send_to_ticket_listed_ms": percentiles([upper for _, upper in found]),
        "probe_send_to_ticket_listed_lower_bound_ms": percentiles([low for low, _ in found]),
        "tickets_opened": e2t.count,
        "event_to_ticket_ms": hist_figures(e2t),
        **cores,
    }


def latency_run(
    base_url: str,
    background: Iterable[tuple[str, bytes]],
    events_per_second: float = 500,
    seconds: float = 10,
    probe_every: int = 5,
    poll_interval: float = 0.05,
    settle_timeout: float = 30,
    cpu: CpuReader | None = None,
    concurrency: int = 32,
) -> dict[str, Any]:
    """Steady load at `events_per_second` with at most `concurrency` requests in flight."""
    return asyncio.run(
        _latency(
            base_url,
            background,
            events_per_second,
            seconds,
            probe_every,
            poll_interval,
            settle_timeout,
            cpu,
            concurrency,
        )
    )
