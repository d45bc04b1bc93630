"""Errors that carry a field and a reason, so callers can answer precisely."""

from __future__ import annotations

__all__ = ["PayloadError"]


class PayloadError(ValueError):
    """A payload that cannot be turned into events.

    `field` is a dotted path into the payload (`alerts[2].labels`), `reason`
    is a sentence a user can act on. `status` is the HTTP status to answer.
    """

    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}
