"""CloudWatch alarms via SNS: states, subscription confirmation, canonical string, HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from vendor_samples import parse, refusal, sample

from autoticket.api.app import create_app
from autoticket.config import parse_config_text
from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, EventKind, Severity
from autoticket.service.runtime import Runtime
from autoticket.sources.sns import canonical_string
from conftest import token_headers


def test_alarm_fires_and_ok_resolves_the_same_alert() -> None:
    (alarm,) = parse("cloudwatch", sample("cloudwatch", "alarm"))
    (ok,) = parse("cloudwatch", sample("cloudwatch", "ok"))
    assert alarm.status is AlertStatus.FIRING and alarm.severity is Severity.HIGH
    assert ok.status is AlertStatus.RESOLVED
    assert ok.fingerprint == alarm.fingerprint
    assert ok.ends_at == ok.occurred_at
    assert ok.occurred_at.isoformat() == "2024-05-14T09:41:12.345000+00:00"
    assert alarm.labels["LoadBalancer"] == "app/checkout-alb/50dc6c495c0c9188"
    assert alarm.labels["metric_name"] == "HTTPCode_Target_5XX_Count"
    assert alarm.links["cloudwatch"].startswith("https://eu-west-1.console.aws.amazon.com/")
    assert alarm.source_meta["old_state"] == "OK"


def test_insufficient_data_is_an_info_firing() -> None:
    (event,) = parse("cloudwatch", sample("cloudwatch", "insufficient_data"))
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.INFO


def test_subscription_confirmation_is_recorded_with_its_url() -> None:
    envelope = sample("cloudwatch", "subscription_confirmation")
    (event,) = parse("cloudwatch", envelope)
    assert event.kind is EventKind.CHANGE
    assert event.severity is Severity.INFO
    assert event.links["subscribe"] == envelope["SubscribeURL"]
    assert "does not call it" in event.description


def test_dimension_cannot_replace_the_alarm_name() -> None:
    envelope = sample("cloudwatch", "alarm")
    alarm = json.loads(envelope["Message"])
    alarm["Trigger"]["Dimensions"].append({"name": "alertname", "value": "other"})
    envelope["Message"] = json.dumps(alarm)
    (event,) = parse("cloudwatch", envelope)
    assert event.labels["alertname"] == "checkout-alb-5xx"


def _with_alarm(**changes: Any) -> dict[str, Any]:
    envelope = sample("cloudwatch", "alarm")
    alarm = json.loads(envelope["Message"])
    for key, value in changes.items():
        if value is None:
            alarm.pop(key)
        else:
            alarm[key] = value
    envelope["Message"] = json.dumps(alarm)
    return envelope


@pytest.mark.parametrize(
    ("envelope", "field", "fragment"),
    [
        (sample("cloudwatch", "alarm") | {"Type": "Alarm"}, "Type", "expected one of"),
        (sample("cloudwatch", "alarm") | {"TopicArn": None}, "TopicArn", "required"),
        (sample("cloudwatch", "alarm") | {"Message": "{"}, "Message", "JSON string"),
        (sample("cloudwatch", "alarm") | {"Message": "[]"}, "Message", "JSON object"),
        (_with_alarm(AlarmName=None), "Message.AlarmName", "required"),
        (_with_alarm(NewStateValue="BROKEN"), "Message.NewStateValue", "ALARM, OK"),
        (_with_alarm(StateChangeTime="14/05/24"), "Message.StateChangeTime", "RFC 3339"),
        (_with_alarm(Trigger=[]), "Message.Trigger", "object"),
        (
            _with_alarm(Trigger={"Dimensions": [{"name": "X"}]}),
            "Message.Trigger.Dimensions[0]",
            "name and a value",
        ),
    ],
)
def test_malformed_envelope_names_the_field(envelope: Any, field: str, fragment: str) -> None:
    exc = refusal("cloudwatch", envelope)
    assert exc.field == field
    assert fragment in exc.reason


def test_canonical_string_of_a_notification() -> None:
    envelope = sample("cloudwatch", "alarm")
    expected = (
        f"Message\n{envelope['Message']}\nMessageId\n{envelope['MessageId']}\n"
        f"Subject\n{envelope['Subject']}\nTimestamp\n{envelope['Timestamp']}\n"
        f"TopicArn\n{envelope['TopicArn']}\nType\nNotification\n"
    )
    assert canonical_string(envelope) == expected.encode()
    del envelope["Subject"]  # optional: left out, not written empty
    assert b"Subject" not in canonical_string(envelope)


def test_canonical_string_of_a_subscription_confirmation() -> None:
    envelope = sample("cloudwatch", "subscription_confirmation")
    text = canonical_string(envelope).decode()
    expected = "".join(
        f"{name}\n{envelope[name]}\n"
        for name in ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
    )
    assert text == f"{expected}Type\nSubscriptionConfirmation\n"
    del envelope["Token"]
    with pytest.raises(PayloadError) as info:
        canonical_string(envelope)
    assert info.value.field == "Token"


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    runtime = Runtime(
        parse_config_text("ingest: {max_body_bytes: 65536}\n"), engine, start_worker=False
    )
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))
        yield c


def test_sns_text_plain_body_is_accepted_over_http(client: TestClient) -> None:
    body = json.dumps(sample("cloudwatch", "alarm"))
    headers = {"content-type": "text/plain; charset=UTF-8"}
    response = client.post("/api/v1/ingest/cloudwatch", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    # text/plain stays refused for a source whose sender sends JSON as JSON
    response = client.post("/api/v1/ingest/grafana", content=body, headers=headers)
    assert response.status_code == 415
