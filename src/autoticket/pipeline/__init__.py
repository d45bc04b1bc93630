"""The pipeline: normalize -> redact -> enrich -> route -> correlate -> decide."""

from autoticket.pipeline.base import Batch, Context, Stage, StageResult

__all__ = ["Batch", "Context", "Stage", "StageResult"]
