"""Kubernetes events (kubernetes-event-exporter): labels, service mapping, correlation."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import (
    RECEIVED,
    parse,
    refusal,
    sample,
)

from autoticket.config import RouteConfig
from autoticket.model import Severity
from autoticket.pipeline.correlate import correlation_key
from autoticket.sources import AlertmanagerSource, KubernetesSource
from autoticket.sources.kubernetes import DEFAULT_SERVICE_LABELS


def test_warning_backoff_maps_to_the_workload() -> None:
    (event,) = parse("kubernetes", sample("kubernetes", "warning_backoff"))
    assert event.labels == {
        "alertname": "BackOff",
        "kind": "Pod",
        "pod": "checkout-7d9f8b6c4-x2k9q",
        "namespace": "shop",
        "cluster": "prod-eu-1",
        "service": "checkout",
        "environment": "prod",
    }
    assert event.severity is Severity.HIGH
    assert event.source_meta["count"] == "37"
    assert event.occurred_at.isoformat() == "2024-05-14T09:21:40+00:00"
    assert event.title == "BackOff: Pod shop/checkout-7d9f8b6c4-x2k9q"


def test_normal_event_is_info_and_service_comes_from_the_pod_name() -> None:
    (event,) = parse("kubernetes", sample("kubernetes", "normal_scheduled"))
    assert event.severity is Severity.INFO
    assert event.labels["service"] == "checkout"
    assert event.occurred_at.isoformat() == "2024-05-14T09:25:03.118273+00:00"


def test_batch_array_gives_one_event_each() -> None:
    deploy, node = parse("kubernetes", sample("kubernetes", "batch_deployment"))
    assert deploy.labels["deployment"] == "payments"
    assert deploy.labels["service"] == "payments"
    assert deploy.severity is Severity.WARNING
    assert node.labels["node"] == "node-b-2"
    assert "service" not in node.labels and "namespace" not in node.labels
    assert node.severity is Severity.HIGH
    assert [deploy.id, node.id] == ["d1-0", "d1-1"]


def test_repeats_of_the_same_event_share_a_fingerprint() -> None:
    first = sample("kubernetes", "warning_backoff")
    again = sample("kubernetes", "warning_backoff") | {
        "count": 38,
        "lastTimestamp": "2024-05-14T09:26:40Z",
    }
    assert parse("kubernetes", first)[0].fingerprint == parse("kubernetes", again)[0].fingerprint


def test_service_labels_are_configurable() -> None:
    payload = sample("kubernetes", "warning_backoff")
    payload["involvedObject"]["labels"]["component"] = "checkout-web"
    source = KubernetesSource(service_labels=("component", *DEFAULT_SERVICE_LABELS))
    (event,) = source.parse(payload, {}, delivery_id="d1", received_at=RECEIVED)
    assert event.labels["service"] == "checkout-web"


def test_correlates_with_the_workloads_prometheus_alert() -> None:
    (k8s,) = parse("kubernetes", sample("kubernetes", "warning_backoff"))
    (prom,) = AlertmanagerSource().parse(
        {
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "KubePodCrashLooping",
                        "namespace": "shop",
                        "service": "checkout",
                        "environment": "prod",
                        "pod": "checkout-7d9f8b6c4-x2k9q",
                    },
                    "startsAt": "2024-05-14T09:05:00Z",
                }
            ]
        },
        {},
        delivery_id="d2",
        received_at=RECEIVED,
    )
    route = RouteConfig(name="workloads", group_by=["service", "namespace"])
    assert correlation_key(k8s, route) == correlation_key(prom, route)
    other = sample("kubernetes", "warning_backoff")
    other["involvedObject"]["namespace"] = "staging"
    (elsewhere,) = parse("kubernetes", other)
    assert correlation_key(elsewhere, route) != correlation_key(prom, route)


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda p: p.pop("reason"), "reason", "required"),
        (lambda p: p.update(reason=3), "reason", "expected a string"),
        (lambda p: p.update(type="Error"), "type", "'Warning' or 'Normal'"),
        (lambda p: p.pop("involvedObject"), "involvedObject", "required"),
        (lambda p: p["involvedObject"].pop("name"), "involvedObject.name", "required"),
        (
            lambda p: p["involvedObject"].update(labels={"a": 1}),
            "involvedObject.labels.a",
            "string",
        ),
        (lambda p: p.update(count=-1), "count", "non-negative"),
        (lambda p: p.update(lastTimestamp="yesterday"), "lastTimestamp", "RFC 3339"),
        (lambda p: p.update(source="kubelet"), "source", "expected an object"),
    ],
)
def test_malformed_event_names_the_field(mutate: Any, field: str, fragment: str) -> None:
    payload = sample("kubernetes", "warning_backoff")
    mutate(payload)
    exc = refusal("kubernetes", payload)
    assert exc.field == field
    assert fragment in exc.reason


def test_bad_array_item_names_its_index() -> None:
    payload = sample("kubernetes", "batch_deployment")
    payload[1] = "x"
    assert refusal("kubernetes", payload).field == "[1]"
    assert refusal("kubernetes", "text").field == "body"
