"""The nouns every layer speaks: Event, Alert, Incident, Decision, and what is carried
between layers (Delivery, DeadLetter, IncidentChange, TicketAction).

Plain dataclasses with slots: they are built and copied at tens of thousands per
second on the hot path, so no validation happens here (sources validate input).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

__all__ = [
    "OWNER_FALLBACKS",
    "PAUSE_HOLD",
    "RELATED_HOLD",
    "RELEASE_ALERTNAME",
    "STORM_HOLD",
    "STORM_PREFIX",
    "Alert",
    "AlertStatus",
    "DeadLetter",
    "Decision",
    "Delivery",
    "Event",
    "EventKind",
    "Incident",
    "IncidentChange",
    "IncidentStatus",
    "MetricSample",
    "Release",
    "Severity",
    "TicketAction",
    "TicketDetails",
    "TicketUpdateState",
    "TicketVerdict",
    "Timer",
    "fingerprint_of",
    "is_storm_key",
    "storm_key",
]


class Severity(IntEnum):
    """Four levels, ordered so that max() picks the worst."""

    INFO = 1
    WARNING = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | None, default: Severity | None = None) -> Severity:
        """Map the many spellings sources use onto the scale; unknown -> default or ValueError."""
        key = (text or "").strip().lower()
        found = _SEVERITY_ALIASES.get(key)
        if found is not None:
            return found
        if default is not None:
            return default
        known = ", ".join(sorted(_SEVERITY_ALIASES))
        raise ValueError(f"unknown severity {text!r}; known: {known}")


_SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "sev1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "err": Severity.HIGH,
    "major": Severity.HIGH,
    "p2": Severity.HIGH,
    "sev2": Severity.HIGH,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "minor": Severity.WARNING,
    "p3": Severity.WARNING,
    "sev3": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
    "debug": Severity.INFO,
    "p4": Severity.INFO,
    "sev4": Severity.INFO,
}


class EventKind(StrEnum):
    ALERT = "alert"
    DEPLOY = "deploy"
    METRIC = "metric"
    LOG = "log"
    SECURITY = "security"
    CHANGE = "change"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def fingerprint_of(source: str, labels: dict[str, str]) -> str:
    """Stable identity of an alert: its source family and its full label set.

    Order of labels does not matter; values are hashed byte-exact. Two HA
    Alertmanagers sending the same alert therefore agree on the fingerprint.
    """
    h = hashlib.sha256(source.encode())
    for key in sorted(labels):
        h.update(b"\x00")
        h.update(key.encode())
        h.update(b"\x01")
        h.update(labels[key].encode())
    return h.hexdigest()[:16]


@dataclass(slots=True)
class Decision:
    """Why something happened: which stage, which rule, what it saw, what it did."""

    stage: str
    outcome: str
    rule: str | None = None
    subject: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "outcome": self.outcome,
            "rule": self.rule,
            "subject": self.subject,
            "inputs": self.inputs,
        }


@dataclass(slots=True)
class Event:
    """One canonical signal from one source.

    The first block is set by the source adapter; the second by later stages
    (enrich, route, correlate). `decisions` collects why each stage did what.
    """

    id: str
    source: str
    kind: EventKind
    status: AlertStatus
    occurred_at: datetime
    received_at: datetime
    title: str
    severity: Severity
    fingerprint: str
    raw_ref: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    source_meta: dict[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None
    # Set by later stages.
    team: str | None = None
    # Where `team` came from (enrich): label | catalog | default_team, or None.
    owner_source: str | None = None
    tier: str | None = None
    runbook: str | None = None
    route: str | None = None
    # Sinks of later routes it matched through `continue` (route stage).
    also_sinks: tuple[str, ...] = ()
    correlation_key: str | None = None
    incident_id: int | None = None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def service(self) -> str | None:
        return self.labels.get("service") or self.labels.get("job")

    @property
    def environment(self) -> str:
        return self.labels.get("environment") or self.labels.get("env") or "default"


@dataclass(slots=True)
class Alert:
    """The state of one fingerprint over time."""

    fingerprint: str
    status: AlertStatus
    severity: Severity
    title: str
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    flap_count: int = 0
    incident_id: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # Source times of the current episode: when it started firing and when the
    # source said it ended. They tell a late copy from an HA peer (older than
    # what we know) from a real change.
    active_since: datetime | None = None
    resolved_since: datetime | None = None


@dataclass(slots=True)
class Incident:
    """Alerts grouped by a correlation key within a window."""

    id: int
    correlation_key: str
    route: str
    title: str
    team: str | None
    severity: Severity
    priority: str
    status: IncidentStatus
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    resolve_due_at: datetime | None = None
    firing: int = 0
    alert_count: int = 0
    event_count: int = 0
    version: int = 1
    group_labels: dict[str, str] = field(default_factory=dict)
    # Why no ticket action of this incident is sent (e.g. "severity info"), or None.
    held: str | None = None
    # The storm incident this one is part of (engine/storms.py), or None.
    parent_id: int | None = None
    # When its alerts fired again after resolving (the last few), and since when
    # they do so often enough to call it flapping (pipeline/correlate.py).
    toggles: list[datetime] = field(default_factory=list)
    flapping_since: datetime | None = None


@dataclass(slots=True)
class Delivery:
    """One request body as it reached the service, before parsing."""

    id: str
    source: str
    received_at: datetime
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    inbox_id: int | None = None


@dataclass(slots=True)
class DeadLetter:
    """A delivery that could not be processed, and why."""

    delivery: Delivery
    stage: str
    error: str
    field: str | None = None


@dataclass(slots=True)
class IncidentChange:
    """What correlate did to an incident: the input of decide.

    kind: opened | reopened | alert_added | severity_changed | alert_resolved |
          alert_refired
    """

    incident_id: int
    kind: str
    route: str
    event_ids: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TicketAction:
    """One thing to do to a ticket, written to the outbox with its idempotency key."""

    incident_id: int
    action: str  # open | update | resolve | reopen
    idempotency_key: str
    sinks: list[str]
    payload: dict[str, Any] = field(default_factory=dict)


RELEASE_ALERTNAME = "ReleaseRegression"
"""The alertname of the release judge's event (releases/alert.py)."""

