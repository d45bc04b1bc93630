"""Two-way sync: what people did to remote tickets comes back to the incident.

A sink reports `RemoteChange`s, from its webhook (`parse_webhook`, called by
`POST /api/v1/sinks/{name}/webhook`) or its `poll` (called by its lane every
`poll_interval`). Each is written to its incident's timeline. The rule that
keeps autoticket from fighting a person: after a person closed a sink's ticket
(`closed`), that sink's automatic `reopen` actions of the incident are
skipped (marked done, noted on the timeline) until a person reopens it
(`reopened`). Updates and resolves still go; the incident itself is left as
autoticket's alerts say.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from autoticket.sinks.base import REMOTE_KINDS, RemoteChange, Sink
from autoticket.store.escalations import stop as stop_escalation
from autoticket.store.remote_changes import add_remote_change, already_recorded, incident_of_ref

__all__ = ["Recorded", "authentic", "record_changes"]

log = logging.getLogger("autoticket.sinks")


def authentic(sink: Sink, headers: Mapping[str, str], body: bytes = b"") -> bool:
    """Whether a webhook request proves itself the way `sink` expects
    (`Sink.authenticate_webhook`: the shared secret, or the remote's signature)."""
    return sink.authenticate_webhook(headers, body) is None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of a delivery's changes: written, of unknown tickets, seen before."""

    recorded: int = 0
    unknown: int = 0
    repeated: int = 0


def record_changes(
    engine: Engine, sink: str, changes: list[RemoteChange], now: datetime
) -> Recorded:
    """Write each change to its incident's timeline in one transaction. A change of a
    ticket autoticket never made is left out (unknown), and so is one already on the
    timeline (repeated: remotes retry deliveries they think failed)."""
    recorded = unknown = repeated = 0
    with engine.begin() as conn:
        for change in changes:
            if change.kind not in REMOTE_KINDS:
                raise ValueError(f"unknown remote change kind {change.kind!r}")
            incident = incident_of_ref(conn, sink, change.remote_ref)
            if incident is None:
                unknown += 1
                continue
            at = change.at or now
            seen = (incident, sink, change.kind, change.remote_ref, change.by, at, change.detail)
            if change.at is not None and already_recorded(conn, *seen):
                repeated += 1
                continue
            add_remote_change(
                conn, incident, sink, change.kind, change.remote_ref, change.by, at, change.detail
            )
            if change.kind == "acknowledged":
                # Someone has it in the remote system: page nobody else.
                stop_escalation(conn, incident, at, change.by, f"{sink} ticket {change.remote_ref}")
            recorded += 1
    if unknown:
        log.info("sink %s: %d remote change(s) of unknown tickets ignored", sink, unknown)
    return Recorded(recorded, unknown, repeated)
