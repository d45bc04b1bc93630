"""Ingest caps on labels and text: cut with a marker, recorded, raw body kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from autoticket.config import Config, IngestConfig, RouteConfig
from autoticket.explain import incident_detail
from autoticket.model import AlertStatus, Delivery, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.limits import EventLimits, cap_event, truncated
from autoticket.pipeline.normalize import NormalizeStage
from autoticket.store.tables import incidents
from conftest import am_alert, am_payload, process

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SMALL = EventLimits(label_name=16, label_value=100, labels=8, text=200)


def event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": "d-0",
        "source": "alertmanager",
        "kind": EventKind.ALERT,
        "status": AlertStatus.FIRING,
        "occurred_at": T0,
        "received_at": T0,
        "title": "t",
        "severity": Severity.WARNING,
        "fingerprint": "fp",
        "raw_ref": "d",
        "labels": {"alertname": "X", "instance": "web-1"},
        "annotations": {"summary": "s"},
        "links": {"generator": "http://p"},
    }
    fields.update(overrides)
    return Event(**fields)


def test_an_event_within_the_caps_is_left_alone() -> None:
    e = event()
    labels, annotations = e.labels, e.annotations
    assert cap_event(e, SMALL) is False
    assert e.labels is labels and e.annotations is annotations
    assert e.decisions == []


def test_a_long_label_value_is_cut_to_the_cap_with_a_marker() -> None:
    e = event(labels={"alertname": "X", "instance": "a-" * 45_000 + "canary"})
    assert cap_event(e, SMALL) is True
    value = e.labels["instance"]
    assert len(value) == 100
    assert value.startswith("a-a-")
    assert value.endswith("…[truncated: 90006 chars]")
    assert e.labels["alertname"] == "X"
    [decision] = e.decisions
    assert (decision.stage, decision.outcome) == ("normalize", "capped")
    assert decision.inputs["truncated"] == ["labels.instance"]
    assert decision.inputs["limits"]["max_label_value_length"] == 100
    assert "dropped" not in decision.inputs


def test_too_many_labels_keeps_those_the_pipeline_reads_then_payload_order() -> None:
    labels = {f"l{i:02d}": "v" for i in range(12)}
    labels.update(service="checkout", alertname="X", team="payments")
    e = event(labels=labels)
    cap_event(e, SMALL)
    assert list(e.labels) == ["alertname", "service", "team", "l00", "l01", "l02", "l03", "l04"]
    inputs = e.decisions[0].inputs
    assert inputs["dropped_count"] == 7
    assert inputs["dropped"] == [f"labels.l{i:02d}" for i in range(5, 12)]


def test_a_label_with_a_name_past_the_cap_is_dropped() -> None:
    long_name = "n" * 17
    e = event(labels={"alertname": "X", long_name: "v"})
    cap_event(e, SMALL)
    assert e.labels == {"alertname": "X"}
    assert e.decisions[0].inputs["dropped"] == [f"labels.{long_name}"]


def test_text_fields_are_cut_at_the_annotation_cap() -> None:
    big = "x" * 1000
    e = event(
        title=big,
        description=big,
        annotations={"summary": "s", "description": big},
        links={"generator": "http://p/" + big},
    )
    cap_event(e, SMALL)
    assert len(e.title) == len(e.description) == 200
    assert e.annotations == {"summary": "s", "description": truncated(big, 200)}
    assert len(e.links["generator"]) == 200
    assert e.decisions[0].inputs["truncated"] == [
        "title",
        "description",
        "annotations.description",
        "links.generator",
    ]


def test_the_decision_lists_a_bounded_number_of_items() -> None:
    labels = {"alertname": "X", **{f"label_{i:03d}": "v" * 200 for i in range(7)}}
    e = event(labels=labels, annotations={f"a{i}": "y" * 300 for i in range(30)})
    cap_event(e, SMALL)
    inputs = e.decisions[0].inputs
    assert inputs["truncated_count"] == 37
    assert len(inputs["truncated"]) == 20


def test_caps_have_floors_so_the_marker_fits() -> None:
    with pytest.raises(ValidationError, match="max_label_value_length"):
        IngestConfig(max_label_value_length=10)
    assert EventLimits.of(IngestConfig()) == EventLimits(128, 4096, 64, 16384)


def test_normalize_caps_events_but_keeps_the_raw_body() -> None:
    instance = "i" * 90_000
    body = orjson.dumps(am_payload(am_alert(instance=instance), am_alert(instance="b")))
    delivery = Delivery("d1", "alertmanager", T0, body)
    config = Config(ingest=IngestConfig(max_label_value_length=1000))
    batch = NormalizeStage().run(Batch(deliveries=[delivery]), Context(T0, config)).batch
    first, second = batch.events
    assert len(first.labels["instance"]) == 1000
    assert second.labels["instance"] == "b" and second.decisions == []
    assert delivery.body == body  # what replay reads


def test_values_cut_alike_stay_distinct_alerts() -> None:
    """The fingerprint is taken before the cut: identity is the full label set."""
    common = "c" * 5000
    payload = am_payload(am_alert(instance=common + "1"), am_alert(instance=common + "2"))
    delivery = Delivery("d1", "alertmanager", T0, orjson.dumps(payload))
    batch = NormalizeStage().run(Batch(deliveries=[delivery]), Context(T0, Config())).batch
    first, second = batch.events
    assert first.labels["instance"] == second.labels["instance"]
    assert first.fingerprint != second.fingerprint


def test_a_huge_label_against_a_regex_route_is_routed_and_explained(engine: Engine) -> None:
    config = Config(
        routes=[
            RouteConfig(name="canary", matchers=['instance=~".*-.*-canary"']),
            RouteConfig(name="default"),
        ]
    )
    instance = "web-" * 22_500 + "1-canary"  # 90 KB; matches before the cut, not after
    body = orjson.dumps(am_payload(am_alert(instance=instance)))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", T0, body)], T0)
    with engine.connect() as conn:
        incident_id = conn.execute(select(incidents.c.id)).scalar_one()
        detail = incident_detail(conn, incident_id)
    assert detail is not None
    assert detail["route"] == "default"  # the route saw the capped value
    decisions = detail["explain"]["events"][0]["decisions"]
    capped = next(d for d in decisions if d["stage"] == "normalize")
    assert capped["outcome"] == "capped"
    assert capped["inputs"]["truncated"] == ["labels.instance"]
