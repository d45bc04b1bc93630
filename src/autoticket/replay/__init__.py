"""Replay a recorded stream through the live pipeline on a virtual clock."""

from autoticket.replay.engine import ReplayResult, replay

__all__ = ["ReplayResult", "replay"]
