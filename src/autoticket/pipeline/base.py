"""The shape every stage shares: a batch in, a batch out, decisions on the side.

Modelled on Alertmanager's notify stages: each stage has one job, the runner
composes them, times them and stops early when nothing is left to do.
Stages never read the wall clock: `Context.now` is the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from autoticket.model import (
    Alert,
    DeadLetter,
    Decision,
    Delivery,
    Event,
    Incident,
    IncidentChange,
    Release,
    TicketVerdict,
)

if TYPE_CHECKING:
    from autoticket.config import Config

__all__ = ["Batch", "Context", "CorrelationState", "Stage", "StageResult"]


class CorrelationState(Protocol):
    """What correlate (and decide, reading) may do to stored state.

    The SQL version is store/correlation_state.py; a stage never reaches
    state any other way.
    """

    def prefetch(self, fingerprints: list[str], keys: list[str]) -> None: ...
    def alert(self, fingerprint: str) -> Alert | None: ...
    def incident(self, incident_id: int) -> Incident: ...
    def open_incident(self, key: str) -> Incident | None: ...
    def reopenable(self, key: str, resolved_since: datetime) -> Incident | None: ...
    def save_alert(self, alert: Alert) -> None: ...
    def save_incident(self, incident: Incident) -> None: ...
    def create_incident(
        self, draft: Incident, context: dict[str, Any]
    ) -> tuple[Incident, bool]: ...
    def reopen(self, incident: Incident, now: datetime) -> tuple[Incident, bool]: ...
    def add_timeline(
        self, incident_id: int, at: datetime, kind: str, message: str, data: dict[str, Any]
    ) -> None: ...
    def storm_services(
        self, label: str, place: str, environment: str, since: datetime, upto: Incident
    ) -> list[str]: ...
    def lock_key(self, key: str) -> None: ...
    def open_storm(self, key: str) -> Incident | None: ...
    def team_incidents(self, team: str, since: datetime, upto: Incident) -> list[int]: ...
    def storm_member_ids(
        self, label: str, place: str, environment: str, since: datetime, upto: Incident
    ) -> list[int]: ...
    def alertnames(self, incident_id: int) -> set[str]: ...
    def alert_labels(self, incident_id: int) -> list[dict[str, str]]: ...
    def keep_inhibit_source(
        self, rule: str, fingerprint: str, scope: str, since: datetime
    ) -> None: ...
    def drop_inhibit_source(self, rule: str, fingerprint: str) -> None: ...
    def inhibiting_incident(
        self, rule: str, scope: str, target: str, excluded: Callable[[Mapping[str, str]], bool]
    ) -> tuple[Incident, Alert] | None: ...
    def silence_rows(self, since: datetime) -> list[Any]: ...
    def releases_between(
        self, services: list[str], environment: str, start: datetime, end: datetime
    ) -> list[Release]: ...
    def service_incident(
        self, service: str, place: Mapping[str, str], since: datetime, upto: Incident
    ) -> Incident | None: ...


@dataclass(slots=True)
class Batch:
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    changes: list[IncidentChange] = field(default_factory=list)
    verdicts: list[TicketVerdict] = field(default_factory=list)
    # How many events the deliveries parsed into, and why events left the batch.
    parsed: int = 0
    dropped: list[Decision] = field(default_factory=list)
    # What correlate folded instead of ticketing, by mechanism (a metric): repeats
    # of known firing alerts (`duplicate`), new alerts joining an open incident
    # (`alert`, `cross-alert`), incidents joining another (`storm`, `topology`,
    # `inhibit`).
    merged: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class StageResult:
    batch: Batch
    decisions: list[Decision] = field(default_factory=list)


@dataclass(slots=True)
class Context:
    """What a stage may know besides its input: the time, the config, the state."""

    now: datetime
    config: Config
    state: CorrelationState | None = None  # None for stages that keep no state

    def stored(self) -> CorrelationState:
        """The state, for the stages that need it (correlate, decide)."""
        if self.state is None:
            raise RuntimeError("this stage needs Context.state")
        return self.state


class Stage(Protocol):
    name: str

    def run(self, batch: Batch, ctx: Context) -> StageResult: ...
