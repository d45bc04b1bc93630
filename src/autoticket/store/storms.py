"""The incidents a storm is made of: open ones of one place, opened within a window.

An incident's place is read from its key's group labels (`<label>=<value>`
and `environment=<value>`, as correlate writes them, sorted); the LIKE on the
key narrows the rows, the group labels decide. A storm incident's own key is
`storm|<label>=<value>,environment=<value>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select

from autoticket.model import STORM_PREFIX, Severity
from autoticket.store.tables import incidents

__all__ = [
    "Member",
    "latest_open_storm_id",
    "members",
    "open_child_ids",
    "open_children",
    "service_incident_id",
    "team_incident_ids",
]


@dataclass(frozen=True, slots=True)
class Member:
    incident_id: int
    service: str
    parent_id: int | None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def members(
    conn: Connection,
    label: str,
    place: str,
    environment: str,
    since: datetime,
    until: datetime,
    upto_id: int,
) -> list[Member]:
    """Open incidents (storms left out) of this place and environment, with a
    service, opened from `since` to `until` (at `until`, ids up to `upto_id`),
    oldest first. The bound matters: a batch opens its incidents before it
    decides on them, and one must not count those opened after it."""
    pattern = f"%{_like(f'{label}={place},')}%"
    query = (
        select(incidents.c.id, incidents.c.group_labels, incidents.c.parent_id)
        .where(
            incidents.c.open_key.is_not(None),
            incidents.c.opened_at >= since,
            or_(
                incidents.c.opened_at < until,
                and_(incidents.c.opened_at == until, incidents.c.id <= upto_id),
            ),
            incidents.c.correlation_key.like(pattern, escape="\\"),
            incidents.c.correlation_key.not_like(f"{STORM_PREFIX}%"),
        )
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    found: list[Member] = []
    for incident_id, labels, parent_id in conn.execute(query):
        labels = labels if isinstance(labels, dict) else {}
        here = labels.get(label) == place and labels.get("environment") == environment
        if here and labels.get("service"):
            found.append(Member(int(incident_id), str(labels["service"]), parent_id))
    return found


def service_incident_id(
    conn: Connection,
    service: str,
    place: Mapping[str, str],
    since: datetime,
    until: datetime,
    upto_id: int,
) -> int | None:
    """The oldest open incident of `service` in `place` opened from `since` up to
    `until` (at `until`, ids up to `upto_id`); storms left out. `place` is the
    environment and the other labels it must not contradict (its cluster, say): an
    incident keyed without one of them still counts."""
    environment = place.get("environment")
    pattern = f"%{_like(f'service={service}')}%"
    query = (
        select(incidents.c.id, incidents.c.group_labels)
        .where(
            incidents.c.open_key.is_not(None),
            incidents.c.opened_at >= since,
            or_(
                incidents.c.opened_at < until,
                and_(incidents.c.opened_at == until, incidents.c.id <= upto_id),
            ),
            incidents.c.correlation_key.like(pattern, escape="\\"),
            incidents.c.correlation_key.not_like(f"{STORM_PREFIX}%"),
        )
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    for incident_id, labels in conn.execute(query):
        labels = labels if isinstance(labels, dict) else {}
        if labels.get("service") != service or labels.get("environment") != environment:
            continue
        if all(labels.get(k, v) == v for k, v in place.items()):
            return int(incident_id)
    return None


def open_child_ids(conn: Connection, parent_id: int) -> list[int]:
    query = select(incidents.c.id).where(
        incidents.c.parent_id == parent_id, incidents.c.open_key.is_not(None)
    )
    return sorted(int(i) for i in conn.execute(query).scalars())


def open_children(conn: Connection, parent_id: int) -> int:
    """How many incidents of the storm `parent_id` are still open (as flushed)."""
    query = select(incidents.c.id).where(
        incidents.c.parent_id == parent_id, incidents.c.open_key.is_not(None)
    )
    return len(conn.execute(query).all())


def latest_open_storm_id(conn: Connection, key: str) -> int | None:
    """The open storm of a place (its key, or the key of a later burst) opened last."""
    query = (
        select(incidents.c.id)
        .where(
            or_(
                incidents.c.open_key == key,
                incidents.c.open_key.like(f"{_like(key)}@%", escape="\\"),
            )
        )
        .order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def team_incident_ids(
    conn: Connection, team: str, since: datetime, until: datetime, upto_id: int
) -> list[int]:
    """Incidents of `team`, open or resolved, of their own (no parent), worse than
    info, opened from `since` to `until` (at `until`, ids up to `upto_id`); storms
    left out. What a team's ticket cap counts (pipeline/ticket_cap.py)."""
    query = (
        select(incidents.c.id)
        .where(
            incidents.c.team == team,
            incidents.c.parent_id.is_(None),
            incidents.c.severity > Severity.INFO.value,
            incidents.c.opened_at >= since,
            or_(
                incidents.c.opened_at < until,
                and_(incidents.c.opened_at == until, incidents.c.id <= upto_id),
            ),
            incidents.c.correlation_key.not_like(f"{STORM_PREFIX}%"),
        )
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]
