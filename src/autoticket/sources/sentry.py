"""Sentry integration-platform webhooks: issue alerts and issue changes.

Two shapes reach this adapter: an alert rule's `event_alert` (`data.event`,
always firing) and the `issue` resource (`data.issue`, firing or resolved
by `action`). Both are keyed by project and issue id, so an issue alert and
the later `resolved` of that issue are one alert.
Mapping: docs/sources/sentry.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, optional_str, parse_optional_time
from autoticket.sources.signature import HmacScheme

__all__ = ["SentrySource"]

_RESOLVING = frozenset({"resolved", "ignored", "archived"})
_ACTIONS = frozenset({"triggered", "created", "unresolved", "assigned"}) | _RESOLVING


class SentrySource(Source):
    """Sentry webhooks (`Sentry-Hook-Resource: event_alert` or `issue`)."""

    name: ClassVar[str] = "sentry"
    # Sentry signs with the integration's client secret: hex HMAC-SHA256 of the body.
    signature: ClassVar[HmacScheme | None] = HmacScheme("Sentry-Hook-Signature")

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload)
        action = optional_str(payload, "action", "action") or "triggered"
        if action not in _ACTIONS:
            raise PayloadError(
                "action", f"expected one of {', '.join(sorted(_ACTIONS))}, got {action[:64]!r}"
            )
        data = payload.get("data")
        if type(data) is not dict:
            reason = (
                "required field is missing"
                if data is None
                else (f"expected an object, got {json_type(data)}")
            )
            raise PayloadError("data", reason)
        if type(data.get("event")) is dict:
            found = _from_event(data["event"], "data.event.")
            if rule := optional_str(data, "triggered_rule", "data.triggered_rule"):
                found.meta["triggered_rule"] = rule
        elif type(data.get("issue")) is dict:
            found = _from_issue(data["issue"], "data.issue.")
        else:
            raise PayloadError("data", "expected data.event (issue alert) or data.issue (issue)")
        status = AlertStatus.RESOLVED if action in _RESOLVING else AlertStatus.FIRING
        identity = {"project": found.project, "issue_id": found.issue_id}
        labels = {"alertname": found.title[:200], **identity, **found.labels}
        occurred_at = found.when or received_at
        return [
            Event(
                id=f"{delivery_id}-0",
                source=self.name,
                kind=EventKind.ALERT,
                status=status,
                occurred_at=occurred_at,
                received_at=received_at,
                title=found.title,
                severity=Severity.parse(found.level, default=Severity.HIGH),
                # The title may change (Sentry renames issues); project + issue do not.
                fingerprint=fingerprint_of(self.name, identity),
                raw_ref=delivery_id,
                description=found.culprit,
                labels=labels,
                annotations=found.annotations,
                links=found.links,
                source_meta=found.meta | {"action": action},
                ends_at=occurred_at if status is AlertStatus.RESOLVED else None,
            )
        ]


class _Found:
    def __init__(self) -> None:
        self.title = ""
        self.culprit = ""
        self.level: str | None = None
        self.project = ""
        self.issue_id = ""
        self.when: datetime | None = None
        self.labels: dict[str, str] = {}
        self.annotations: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.meta: dict[str, str] = {}


def _title(obj: dict[str, Any], path: str) -> str:
    title = obj.get("title")
    if title is None:
        raise PayloadError(f"{path}title", "required field is missing")
    if type(title) is not str or not title.strip():
        raise PayloadError(f"{path}title", f"expected a non-empty string, got {json_type(title)}")
    return title


def _id(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{path}{key}", "required field is missing")
    if type(value) is int or (type(value) is str and value):
        return str(value)
    raise PayloadError(
        f"{path}{key}", f"expected an id (string or integer), got {json_type(value)}"
    )


def _from_event(event: dict[str, Any], path: str) -> _Found:
    found = _Found()
    found.title = _title(event, path)
    found.culprit = optional_str(event, "culprit", f"{path}culprit") or ""
    found.level = optional_str(event, "level", f"{path}level")
    found.issue_id = _id(event, "issue_id", path)
    found.project = _id(event, "project", path)
    found.when = parse_optional_time(event.get("datetime"), f"{path}datetime")
    tags = _tags(event.get("tags"), f"{path}tags")
    for key in ("environment", "release", "service"):  # see docs/sources/sentry.md
        if key in tags:
            found.labels[key] = tags[key]
    if tags:
        found.annotations["tags"] = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
    for key, link in (("web_url", "sentry"), ("issue_url", "issue_api"), ("url", "event_api")):
        if url := optional_str(event, key, f"{path}{key}"):
            found.links[link] = url
    if event_id := optional_str(event, "event_id", f"{path}event_id"):
        found.meta["event_id"] = event_id
    return found


def _from_issue(issue: dict[str, Any], path: str) -> _Found:
    found = _Found()
    found.title = _title(issue, path)
    found.culprit = optional_str(issue, "culprit", f"{path}culprit") or ""
    found.level = optional_str(issue, "level", f"{path}level")
    found.issue_id = _id(issue, "id", path)
    project = issue.get("project")
    if type(project) is not dict:
        raise PayloadError(f"{path}project", f"expected an object, got {json_type(project)}")
    # The id, not the slug: an issue alert's event only carries the project id.
    found.project = _id(project, "id", f"{path}project.")
    if slug := optional_str(project, "slug", f"{path}project.slug"):
        found.labels["service"] = slug
    found.when = parse_optional_time(issue.get("lastSeen"), f"{path}lastSeen")
    for key, link in (("web_url", "sentry"), ("permalink", "sentry")):
        if url := optional_str(issue, key, f"{path}{key}"):
            found.links.setdefault(link, url)
    if short_id := optional_str(issue, "shortId", f"{path}shortId"):
        found.meta["short_id"] = short_id
    if status := optional_str(issue, "status", f"{path}status"):
        found.meta["issue_status"] = status
    return found


def _tags(value: Any, path: str) -> dict[str, str]:
    """Sentry writes tags as `[["key", "value"], ...]`; an object is taken too."""
    if value is None:
        return {}
    if type(value) is dict:
        items = list(value.items())
    elif type(value) is list:
        items = []
        for index, pair in enumerate(value):
            if type(pair) is not list or len(pair) != 2:
                raise PayloadError(f"{path}[{index}]", "expected a [key, value] pair")
            items.append((pair[0], pair[1]))
    else:
        raise PayloadError(path, f"expected an array of [key, value] pairs, got {json_type(value)}")
    tags: dict[str, str] = {}
    for index, (key, item) in enumerate(items):
        if type(key) is not str or type(item) is not str:
            raise PayloadError(f"{path}[{index}]", "expected a string key and a string value")
        tags[key] = item
    return tags
