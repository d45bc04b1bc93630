"""The pipeline: normalize -> redact -> enrich -> route -> correlate -> decide."""

from autoticket.pipeline.base import (
    Batch,
    Context,
    DeadLetter,
    Delivery,
    IncidentChange,
    Stage,
    StageResult,
    TicketAction,
)

__all__ = [
    "Batch",
    "Context",
    "DeadLetter",
    "Delivery",
    "IncidentChange",
    "Stage",
    "StageResult",
    "TicketAction",
]
