"""Amazon CloudWatch alarms delivered by an SNS HTTP(S) subscription.

The body is SNS's envelope; for a `Notification` its `Message` is the alarm's
state change as a JSON string. A `SubscriptionConfirmation` is recorded as
one info event carrying the `SubscribeURL` (confirming it, and checking the
signature, happen at ingest: api/sns.py). Mapping: docs/sources/cloudwatch.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import orjson

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, optional_str, parse_time
from autoticket.sources.sns import canonical_string

__all__ = ["CloudWatchSource"]

_STATES: dict[str, tuple[AlertStatus, Severity]] = {
    "ALARM": (AlertStatus.FIRING, Severity.HIGH),
    "INSUFFICIENT_DATA": (AlertStatus.FIRING, Severity.INFO),
    "OK": (AlertStatus.RESOLVED, Severity.HIGH),
}


class CloudWatchSource(Source):
    """SNS envelopes: alarm notifications and subscription confirmations."""

    name: ClassVar[str] = "cloudwatch"
    extra_content_types: ClassVar[frozenset[str]] = frozenset({"text/plain"})

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload, "an SNS message object")
        canonical_string(payload)  # every signed field present and a string
        kind = payload["Type"]
        topic = payload["TopicArn"]
        meta = {"topic_arn": topic, "sns_message_id": payload["MessageId"]}
        if kind != "Notification":
            return [self._subscription(payload, kind, meta, delivery_id, received_at)]
        try:
            alarm = orjson.loads(payload["Message"])
        except orjson.JSONDecodeError as exc:
            reason = f"expected the alarm as a JSON string: {exc.msg}"
            raise PayloadError("Message", reason) from None
        if type(alarm) is not dict:
            raise PayloadError("Message", f"expected a JSON object, got {json_type(alarm)}")
        return [self._alarm(alarm, payload, meta, delivery_id, received_at)]

    def _alarm(
        self,
        alarm: dict[str, Any],
        envelope: dict[str, Any],
        meta: dict[str, str],
        delivery_id: str,
        received_at: datetime,
    ) -> Event:
        name = _required(alarm, "AlarmName")
        state = _required(alarm, "NewStateValue")
        if state not in _STATES:
            raise PayloadError(
                "Message.NewStateValue",
                f"expected ALARM, OK or INSUFFICIENT_DATA, got {state[:64]!r}",
            )
        status, severity = _STATES[state]
        reason = optional_str(alarm, "NewStateReason", "Message.NewStateReason") or ""
        changed = alarm.get("StateChangeTime")
        occurred_at = (
            received_at if changed is None else _aws_time(changed, "Message.StateChangeTime")
        )
        labels = {"alertname": name}
        for key, label in (("AWSAccountId", "aws_account_id"), ("Region", "aws_region")):
            if value := optional_str(alarm, key, f"Message.{key}"):
                labels[label] = value
        trigger = alarm.get("Trigger")
        if trigger is not None:
            for key, value in _trigger_labels(trigger).items():
                labels.setdefault(key, value)  # a dimension cannot replace alertname
        annotations = {"reason": reason} if reason else {}
        if description := optional_str(alarm, "AlarmDescription", "Message.AlarmDescription"):
            annotations["description"] = description
        if old := optional_str(alarm, "OldStateValue", "Message.OldStateValue"):
            meta["old_state"] = old
        meta["new_state"] = state
        if arn := optional_str(alarm, "AlarmArn", "Message.AlarmArn"):
            meta["alarm_arn"] = arn
        links = {}
        if unsubscribe := optional_str(envelope, "UnsubscribeURL", "UnsubscribeURL"):
            meta["unsubscribe_url"] = unsubscribe
        if region_code := _region_code(meta.get("alarm_arn")):
            links["cloudwatch"] = (
                f"https://{region_code}.console.aws.amazon.com/cloudwatch/home"
                f"?region={region_code}#alarmsV2:alarm/{name}"
            )
        subject = optional_str(envelope, "Subject", "Subject")
        return Event(
            id=f"{delivery_id}-0",
            source=self.name,
            kind=EventKind.ALERT,
            status=status,
            occurred_at=occurred_at,
            received_at=received_at,
            title=subject or f"{state}: {name}",
            severity=severity,
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=description or reason,
            labels=labels,
            annotations=annotations,
            links=links,
            source_meta=meta,
            ends_at=occurred_at if status is AlertStatus.RESOLVED else None,
        )

    def _subscription(
        self,
        envelope: dict[str, Any],
        kind: str,
        meta: dict[str, str],
        delivery_id: str,
        received_at: datetime,
    ) -> Event:
        url = envelope["SubscribeURL"]
        labels = {"alertname": f"SNS{kind}", "topic_arn": envelope["TopicArn"]}
        verb = "confirm" if kind == "SubscriptionConfirmation" else "re-subscribe"
        return Event(
            id=f"{delivery_id}-0",
            source=self.name,
            kind=EventKind.CHANGE,
            status=AlertStatus.FIRING,
            occurred_at=_aws_time(envelope["Timestamp"], "Timestamp"),
            received_at=received_at,
            title=f"SNS {kind} for {envelope['TopicArn']}",
            severity=Severity.INFO,
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=f"Open the subscribe link to {verb} (autoticket does not call it).",
            labels=labels,
            annotations={"message": envelope["Message"]},
            links={"subscribe": url},
            source_meta=meta,
        )


def _required(alarm: dict[str, Any], key: str) -> str:
    value = alarm.get(key)
    if value is None:
        raise PayloadError(f"Message.{key}", "required field is missing")
    if type(value) is not str or not value:
        raise PayloadError(f"Message.{key}", f"expected a non-empty string, got {json_type(value)}")
    return value


def _trigger_labels(trigger: Any) -> dict[str, str]:
    if type(trigger) is not dict:
        raise PayloadError("Message.Trigger", f"expected an object, got {json_type(trigger)}")
    labels: dict[str, str] = {}
    for key, label in (("Namespace", "aws_namespace"), ("MetricName", "metric_name")):
        if value := optional_str(trigger, key, f"Message.Trigger.{key}"):
            labels[label] = value
    dimensions = trigger.get("Dimensions")
    if dimensions is None:
        return labels
    if type(dimensions) is not list:
        raise PayloadError(
            "Message.Trigger.Dimensions", f"expected an array, got {json_type(dimensions)}"
        )
    for index, item in enumerate(dimensions):
        path = f"Message.Trigger.Dimensions[{index}]"
        if type(item) is not dict:
            raise PayloadError(path, f"expected an object, got {json_type(item)}")
        # CloudWatch writes {"value": ..., "name": ...} (lower case) here.
        name = optional_str(item, "name", f"{path}.name")
        value = optional_str(item, "value", f"{path}.value")
        if not name or value is None:
            raise PayloadError(path, "expected a dimension with a name and a value")
        labels[name] = value
    return labels


def _aws_time(value: Any, path: str) -> datetime:
    """CloudWatch writes `2024-05-14T09:20:00.123+0000`; SNS writes RFC 3339."""
    if type(value) is str and len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"
    return parse_time(value, path)


def _region_code(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None
