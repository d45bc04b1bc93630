"""One log line per ticket action a sink carried out, written from one place.

`ticket opened: incident 12, ticket 7, team payments, priority P1, sink builtin`.
Only ids, team, priority and the sink's reference: no title, labels or payload,
which may hold what an alert carried.
"""

from __future__ import annotations

import logging

from autoticket.sinks.base import OutboxItem, SinkResult

__all__ = ["log_action"]

log = logging.getLogger("autoticket.tickets")

_VERBS = {"open": "opened", "update": "updated", "resolve": "resolved", "reopen": "reopened"}


def log_action(item: OutboxItem, result: SinkResult) -> None:
    """Log `item` as done by its sink; call it only once the outcome is committed."""
    if not log.isEnabledFor(logging.INFO):
        return
    payload = item.payload
    log.info(
        "ticket %s: incident %d, ticket %s, team %s, priority %s, sink %s",
        _VERBS.get(item.action, item.action),
        item.incident_id,
        result.external_ref or "-",
        payload.get("team") or "-",
        payload.get("priority") or "-",
        item.sink,
    )
