"""Kubernetes events as kubernetes-event-exporter's webhook sends them.

One POST carries one core/v1 Event as JSON (or, with a batching layout, an
array of them). Each becomes one event whose labels match what the
workload's Prometheus alerts carry (`namespace`, `pod`/`deployment`/...,
`service`, `cluster`), so both group into the same incident.
Mapping: docs/sources/kubernetes.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import (
    Source,
    check_str_map,
    json_type,
    optional_str,
    parse_optional_time,
)

__all__ = ["DEFAULT_SERVICE_LABELS", "MAX_K8S_EVENTS", "KubernetesSource"]

DEFAULT_SERVICE_LABELS: tuple[str, ...] = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app",
    "k8s-app",
)
"""involvedObject labels that name the service, first found wins."""

MAX_K8S_EVENTS = 1000

# Reasons that mean a workload is down or about to be, whatever `type` says.
_HIGH_REASONS = frozenset(
    {
        "BackOff",
        "CrashLoopBackOff",
        "OOMKilling",
        "OOMKilled",
        "Evicted",
        "FailedScheduling",
        "FailedMount",
        "FailedAttachVolume",
        "NodeNotReady",
        "Unhealthy",
        "FailedCreatePodSandBox",
        "ErrImagePull",
        "ImagePullBackOff",
    }
)
_TYPES = {"Warning": Severity.WARNING, "Normal": Severity.INFO}
# A Deployment's pod: <name>-<replicaset hash>-<5 chars>; its ReplicaSet: <name>-<hash>.
_POD_SUFFIX = re.compile(r"-[a-z0-9]{5,10}-[a-z0-9]{5}$")
_RS_SUFFIX = re.compile(r"-[a-z0-9]{5,10}$")
_OBJECT_LABEL = {
    "Pod": "pod",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "Job": "job_name",
    "CronJob": "cronjob",
    "Node": "node",
    "Service": "k8s_service",
    "PersistentVolumeClaim": "persistentvolumeclaim",
    "HorizontalPodAutoscaler": "horizontalpodautoscaler",
}


class KubernetesSource(Source):
    """kubernetes-event-exporter webhook: a core/v1 Event object (or an array)."""

    name: ClassVar[str] = "kubernetes"

    def __init__(
        self,
        service_labels: tuple[str, ...] = DEFAULT_SERVICE_LABELS,
        namespace_as_service: bool = False,
    ) -> None:
        # From `sources.kubernetes` in the config (Config.adapter_settings).
        self.service_labels = service_labels
        self.namespace_as_service = namespace_as_service

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        items = self.body_objects(
            payload, "a Kubernetes Event object (or an array)", max_items=MAX_K8S_EVENTS
        )
        return [
            self._event(item, prefix, index, delivery_id, received_at)
            for index, (prefix, item) in enumerate(items)
        ]

    def _event(
        self, obj: Any, prefix: str, index: int, delivery_id: str, received_at: datetime
    ) -> Event:
        if type(obj) is not dict:
            raise PayloadError(prefix[:-1] or "body", f"expected an object, got {json_type(obj)}")
        reason = _required_str(obj, "reason", prefix)
        message = optional_str(obj, "message", f"{prefix}message") or ""
        event_type = optional_str(obj, "type", f"{prefix}type") or "Warning"
        if event_type not in _TYPES:
            raise PayloadError(
                f"{prefix}type", f"expected 'Warning' or 'Normal', got {event_type[:64]!r}"
            )
        involved = obj.get("involvedObject")
        if type(involved) is not dict:
            shown = (
                "required field is missing"
                if involved is None
                else (f"expected an object, got {json_type(involved)}")
            )
            raise PayloadError(f"{prefix}involvedObject", shown)
        ipath = f"{prefix}involvedObject."
        kind = _required_str(involved, "kind", ipath)
        name = _required_str(involved, "name", ipath)
        metadata = obj.get("metadata")
        if metadata is not None and type(metadata) is not dict:
            raise PayloadError(
                f"{prefix}metadata", f"expected an object, got {json_type(metadata)}"
            )
        namespace = optional_str(involved, "namespace", f"{ipath}namespace") or (
            optional_str(metadata, "namespace", f"{prefix}metadata.namespace") if metadata else None
        )
        raw = involved.get("labels")
        object_labels = {} if raw is None else check_str_map(raw, f"{ipath}labels")
        cluster = optional_str(obj, "cluster", f"{prefix}cluster") or optional_str(
            obj, "clusterName", f"{prefix}clusterName"
        )

        labels: dict[str, str] = {"alertname": reason, "kind": kind}
        labels[_OBJECT_LABEL.get(kind, kind.lower())] = name
        if namespace:
            labels["namespace"] = namespace
        if cluster:
            labels["cluster"] = cluster
        service = self._service(kind, name, namespace, object_labels)
        if service:
            labels["service"] = service
        for key in ("environment", "team"):
            if value := object_labels.get(key):
                labels[key] = value

        count = obj.get("count")
        if count is not None and (type(count) is not int or count < 0):
            raise PayloadError(
                f"{prefix}count", f"expected a non-negative integer, got {count!r:.64}"
            )
        first = parse_optional_time(obj.get("firstTimestamp"), f"{prefix}firstTimestamp")
        last = parse_optional_time(obj.get("lastTimestamp"), f"{prefix}lastTimestamp")
        event_time = parse_optional_time(obj.get("eventTime"), f"{prefix}eventTime")
        occurred_at = last or event_time or first or received_at

        annotations = {"message": message} if message else {}
        meta: dict[str, str] = {}
        if count is not None:
            meta["count"] = str(count)
        if first is not None:
            meta["first_timestamp"] = first.isoformat()
        src = obj.get("source")
        if type(src) is dict:
            if component := optional_str(src, "component", f"{prefix}source.component"):
                meta["component"] = component
            if host := optional_str(src, "host", f"{prefix}source.host"):
                meta["host"] = host
        elif src is not None:
            raise PayloadError(f"{prefix}source", f"expected an object, got {json_type(src)}")
        if field_path := optional_str(involved, "fieldPath", f"{ipath}fieldPath"):
            meta["field_path"] = field_path

        severity = _TYPES[event_type]
        if event_type == "Warning" and reason in _HIGH_REASONS:
            severity = Severity.HIGH
        where = f"{namespace}/{name}" if namespace else name
        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=EventKind.ALERT,
            status=AlertStatus.FIRING,
            occurred_at=occurred_at,
            received_at=received_at,
            title=f"{reason}: {kind} {where}",
            severity=severity,
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=message,
            labels=labels,
            annotations=annotations,
            source_meta=meta,
        )

    def _service(
        self, kind: str, name: str, namespace: str | None, object_labels: dict[str, str]
    ) -> str | None:
        """A service label, else the namespace (if so configured), else the workload name."""
        for key in self.service_labels:
            if value := object_labels.get(key):
                return value
        if self.namespace_as_service and namespace:
            return namespace
        if kind == "Pod" and _POD_SUFFIX.search(name):
            return _POD_SUFFIX.sub("", name)
        if kind == "ReplicaSet" and _RS_SUFFIX.search(name):
            return _RS_SUFFIX.sub("", name)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            return name
        return None


def _required_str(obj: dict[str, Any], key: str, prefix: str) -> str:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{prefix}{key}", "required field is missing")
    if type(value) is not str:
        raise PayloadError(f"{prefix}{key}", f"expected a string, got {json_type(value)}")
    if not value:
        raise PayloadError(f"{prefix}{key}", "must not be empty")
    return value
