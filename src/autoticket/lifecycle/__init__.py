"""The lifecycle of incidents: timer kinds on one agenda, what people do, retention."""

from autoticket.lifecycle.retention import backlog_left, purge
from autoticket.lifecycle.timers import TIMER_KINDS, fire_due, next_due

__all__ = ["TIMER_KINDS", "backlog_left", "fire_due", "next_due", "purge"]
