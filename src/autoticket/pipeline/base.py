"""The shape every stage shares: a batch in, a batch out, decisions on the side.

Modelled on Alertmanager's notify stages: each stage has one job, the runner
composes them, times them and stops early when nothing is left to do.
Stages never read the wall clock: `Context.now` is the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from autoticket.model import DeadLetter, Decision, Delivery, Event, IncidentChange, TicketAction

if TYPE_CHECKING:
    from autoticket.config import Config

__all__ = ["Batch", "Context", "Stage", "StageResult"]


@dataclass(slots=True)
class Batch:
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    changes: list[IncidentChange] = field(default_factory=list)
    actions: list[TicketAction] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.deliveries or self.events or self.changes or self.actions)


@dataclass(slots=True)
class StageResult:
    batch: Batch
    decisions: list[Decision] = field(default_factory=list)


@dataclass(slots=True)
class Context:
    """What a stage may know besides its input: the time, the config, the state."""

    now: datetime
    config: Config
    state: Any = None  # correlate's narrow state interface (see pipeline/correlate.py)


class Stage(Protocol):
    name: str

    def run(self, batch: Batch, ctx: Context) -> StageResult: ...
