"""How the dispatcher treats one external sink: retries, pace, breaker, two-way sync.

These settings sit in each sink's entry of the `sinks:` map next to the
type's own; `build.py` takes them out before the type validates the rest, so
every sink type gets them without declaring them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from autoticket.config import Duration

__all__ = ["DISPATCH_FIELDS", "DispatchSettings", "jittered_backoff", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """`10/s`, `600/m`, `100/h` → calls per second (more than 0)."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"rate_limit must look like 10/s, 600/m or 100/h, got {text!r}")
    rate = float(match.group(1)) / _PER[match.group(2)]
    if rate <= 0:
        raise ValueError("rate_limit must be more than 0")
    return rate


def _rate(value: str | None) -> str | None:
    if value is not None:
        parse_rate(value)
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be more than 0s")
    return value


class DispatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_backoff: Annotated[Duration, AfterValidator(_positive)] = timedelta(seconds=30)
    max_attempts: int = Field(default=12, ge=1, le=1000)
    # Rows claimed per round; a claim's lease is (timeout + 5s) x batch, which is also
    # how long a killed process's claimed rows wait before another takes them.
    batch: int = Field(default=10, ge=1, le=100)
    rate_limit: Annotated[str | None, AfterValidator(_rate)] = None
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown: Annotated[Duration, AfterValidator(_positive)] = timedelta(seconds=30)
    poll_interval: Annotated[Duration | None, AfterValidator(lambda v: v and _positive(v))] = None
    webhook_secret_env: str | None = Field(default=None, min_length=1)
    # Or a file holding it (a mounted secret), read once when the sinks are built.
    webhook_secret_file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> DispatchSettings:
        if self.webhook_secret_env and self.webhook_secret_file:
            raise ValueError("give webhook_secret_env or webhook_secret_file, not both")
        return self

    @property
    def webhook_secret_key(self) -> str | None:
        """Where the sink's `secrets` hold the webhook secret; None: it takes no webhook."""
        if self.webhook_secret_file:
            return f"file:{self.webhook_secret_file}"
        return self.webhook_secret_env

    @property
    def rate(self) -> float | None:
        return parse_rate(self.rate_limit) if self.rate_limit else None


DISPATCH_FIELDS = frozenset(DispatchSettings.model_fields)


def jittered_backoff(key: str, attempts: int, cap: timedelta) -> timedelta:
    """Exponential backoff (1s, 2s, 4s … capped at `cap`) with "equal jitter": a
    delay in [half, full] of it, so many actions failing together spread out.

    The jitter is drawn from the action's key and attempt, not a random source:
    the same failure schedules the same retry (tests, replays), and different
    actions still spread.
    """
    full = min(cap.total_seconds(), float(2 ** min(max(0, attempts), 30)))
    digest = hashlib.sha256(f"{key}\x00{attempts}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=full / 2 + fraction * full / 2)
