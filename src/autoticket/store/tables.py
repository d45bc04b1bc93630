"""All tables, in SQLAlchemy Core. Constraints here are the final guard.

- one open incident per correlation key: partial unique index on `open_key`
  (set while open, NULL once resolved), as Grafana OnCall does;
- one outbox row per idempotency key; one ticket per incident; one external
  reference per (ticket, sink).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from autoticket.store.types import UTCDateTime

__all__ = [
    "alerts",
    "api_tokens",
    "dead_letters",
    "decisions",
    "events",
    "inbox",
    "incidents",
    "metadata",
    "metric_samples",
    "outbox",
    "releases",
    "silences",
    "ticket_refs",
    "tickets",
    "timeline",
    "timers",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER
TS = UTCDateTime()

inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False, unique=True),
    Column("source", String(64), nullable=False),
    Column("received_at", TS, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("event_count", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, default="pending"),
    Column("processed_at", TS),
    Index("ix_inbox_pending", "status", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("received_at", TS, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("field", String(256)),
    Column("error", Text, nullable=False),
    Column("status_code", Integer),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("replay_count", Integer, nullable=False, default=0),
    Column("replayed_at", TS),
    Column("replay_result", Text),
)

events = Table(
    "events",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("delivery_id", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("incident_id", Id, index=True),
    Column("status", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("occurred_at", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    Column("route", String(128)),
    Column("team", String(128)),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("decisions", JSON, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("incident_id", Id, index=True),
    Column("status", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("flap_count", Integer, nullable=False, default=0),
    Column("active_since", TS),
    Column("resolved_since", TS),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("correlation_key", String(512), nullable=False, index=True),
    # Equal to correlation_key while open or acknowledged, NULL once resolved.
    Column("open_key", String(512)),
    Column("route", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("team", String(128)),
    Column("severity", Integer, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("resolved_at", TS),
    Column("resolve_due_at", TS),
    Column("firing", Integer, nullable=False, default=0),
    Column("alert_count", Integer, nullable=False, default=0),
    Column("event_count", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=1),
    Column("group_labels", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    # Why the incident's ticket is held back (no ticket action sent), or NULL.
    Column("held", String(64)),
    # The storm incident this one is part of (engine/storms.py), or NULL.
    Column("parent_id", Id, index=True),
    # When its alerts last fired again after resolving (ISO times, the last few),
    # and since when it flaps (pipeline/correlate.py), or NULL.
    Column("toggles", JSON(none_as_null=True)),  # NULL, not JSON null: no encoding per flush
    Column("flapping_since", TS),
    Index(
        "uq_incidents_open_key",
        "open_key",
        unique=True,
        sqlite_where=Column("open_key").isnot(None),
        postgresql_where=Column("open_key").isnot(None),
    ),
    Index("ix_incidents_resolve_due", "resolve_due_at"),
    # Retention finds the oldest resolved incidents with a seek, not a scan.
    Index("ix_incidents_resolved_at", "resolved_at"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, nullable=False, index=True),
    Column("at", TS, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, index=True),
    Column("at", TS, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("rule", String(128)),
    Column("outcome", String(64), nullable=False),
    Column("subject", String(128)),
    Column("inputs", JSON, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(256), nullable=False, unique=True),
    Column("incident_id", Id, nullable=False, index=True),
    Column("sink", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", TS, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("done_at", TS),
    Column("last_error", Text),
    # External sinks: the lease holder's token while a call is in flight (its
    # lease is `next_attempt_at`), and the remote reference once done.
    Column("claim_token", String(32)),
    Column("external_ref", String(256)),
    Column("external_url", Text),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("team", String(128)),
    Column("priority", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("resolved_at", TS),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("update_count", Integer, nullable=False, default=0),
    # What a responder reads: rendered from the incident (engine/ticket_body.py).
    Column("body", Text, nullable=False, default="", server_default=""),
)

# What the last ticket update said, and what has been folded since
# (engine/coalesce.py): one row per incident that has a ticket.
ticket_updates = Table(
    "ticket_updates",
    metadata,
    Column("incident_id", Id, primary_key=True, autoincrement=False),
    Column("sent_at", TS, nullable=False),
    Column("sent_alerts", Integer, nullable=False),
    Column("sent_priority", String(16), nullable=False),
    Column("seen", JSON, nullable=False),
    Column("pending", JSON, nullable=False),
    Column("pending_body", Text),
)

ticket_refs = Table(
    "ticket_refs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, nullable=False),
    Column("sink", String(64), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("url", Text),
    UniqueConstraint("ticket_id", "sink"),
)

# The one agenda of everything that happens at a time: auto-resolve now;
# escalation, pauses, flap windows and release re-judging later. One pending
# timer per (kind, subject); the subject is the id of what it acts on.
timers = Table(
    "timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("due_at", TS, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("kind", "subject"),
    # "The next due timer of the known kinds" is a seek, not a scan of the agenda.
    Index("ix_timers_kind_due_at", "kind", "due_at"),
)


# Deploys, one row per (service, environment, version): releases/events.py.
releases = Table(
    "releases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("service", String(128), nullable=False),
    Column("environment", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("rollout_percent", Float),
    Column("commit", String(64)),
    Column("deployer", String(128)),
    Column("flags", JSON, nullable=False),
    Column("source", String(32), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # The judge's decision, stored once final (lifecycle/release_check.py):
    # null while the release is still observed. `judged_at` is the check
    # that stored it; `evidence` the reasons, action reason and metrics.
    Column("verdict", String(16)),
    Column("score", Float),
    Column("action", String(16)),
    Column("decided_at", TS),
    Column("decided_by", String(16)),
    Column("judged_at", TS),
    Column("evidence", JSON),
    UniqueConstraint("service", "environment", "version"),
    Index("ix_releases_timeline", "service", "environment", "started_at"),
)

# Pushed SLI samples for the release judge (releases/samples.py). `series` is
# a digest of the name and every label, so a retried push stores nothing twice.
metric_samples = Table(
    "metric_samples",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("series", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("service", String(128), nullable=False),
    Column("environment", String(128), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("t", TS, nullable=False),
    Column("v", Float, nullable=False),
    Column("received_at", TS, nullable=False),
    UniqueConstraint("series", "t"),
    Index("ix_metric_samples_lookup", "service", "environment", "name", "t"),
    Index("ix_metric_samples_fleet", "environment", "name", "t"),
)


# People's API tokens (store/tokens.py): only a hash of each secret is kept.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("last_used_at", TS),
)


# Silences people made (API, UI; store/silences.py): matchers over a time range.
# Expiring one sets `ends_at` to the moment; rows are kept as the record.
silences = Table(
    "silences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("matchers", JSON, nullable=False),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False, index=True),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("expired_by", String(128)),
)


# Firing alerts that match an inhibition rule's source side (policy/inhibit.py),
# by rule and the values of its `equal` labels (`scope`, a sha256): what a new
# incident's alert is looked up against. Written by correlate as source alerts
# fire, removed as they resolve; a row is trusted only while its alert fires.
inhibit_sources = Table(
    "inhibit_sources",
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("scope", String(64), nullable=False),
    Column("since", TS, nullable=False),
    Index("ix_inhibit_sources_rule_scope", "rule", "scope"),
)
