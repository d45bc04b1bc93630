"""Metrics of autoticket itself, on a registry per process (tests make many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Telemetry"]

_STAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_LATENCY_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5),
    *(1, 2.5, 5, 10, 30, 60, 300, 900),
)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_received = Counter(
            "autoticket_events_received",
            "Events received, by source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "autoticket_deliveries",
            "HTTP deliveries, by source and status code",
            ["source", "code"],
            registry=r,
        )
        self.source_auth_failures = Counter(
            "autoticket_source_auth_failures",
            "Ingest requests refused 401, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.stage_seconds = Histogram(
            "autoticket_stage_duration_seconds",
            "Time spent per batch in each pipeline stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.incidents = Counter(
            "autoticket_incidents",
            "Incident changes, by kind (opened, reopened, resolved, ...)",
            ["kind"],
            registry=r,
        )
        self.tickets = Counter(
            "autoticket_tickets",
            "Ticket actions applied, by sink and action",
            ["sink", "action"],
            registry=r,
        )
        self.suppressed = Counter(
            "autoticket_suppressed",
            "Incidents whose ticket was not filed, by reason (info: severity info; "
            "transient: resolved within its route's pause)",
            ["reason"],
            registry=r,
        )
        self.merged = Counter(
            "autoticket_merged",
            "What was folded into an open incident instead of ticketed, by mechanism: "
            "duplicate (a repeat or HA copy of a firing alert), alert (another alert of "
            "its key), cross-alert (another alertname of its service), storm, ticket-cap "
            "(over its team's ticket cap), topology, inhibit (an incident related to another's)",
            ["mechanism"],
            registry=r,
        )
        self.enrichment = Counter(
            "autoticket_enrichment",
            "Enrichment lookups for tickets, by lookup and outcome (oncall: found, "
            "nobody, no_schedule, no_team, failed): the success rate; a failure "
            "degrades the ticket, never blocks it",
            ["lookup", "outcome"],
            registry=r,
        )
        self.template_errors = Counter(
            "autoticket_template_errors",
            "Ticket templates that failed to render (the default title or body was used)",
            ["template"],
            registry=r,
        )
        self.unowned_tickets = Counter(
            "autoticket_unowned_tickets",
            "Tickets opened whose owner is a fallback (default_team, the route's team) or none",
            ["owner_source"],
            registry=r,
        )
        self.sink_attempts = Counter(
            "autoticket_sink_attempts",
            "Calls to external sinks, by sink and outcome (ok, retry, permanent)",
            ["sink", "outcome"],
            registry=r,
        )
        self.sink_webhooks = Counter(
            "autoticket_sink_webhooks",
            "Remote callbacks to POST /api/v1/sinks/{name}/webhook, by sink and outcome "
            "(accepted, unauthorized, bad_request, too_large)",
            ["sink", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "autoticket_dead_letters",
            "Payloads kept as dead letters, by source and stage",
            ["source", "stage"],
            registry=r,
        )
        self.event_to_ticket = Histogram(
            "autoticket_event_to_ticket_seconds",
            "From receipt of the first event of an incident to its ticket being opened (M1)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inbox_pending = Gauge(
            "autoticket_inbox_pending",
            "Deliveries stored but not yet processed",
            registry=r,
        )
        self.sink_queue = Gauge(
            "autoticket_sink_actions",
            "Outbox actions per sink that are not done: pending, or parked (given up on, "
            "waiting for a replay)",
            ["sink", "state"],
            registry=r,
        )
        self.sink_breaker = Gauge(
            "autoticket_sink_breaker_state",
            "Circuit breaker of each external sink: 0 closed, 1 half-open, 2 open",
            ["sink"],
            registry=r,
        )
        self.database_available = Gauge(
            "autoticket_database_available",
            "1 while the database answers, 0 during an outage (as last seen by this process)",
            registry=r,
        )
        self.database_available.set(1)
        self.purged = Counter(
            "autoticket_purged_rows",
            "Rows removed by retention, by table",
            ["table"],
            registry=r,
        )
        self.batch_size = Histogram(
            "autoticket_worker_batch_size",
            "Deliveries per worker batch",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
