"""A fake PagerDuty Events API v2 (`POST /v2/enqueue`), as published.

202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`;
400 `{"status": "invalid event", "message": "Event object is invalid",
"errors": [...]}`; 429 when throttled. `tickets` holds one alert per
dedup_key with its state (triggered / acknowledged / resolved), every event in
order, and how many alerts the key opened (a trigger after a resolve opens a
new one, as PagerDuty does).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from fakes.failures import Failures, raise_transport

ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"
SEVERITIES = frozenset({"critical", "error", "warning", "info"})


def _invalid(*errors: str) -> httpx.Response:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}
    return httpx.Response(400, json=body)


class FakePagerDuty:
    def __init__(
        self, fail_rate: float = 0.0, seed: int = 0, routing_key: str = ROUTING_KEY
    ) -> None:
        self.routing_key = routing_key
        self.failures = Failures(fail_rate, seed)
        self.tickets: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        failure = self.failures.next()
        if isinstance(failure, int):
            return httpx.Response(failure, json={"status": "error", "message": "injected"})
        if failure is not None and failure != "timeout_after":
            raise_transport(failure, request)
        if request.method != "POST" or request.url.path != "/v2/enqueue":
            return httpx.Response(404, json={"status": "not found"})
        response = self.enqueue(request.content)
        if failure == "timeout_after":
            raise_transport(failure, request)
        return response

    def enqueue(self, raw: bytes) -> httpx.Response:
        try:
            event = json.loads(raw)
        except ValueError:
            return _invalid("Could not parse JSON")
        if not isinstance(event, dict):
            return _invalid("Event object must be a JSON object")
        if event.get("routing_key") != self.routing_key:
            return _invalid("Invalid routing key")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return _invalid("'event_action' is missing or blank")
        key = event.get("dedup_key")
        if action == "trigger":
            problems = self._payload_problems(event.get("payload"))
            if problems:
                return _invalid(*problems)
            key = key or uuid.uuid4().hex
        elif not key:
            return _invalid("'dedup_key' is missing or blank")
        if not isinstance(key, str) or len(key) > 255:
            return _invalid("'dedup_key' must be a string of at most 255 characters")
        self._apply(key, action, event)
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return httpx.Response(202, json=body)

    @staticmethod
    def _payload_problems(payload: Any) -> list[str]:
        if not isinstance(payload, dict):
            return ["'payload' is missing or invalid"]
        problems = [
            f"'payload.{f}' is missing or blank"
            for f in ("summary", "source")
            if not payload.get(f)
        ]
        if len(str(payload.get("summary", ""))) > 1024:
            problems.append("'payload.summary' is longer than 1024 characters")
        if payload.get("severity") not in SEVERITIES:
            problems.append("'payload.severity' must be critical, error, warning or info")
        return problems

    def _apply(self, key: str, action: str, event: dict[str, Any]) -> None:
        alert = self.tickets.get(key)
        if alert is None:
            if action != "trigger":
                return  # PagerDuty accepts and drops an ack/resolve of an unknown key
            alert = self.tickets[key] = {"state": "triggered", "alerts": 1, "events": []}
        elif action == "trigger" and alert["state"] == "resolved":
            alert["alerts"] += 1  # a new alert for a key whose last one was resolved
            alert["state"] = "triggered"
        elif action == "acknowledge" and alert["state"] == "triggered":
            alert["state"] = "acknowledged"
        elif action == "resolve":
            alert["state"] = "resolved"
        alert["events"].append(event)

    def human_close(self, ref: str, resolution: str = "resolved") -> None:
        """A responder resolves the alert in PagerDuty's UI."""
        alert = self.tickets[ref]
        alert["state"] = "resolved"
        alert["events"].append({"human": resolution})

    def human_acknowledge(self, ref: str) -> None:
        alert = self.tickets[ref]
        alert["state"] = "acknowledged"
        alert["events"].append({"human": "acknowledged"})

    def received(self) -> list[dict[str, Any]]:
        """Every event body that reached the fake, parsed."""
        return [json.loads(r.content) for r in self.requests]
