"""Lifecycle timers of incidents and tickets."""

from autoticket.lifecycle.retention import purge
from autoticket.lifecycle.timers import fire_due_timers, next_due

__all__ = ["fire_due_timers", "next_due", "purge"]
