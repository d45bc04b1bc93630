"""What people do to incidents (ack, resolve, label): what each leaves behind.

The HTTP flow is in tests/service/test_lifecycle_flow.py; these call
lifecycle/manual.py directly and read the timeline, outbox, decisions and
incident rows each action writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import Connection, Engine, select

from autoticket.config import Config
from autoticket.lifecycle.manual import IncidentNotFound, acknowledge, add_label, resolve_now
from autoticket.pipeline.base import Delivery
from autoticket.store.tables import alerts, decisions, incidents, outbox, timeline
from conftest import am_alert, am_payload, process


def _open_incident(engine: Engine, config: Config, t0: datetime) -> int:
    body = orjson.dumps(am_payload(am_alert()))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body)], t0)
        return conn.execute(select(incidents.c.id)).scalar_one()


def _timeline(conn: Connection, incident_id: int, kind: str) -> list[tuple[str, dict]]:
    query = select(timeline.c.message, timeline.c.data).where(
        timeline.c.incident_id == incident_id, timeline.c.kind == kind
    )
    return [(r.message, r.data) for r in conn.execute(query)]


def _actions(conn: Connection, incident_id: int) -> list[tuple[str, str]]:
    query = (
        select(outbox.c.action, outbox.c.idempotency_key)
        .where(outbox.c.incident_id == incident_id)
        .order_by(outbox.c.id)
    )
    return [(r.action, r.idempotency_key) for r in conn.execute(query)]


def _manual_decisions(conn: Connection) -> list[tuple[int, str, str, dict]]:
    query = select(decisions).where(decisions.c.stage == "manual").order_by(decisions.c.id)
    return [(r.incident_id, r.outcome, r.subject, r.inputs) for r in conn.execute(query)]


def test_acknowledge_records_who_and_sends_one_update(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open_incident(engine, config, t0)
    now = t0 + timedelta(minutes=3)
    with engine.begin() as conn:
        result = acknowledge(conn, config, incident_id, now, "alice")
    assert result == {"id": incident_id, "status": "acknowledged", "changed": True}
    with engine.connect() as conn:
        row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).one()
        assert row.status == "acknowledged"
        assert row.version == 2
        assert row.updated_at.replace(tzinfo=now.tzinfo) == now
        assert row.open_key is not None  # still the open incident of its key
        assert _timeline(conn, incident_id, "acknowledged") == [
            ("acknowledged by alice", {"by": "alice"})
        ]
        [_, (action, key)] = _actions(conn, incident_id)
        assert action == "update"
        assert ":v2:acknowledged" in key
        assert _manual_decisions(conn) == [
            (
                incident_id,
                "acknowledged",
                str(incident_id),
                {"by": "alice", "idempotency_key": key[: -len(":builtin")]},
            )
        ]
    with engine.begin() as conn:  # a second ack changes nothing and sends nothing
        again = acknowledge(conn, config, incident_id, now + timedelta(minutes=1), "bob")
        assert again == {"id": incident_id, "status": "acknowledged", "changed": False}
        assert len(_actions(conn, incident_id)) == 2


def test_resolve_now_closes_the_incident_and_its_timer(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open_incident(engine, config, t0)
    now = t0 + timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            incidents.update()
            .where(incidents.c.id == incident_id)
            .values(resolve_due_at=now + timedelta(minutes=5))
        )
        result = resolve_now(conn, config, incident_id, now, "bob")
    assert result == {"id": incident_id, "status": "resolved", "changed": True}
    with engine.connect() as conn:
        row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).one()
        assert row.status == "resolved"
        assert row.open_key is None
        assert row.resolved_at.replace(tzinfo=now.tzinfo) == now
        assert row.resolve_due_at is None
        assert row.firing == 0
        assert _timeline(conn, incident_id, "resolved") == [
            ("resolved manually by bob", {"by": "bob"})
        ]
        [_, (action, key)] = _actions(conn, incident_id)
        assert action == "resolve"
        assert key.endswith(":v2:resolved:builtin")
        assert _manual_decisions(conn) == [
            (
                incident_id,
                "resolved",
                str(incident_id),
                {"by": "bob", "idempotency_key": key[: -len(":builtin")]},
            )
        ]
        # The firing episode is closed: its repeats are stale copies.
        alert = conn.execute(select(alerts)).one()
        assert alert.status == "resolved"


def test_a_resolved_incident_cannot_be_acknowledged(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open_incident(engine, config, t0)
    with engine.begin() as conn:
        resolve_now(conn, config, incident_id, t0 + timedelta(minutes=1), "bob")
    with engine.begin() as conn, pytest.raises(ValueError, match=f"incident {incident_id} is"):
        acknowledge(conn, config, incident_id, t0 + timedelta(minutes=2), "alice")


@pytest.mark.parametrize("action", ["acknowledge", "resolve_now", "add_label"])
def test_an_unknown_incident_is_not_found(
    engine: Engine, config: Config, t0: datetime, action: str
) -> None:
    with engine.begin() as conn, pytest.raises(IncidentNotFound) as raised:
        if action == "acknowledge":
            acknowledge(conn, config, 404, t0, "alice")
        elif action == "resolve_now":
            resolve_now(conn, config, 404, t0, "alice")
        else:
            add_label(conn, 404, t0, "noise", "alice")
    assert raised.value.args == (404,)


def test_labels_accumulate_sorted_without_duplicates(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open_incident(engine, config, t0)
    with engine.begin() as conn:
        assert add_label(conn, incident_id, t0, "useful", "alice") == {
            "id": incident_id,
            "labels": ["useful"],
        }
    with engine.begin() as conn:
        result = add_label(conn, incident_id, t0 + timedelta(minutes=1), "noise", "bob")
    assert result == {"id": incident_id, "labels": ["noise", "useful"]}
    with engine.begin() as conn:
        result = add_label(conn, incident_id, t0 + timedelta(minutes=2), "useful", "carol")
    assert result == {"id": incident_id, "labels": ["noise", "useful"]}
    with engine.connect() as conn:
        context = conn.execute(
            select(incidents.c.context).where(incidents.c.id == incident_id)
        ).scalar_one()
        assert context["labels"] == ["noise", "useful"]
        assert context["service"] == "checkout"  # the rest of the context is kept
        assert _timeline(conn, incident_id, "label") == [
            ("labelled 'useful' by alice", {"label": "useful", "by": "alice"}),
            ("labelled 'noise' by bob", {"label": "noise", "by": "bob"}),
            ("labelled 'useful' by carol", {"label": "useful", "by": "carol"}),
        ]
        assert len(_actions(conn, incident_id)) == 1  # a label is feedback, not a ticket change
