"""Release events: one row per (service, environment, version), updated in place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from autoticket.model import Release, Timer
from autoticket.store import timers as timer_store
from autoticket.store.tables import releases

__all__ = [
    "alerted_before",
    "get_release",
    "list_releases",
    "release_from_row",
    "release_targets",
    "releases_started_between",
    "save_release",
    "store_verdict",
]

# Fields a later event of the same release sets when it carries them.
_UPDATABLE = ("finished_at", "rollout_percent", "commit", "deployer")


def save_release(conn: Connection, release: Release, now: datetime) -> tuple[int, bool]:
    """Insert the release or merge it into the stored one; return (id, created).

    A later event of the same release keeps the earliest `started_at`, sets
    what it carries (finished_at, rollout_percent, commit, deployer) and
    leaves what it omits; its flags are merged over the stored ones. The row
    is locked for the merge, so two events of one release do not lose either.
    """
    key = (
        releases.c.service == release.service,
        releases.c.environment == release.environment,
        releases.c.version == release.version,
    )
    stored = conn.execute(select(releases).where(*key).with_for_update()).first()
    if stored is None:
        row = _row(release) | {"created_at": now, "updated_at": now}
        try:
            with conn.begin_nested():
                found = conn.execute(insert(releases).values(row).returning(releases.c.id))
                release_id = int(found.scalar_one())
            _watch(conn, release_id, release.started_at, now)
            return release_id, True
        except IntegrityError:  # a concurrent event of the same release won the insert
            stored = conn.execute(select(releases).where(*key).with_for_update()).one()
    changes: dict[str, Any] = {
        "started_at": min(stored.started_at, release.started_at),
        "flags": {**stored.flags, **release.flags},
        "source": release.source,
        "updated_at": now,
    }
    for name in _UPDATABLE:
        value = getattr(release, name)
        if value is not None:
            changes[name] = value
    conn.execute(update(releases).where(releases.c.id == stored.id).values(changes))
    if stored.verdict is None and changes["started_at"] != stored.started_at:
        _watch(conn, int(stored.id), changes["started_at"], now)
    return int(stored.id), False


def _watch(conn: Connection, release_id: int, started_at: datetime, now: datetime) -> None:
    """Set the release's re-judging timer (lifecycle/release_check.py) at its start.

    An earlier start moves it back: every step is judged again from there.
    """
    timer = Timer(timer_store.RELEASE_CHECK, str(release_id), started_at, {}, set_at=now)
    timer_store.schedule(conn, [timer], now)


def store_verdict(
    conn: Connection, release_id: int, decision: dict[str, Any], judged_at: datetime
) -> None:
    """Keep the judge's final decision on the release: verdict, score, action,
    decided_at, decided_by and `evidence` (reasons, action reason, metrics)."""
    keys = ("verdict", "score", "action", "decided_at", "decided_by", "evidence")
    values = {k: decision[k] for k in keys} | {"judged_at": judged_at}
    conn.execute(update(releases).where(releases.c.id == release_id).values(values))


def alerted_before(conn: Connection, service: str, environment: str, before: datetime) -> list[Any]:
    """The service's release in the environment just before `before`, when its
    verdict raised an alert (stored action pause or rollback); else nothing.

    Each release supersedes the one before it, so older ones were resolved by
    their own successor already.
    """
    query = (
        select(releases)
        .where(
            releases.c.service == service,
            releases.c.environment == environment,
            releases.c.started_at < before,
        )
        .order_by(releases.c.started_at.desc(), releases.c.id.desc())
        .limit(1)
    )
    return [row for row in conn.execute(query) if row.action in ("pause", "rollback")]


def _row(release: Release) -> dict[str, Any]:
    return {
        "service": release.service,
        "environment": release.environment,
        "version": release.version,
        "started_at": release.started_at,
        "finished_at": release.finished_at,
        "rollout_percent": release.rollout_percent,
        "commit": release.commit,
        "deployer": release.deployer,
        "flags": release.flags,
        "source": release.source,
    }


def release_from_row(row: Any) -> Release:
    return Release(
        service=row.service,
        environment=row.environment,
        version=row.version,
        started_at=row.started_at,
        finished_at=row.finished_at,
        rollout_percent=row.rollout_percent,
        commit=row.commit,
        deployer=row.deployer,
        flags=dict(row.flags),
        source=row.source,
        id=row.id,
    )


def get_release(conn: Connection, release_id: int) -> Any | None:
    return conn.execute(select(releases).where(releases.c.id == release_id)).first()


def list_releases(
    conn: Connection,
    service: str | None = None,
    environment: str | None = None,
    limit: int = 100,
    before: datetime | None = None,
    offset: int = 0,
) -> tuple[list[Any], int]:
    """Newest first (by started_at, then id): a release timeline, with the total matching."""
    where = []
    if service is not None:
        where.append(releases.c.service == service)
    if environment is not None:
        where.append(releases.c.environment == environment)
    total = conn.execute(select(func.count()).select_from(releases).where(*where)).scalar_one()
    if before is not None:
        where.append(releases.c.started_at < before)
    query = (
        select(releases)
        .where(*where)
        .order_by(releases.c.started_at.desc(), releases.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query)), int(total)


def release_targets(conn: Connection) -> list[tuple[str, str, int]]:
    """Every (service, environment) that has releases, with how many, by name."""
    c = releases.c
    query = (
        select(c.service, c.environment, func.count())
        .group_by(c.service, c.environment)
        .order_by(c.service, c.environment)
    )
    return [(row[0], row[1], int(row[2])) for row in conn.execute(query)]


def releases_started_between(
    conn: Connection,
    services: list[str],
    environment: str,
    start: datetime,
    end: datetime,
) -> list[Release]:
    """Releases of `services` in `environment` with start <= started_at <= end."""
    if not services:
        return []
    query = (
        select(releases)
        .where(
            releases.c.service.in_(sorted(set(services))),
            releases.c.environment == environment,
            releases.c.started_at >= start,
            releases.c.started_at <= end,
        )
        .order_by(releases.c.started_at, releases.c.id)
    )
    return [release_from_row(row) for row in conn.execute(query)]