STORM_PREFIX = "storm|"
"""A storm incident's key: `storm|<label>=<place>,environment=<env>` (pipeline/storm.py)."""


def is_storm_key(key: str) -> bool:
    return key.startswith(STORM_PREFIX)


def storm_key(label: str, place: str, environment: str) -> str:
    return f"{STORM_PREFIX}{label}={place},environment={environment}"


OWNER_FALLBACKS = frozenset({"default_team", "route", "none"})
"""Owner sources that are guesses, not knowledge: such a ticket is flagged `owner_fallback`."""


@dataclass(slots=True)
class TicketVerdict:
    """What decide concluded for one changed incident in one batch.

    action: open | reopen | update, or None when the route files no ticket.
    The engine applies `team` and `priority` to the incident and turns the
    verdict into a `TicketAction` (engine/actions.py).
    """

    incident_id: int
    action: str | None
    rule: str
    changes: list[str]
    priority: str
    team: str | None
    sinks: list[str] = field(default_factory=list)
    first_received_at: datetime | None = None
    details: TicketDetails | None = None
    # `service=…` / `alertname=…` of the incident's events in this batch.
    seen: frozenset[str] = frozenset()
    # Where the owner came from: label | catalog | default_team | route | none
    # (None when no event of the incident is in the batch).
    owner_source: str | None = None
    # The silence that covers every firing event of the incident in this batch
    # (None: some fires unsilenced, or none fires); and the title of a firing
    # event no silence covers, if any (it lifts a silence's hold).
    silenced: SilenceNote | None = None
    unsilenced: str | None = None


@dataclass(frozen=True, slots=True)
class SilenceNote:
    """Which silence (or maintenance window) covers an alert, and until when."""

    silence_id: str
    kind: str  # silence | maintenance
    text: str  # e.g. "silence 12 by alice: db migration"
    until: datetime | None  # None: until it is removed from the config


SILENCE_HOLD = "silenced"
"""`Incident.held` while a silence holds its first ticket (engine/actions.py)."""
SILENCE_REOPEN_HOLD = "silenced (reopen)"
"""...and while one holds the reopening of its (resolved) ticket."""
SILENCE_HOLDS = frozenset({SILENCE_HOLD, SILENCE_REOPEN_HOLD})
PAUSE_HOLD = "pause"
STORM_HOLD = "storm {}"
"""`Incident.held` of a storm's child (format: the storm's id; pipeline/storm.py)."""
RELATED_HOLD = "related to {}"
"""...and of an incident related to another's (topology, inhibition)."""
"""A new incident's ticket waiting for its route's pause (engine/actions.py, lifecycle/pause.py)."""


@dataclass(frozen=True, slots=True)
class TicketDetails:
    """What the ticket body says of the incident, taken from its most severe event.

    Filled by decide from events that redaction has already masked; the
    engine renders it into the ticket body (engine/ticket_body.py).
    """

    summary: str
    description: str = ""
    service: str | None = None
    environment: str | None = None
    alertname: str | None = None
    runbook: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class TicketUpdateState:
    """What an incident's last ticket update said, and the changes folded since.

    `seen` holds `service=…` and `alertname=…` of the incident's events, so a
    new one is an update worth sending; `pending` the change kinds folded
    into the next update; `pending_body` the newest body not yet sent.
    """

    incident_id: int
    sent_at: datetime
    sent_alerts: int
    sent_priority: str
    seen: set[str] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)
    pending_body: str | None = None


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One pushed SLI sample: `name` of `service` in `environment` at `t` was `v`.

    `labels` are the sample's other labels (a latency quantile, a canary or
    baseline marker); with the name, service and environment they name the series.
    """

    name: str
    service: str
    environment: str
    t: datetime
    v: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Release:
    """A deploy of one version of a service to one environment.

    (service, environment, version) names it: a release sent at its start
    and again when it finishes or changes its rollout is one release.
    """

    service: str
    environment: str
    version: str
    started_at: datetime
    finished_at: datetime | None = None
    rollout_percent: float | None = None
    commit: str | None = None
    deployer: str | None = None
    flags: dict[str, str] = field(default_factory=dict)
    source: str = "api"
    id: int | None = None


@dataclass(slots=True)
class Timer:
    """Something to do at a time: `kind` names the lifecycle module that fires it."""

    kind: str
    subject: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    set_at: datetime | None = None
