"""The state correlate works on, kept in SQL and loaded per batch.

Reads are batched (one query per kind per batch); writes are collected and
flushed in bulk at the end of the batch, in the caller's transaction. The
only write that cannot wait is opening an incident: its id is needed at once,
and the partial unique index on `open_key` decides who wins a race.

An incident's `resolve_due_at` is mirrored on the timers agenda: the flush
schedules or cancels the incident's auto-resolve timer when it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from autoticket.model import (
    RELEASE_ALERTNAME,
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    Release,
    Severity,
    Timer,
)
from autoticket.store import timers as timer_store
from autoticket.store.inhibit_sources import drop_source, keep_source, sources_in_scope
from autoticket.store.locks import lock_keys
from autoticket.store.releases import releases_started_between
from autoticket.store.rows import alert_from_row, alert_to_row, incident_from_row, incident_to_row
from autoticket.store.silences import silences_since
from autoticket.store.storms import (
    latest_open_storm_id,
    members,
    service_incident_id,
    team_incident_ids,
)
from autoticket.store.tables import alerts, incidents
from autoticket.store.timeline import add_entries, entry
from autoticket.store.upsert import upsert

__all__ = ["SqlCorrelationState"]


class SqlCorrelationState:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._alerts: dict[str, Alert] = {}
        self._incidents: dict[int, Incident] = {}
        self._open: dict[str, int] = {}
        self._dirty_alerts: set[str] = set()
        self._dirty_incidents: set[int] = set()
        self._timeline: list[dict[str, Any]] = []
        self._stored_due: dict[int, datetime | None] = {}  # resolve_due_at as stored
        # Keys locked by this batch that have no resolved incident: nothing to reopen,
        # no query needed (a storm of new keys would otherwise read once per key).
        self._never_resolved: set[str] = set()
        self._silences: tuple[datetime, list[Any]] | None = None  # (since, rows read)
        self._inhibit_kept: dict[tuple[str, str], str | None] = {}  # (rule, fp) -> scope

    # -- reads -------------------------------------------------------------
    def prefetch(self, fingerprints: Iterable[str], keys: Iterable[str]) -> None:
        """Lock the batch's keys, then load their alerts and open incidents."""
        keys = list(keys)
        lock_keys(self.conn, keys)
        fps = [f for f in set(fingerprints) if f not in self._alerts]
        for chunk in _chunks(fps, 500):
            for row in self.conn.execute(select(alerts).where(alerts.c.fingerprint.in_(chunk))):
                self._alerts[row.fingerprint] = alert_from_row(row)
        wanted = {a.incident_id for a in self._alerts.values() if a.incident_id is not None}
        wanted -= self._incidents.keys()
        self._load_incidents(sorted(wanted))
        # An alert may belong to an incident of another key (after a routing
        # change): lock that key too, then read those incidents again.
        foreign = {
            i.correlation_key for i in (self._incidents[n] for n in wanted if n in self._incidents)
        } - set(keys)
        if foreign and lock_keys(self.conn, foreign):
            self._load_incidents(sorted(wanted))
        missing_keys = [k for k in set(keys) if k not in self._open]
        for chunk in _chunks(missing_keys, 500):
            query = select(incidents).where(incidents.c.open_key.in_(chunk))
            for row in self.conn.execute(query):
                self._loaded(row)
        self._note_never_resolved([k for k in missing_keys if k not in self._open])

    def _note_never_resolved(self, keys: list[str]) -> None:
        """Remember which of `keys` (locked, no open incident) have no resolved incident.

        Valid for the rest of the transaction: on PostgreSQL the keys' lock
        slots are held, so only this batch can resolve an incident of them,
        and it does so through this object (see `_remember`).
        """
        for chunk in _chunks(keys, 500):
            query = (
                select(incidents.c.correlation_key)
                .where(incidents.c.correlation_key.in_(chunk), incidents.c.open_key.is_(None))
                .distinct()
            )
            resolved = set(self.conn.execute(query).scalars())
            self._never_resolved.update(k for k in chunk if k not in resolved)

    def _load_incidents(self, ids: list[int]) -> None:
        for chunk in _chunks(ids, 500):
            for row in self.conn.execute(select(incidents).where(incidents.c.id.in_(chunk))):
                self._loaded(row)

    def alert(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def incident(self, incident_id: int) -> Incident:
        found = self._incidents.get(incident_id)
        if found is None:
            row = self.conn.execute(select(incidents).where(incidents.c.id == incident_id)).one()
            found = self._loaded(row)
        return found

    def find_incident(self, incident_id: int) -> Incident | None:
        """The incident as stored now (read again), or None when it is gone."""
        row = self.conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        return self._loaded(row) if row is not None else None

    def open_incident(self, key: str) -> Incident | None:
        incident_id = self._open.get(key)
        return self._incidents[incident_id] if incident_id is not None else None

    def reopenable(self, key: str, resolved_since: datetime) -> Incident | None:
        if key in self._never_resolved:
            return None
        query = (
            select(incidents)
            .where(
                incidents.c.correlation_key == key,
                incidents.c.open_key.is_(None),
                incidents.c.resolved_at >= resolved_since,
            )
            .order_by(incidents.c.resolved_at.desc(), incidents.c.id.desc())
            .limit(1)
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None
        return self._incidents.get(row.id) or self._loaded(row)

    # -- writes ------------------------------------------------------------
    def save_alert(self, alert: Alert) -> None:
        self._alerts[alert.fingerprint] = alert
        self._dirty_alerts.add(alert.fingerprint)

    def save_incident(self, incident: Incident) -> None:
        self._remember(incident)
        self._dirty_incidents.add(incident.id)

    def create_incident(self, draft: Incident, context: dict[str, Any]) -> tuple[Incident, bool]:
        """Insert `draft` as the open incident of its key, or join the one that won."""
        values = incident_to_row(draft)
        values.update(
            correlation_key=draft.correlation_key,
            opened_at=draft.opened_at,
            group_labels=draft.group_labels,
            context=context,
        )
        # ON CONFLICT DO NOTHING, not a savepoint: no extra round trips, and no
        # subtransaction per incident (each holds a lock-table entry until commit).
        new_id = self.conn.execute(_open_insert(self.conn.dialect.name), values).scalar()
        if new_id is None:  # another worker opened one for this key first
            return self._reread_open(draft.correlation_key), False
        draft.id = new_id
        self._stored_due[new_id] = draft.resolve_due_at
        self._remember(draft)
        return draft, True

    def reopen(self, incident: Incident, now: datetime) -> tuple[Incident, bool]:
        """Make a recently resolved incident the open one of its key again."""
        try:
            with self.conn.begin_nested():
                changed = self.conn.execute(
                    update(incidents)
                    .where(incidents.c.id == incident.id, incidents.c.open_key.is_(None))
                    .values(open_key=incident.correlation_key, status=IncidentStatus.OPEN.value)
                ).rowcount
        except IntegrityError:
            return self._reread_open(incident.correlation_key), False
        if not changed:  # someone else reopened it first
            return self._reread_open(incident.correlation_key), False
        incident.status = IncidentStatus.OPEN
        incident.resolved_at = None
        incident.updated_at = now
        self.save_incident(incident)
        return incident, True

    def add_timeline(
        self, incident_id: int, at: datetime, kind: str, message: str, data: dict[str, Any]
    ) -> None:
        self._timeline.append(entry(incident_id, at, kind, message, data))

    def storm_services(
        self, label: str, place: str, environment: str, since: datetime, upto: Incident
    ) -> list[str]:
        """The services of the open incidents of a place opened from `since` up to
        `upto` (pipeline/storm.py): a storm's count, as of that incident."""
        found = members(self.conn, label, place, environment, since, upto.opened_at, upto.id)
        return sorted({m.service for m in found})

    def storm_member_ids(
        self, label: str, place: str, environment: str, since: datetime, upto: Incident
    ) -> list[int]:
        """The incidents of their own (no parent, as this state holds them) of a place
        opened from `since` up to `upto`: who started a storm before it formed."""
        found = members(self.conn, label, place, environment, since, upto.opened_at, upto.id)
        held = self._incidents
        return [
            m.incident_id
            for m in found
            if m.parent_id is None
            and (m.incident_id not in held or held[m.incident_id].parent_id is None)
        ]

    def team_incidents(self, team: str, since: datetime, upto: Incident) -> list[int]:
        """The incidents a team's ticket cap counts, opened from `since` up to `upto`
        (store/storms.py), as this state holds them: one that joined a storm or was
        related earlier in the batch (not flushed yet) is not counted."""
        found = team_incident_ids(self.conn, team, since, upto.opened_at, upto.id)
        held = self._incidents
        return [
            i
            for i in found
            if i not in held or (held[i].parent_id is None and held[i].severity > Severity.INFO)
        ]

    def open_storm(self, key: str) -> Incident | None:
        """The open storm of a place (storm `key`, or a later burst's), opened last."""
        found = latest_open_storm_id(self.conn, key)
        return self.incident(found) if found is not None else None

    def silence_rows(self, since: datetime) -> list[Any]:
        """The stored silences not ended by `since` (decide matches them).

        Read once per state (one round): its segments ask in time order, so a
        later `since` is answered from the rows already read."""
        if self._silences is None or since < self._silences[0]:
            self._silences = (since, silences_since(self.conn, since))
        return [row for row in self._silences[1] if row.ends_at > since]

    def releases_between(
        self, services: list[str], environment: str, start: datetime, end: datetime
    ) -> list[Release]:
        """Releases of `services` in `environment` started from `start` to `end`."""
        return releases_started_between(self.conn, services, environment, start, end)

    def lock_key(self, key: str) -> None:
        lock_keys(self.conn, [key])

    def alertnames(self, incident_id: int) -> set[str]:
        """The alertnames of the alerts that joined an incident (stored, then as held here)."""
        return {str(labels.get("alertname", "")) for labels in self.alert_labels(incident_id)}

    def alert_labels(self, incident_id: int) -> list[dict[str, str]]:
        """The labels of the alerts that joined an incident (stored, then as held here)."""
        found: list[dict[str, str]] = []
        query = select(alerts.c.fingerprint, alerts.c.labels).where(
            alerts.c.incident_id == incident_id
        )
        for fingerprint, labels in self.conn.execute(query):
            if fingerprint not in self._alerts and isinstance(labels, dict):
                found.append(labels)
        found.extend(a.labels for a in self._alerts.values() if a.incident_id == incident_id)
        return found

    def keep_inhibit_source(self, rule: str, fingerprint: str, scope: str, since: datetime) -> None:
        """Record a firing alert on a rule's source side (written at once: a later
        event of this batch may look it up)."""
        if self._inhibit_kept.get((rule, fingerprint)) != scope:
            keep_source(self.conn, rule, fingerprint, scope, since)
            self._inhibit_kept[(rule, fingerprint)] = scope

    def drop_inhibit_source(self, rule: str, fingerprint: str) -> None:
        if (rule, fingerprint) not in self._inhibit_kept or self._inhibit_kept[(rule, fingerprint)]:
            drop_source(self.conn, fingerprint)
            self._inhibit_kept[(rule, fingerprint)] = None

    def inhibiting_incident(
        self, rule: str, scope: str, target: str, excluded: Callable[[Mapping[str, str]], bool]
    ) -> tuple[Incident, Alert] | None:
        """The open incident of a firing source alert of `rule` with these `equal`
        values (oldest first), not the target alert itself nor one `excluded`."""
        for fingerprint in sources_in_scope(self.conn, rule, scope):
            if fingerprint == target:
                continue
            alert = self._alerts.get(fingerprint)
            if alert is None:
                row = self.conn.execute(
                    select(alerts).where(alerts.c.fingerprint == fingerprint)
                ).first()
                alert = alert_from_row(row) if row is not None else None
            if alert is None or alert.status is not AlertStatus.FIRING or excluded(alert.labels):
                continue
            if alert.incident_id is None:
                continue
            incident = self.incident(alert.incident_id)
            if incident.status is IncidentStatus.OPEN:
                return incident, alert
        return None

    def service_incident(
        self, service: str, place: Mapping[str, str], since: datetime, upto: Incident
    ) -> Incident | None:
        """The open incident of `service` in `place` opened from `since` up to `upto`
        (topology). Not one made of the release judge's verdict alone: the symptoms of
        a regressed release file their own tickets, which name it as a suspect."""
        found = service_incident_id(self.conn, service, place, since, upto.opened_at, upto.id)
        if found is None or self.alertnames(found) <= {RELEASE_ALERTNAME}:
            return None
        return self.incident(found)

    def flush(self) -> None:
        if self._dirty_alerts:
            rows = [alert_to_row(self._alerts[fp]) for fp in sorted(self._dirty_alerts)]
            upsert(self.conn, alerts, rows, ["fingerprint"])
            self._dirty_alerts.clear()
        if self._dirty_incidents:
            rows = [incident_to_row(self._incidents[i]) for i in sorted(self._dirty_incidents)]
            params = [
                {f"v_{k}": v for k, v in row.items()} | {"b_id": incident_id}
                for incident_id, row in zip(sorted(self._dirty_incidents), rows, strict=True)
            ]
            stmt = (
                update(incidents)
                .where(incidents.c.id == bindparam("b_id"))
                .values({k: bindparam(f"v_{k}") for k in rows[0]})
            )
            self.conn.execute(stmt, params)
            self._sync_timers(sorted(self._dirty_incidents))
            self._dirty_incidents.clear()
        if self._timeline:
            add_entries(self.conn, self._timeline)
            self._timeline = []

    def unflushed_due(self) -> datetime | None:
        """The soonest auto-resolve time set in memory and not yet on the agenda."""
        soonest: datetime | None = None
        for incident_id in self._dirty_incidents:
            at = self._incidents[incident_id].resolve_due_at
            if at is not None and at != self._stored_due.get(incident_id):
                soonest = at if soonest is None or at < soonest else soonest
        return soonest

    # -- helpers -----------------------------------------------------------
    def _sync_timers(self, ids: list[int]) -> None:
        """Schedule or cancel the auto-resolve timers whose due time changed."""
        due: list[Timer] = []
        cancelled: list[str] = []
        for incident_id in ids:
            at = self._incidents[incident_id].resolve_due_at
            if at == self._stored_due.get(incident_id):
                continue
            self._stored_due[incident_id] = at
            if at is None:
                cancelled.append(str(incident_id))
            else:
                set_at = self._incidents[incident_id].updated_at
                due.append(Timer(timer_store.AUTO_RESOLVE, str(incident_id), at, set_at=set_at))
        timer_store.schedule(self.conn, due)
        timer_store.cancel(self.conn, timer_store.AUTO_RESOLVE, cancelled)

    def _loaded(self, row: Any) -> Incident:
        incident = incident_from_row(row)
        self._stored_due[incident.id] = incident.resolve_due_at
        return self._remember(incident)

    def _remember(self, incident: Incident) -> Incident:
        self._incidents[incident.id] = incident
        if incident.status is not IncidentStatus.RESOLVED:
            self._open[incident.correlation_key] = incident.id
        else:
            self._never_resolved.discard(incident.correlation_key)
            if self._open.get(incident.correlation_key) == incident.id:
                del self._open[incident.correlation_key]
        return incident

    def _reread_open(self, key: str) -> Incident:
        row = self.conn.execute(select(incidents).where(incidents.c.open_key == key)).one()
        return self._loaded(row)


_OPEN_INSERTS: dict[str, Any] = {}


def _open_insert(dialect: str) -> Any:
    """INSERT an open incident RETURNING its id, or nothing when its key has one open.

    Built once per dialect, so the per-incident cost is binding values only.
    """
    stmt = _OPEN_INSERTS.get(dialect)
    if stmt is None:
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = (
            module.insert(incidents)
            .on_conflict_do_nothing(
                index_elements=[incidents.c.open_key], index_where=incidents.c.open_key.isnot(None)
            )
            .returning(incidents.c.id)
        )
        _OPEN_INSERTS[dialect] = stmt
    return stmt


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
