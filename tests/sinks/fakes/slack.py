"""A fake Slack incoming webhook, as published.

`200 ok` (text/plain) when posted; errors as a plain-text code: 400
`invalid_payload` (not JSON) or `no_text`, 403 `invalid_token` (a revoked
URL), 404 `no_service` (an unknown URL), 410 `channel_is_archived`, 429 with
`Retry-After`. Slack keeps messages, not tickets: `tickets` groups the posted
messages by the incident's correlation key (the section's `block_id`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from fakes.failures import Failures, raise_transport

HOOK_PATH = "/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"
HOOK_URL = f"https://hooks.slack.com{HOOK_PATH}"


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=code, headers={"content-type": "text/plain", **headers})


class FakeSlack:
    def __init__(self, fail_rate: float = 0.0, seed: int = 0) -> None:
        self.failures = Failures(fail_rate, seed)
        self.messages: list[dict[str, Any]] = []
        self.tickets: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.archived = False
        self.revoked = False
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        failure = self.failures.next()
        if failure == 429:
            return _error(429, "rate_limited", **{"Retry-After": "1"})
        if isinstance(failure, int):
            return _error(failure, "internal_error")
        if failure is not None and failure != "timeout_after":
            raise_transport(failure, request)
        response = self.post(request)
        if failure == "timeout_after":
            raise_transport(failure, request)
        return response

    def post(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or request.url.path != HOOK_PATH:
            return _error(404, "no_service")
        if self.revoked:
            return _error(403, "invalid_token")
        if self.archived:
            return _error(410, "channel_is_archived")
        try:
            message = json.loads(request.content)
        except ValueError:
            return _error(400, "invalid_payload")
        if not isinstance(message, dict) or not message.get("text"):
            return _error(400, "no_text")
        self.messages.append(message)
        key, _, marker = str(message["blocks"][0].get("block_id", "")).rpartition("-")
        ticket = self.tickets.setdefault(key, {"state": "open", "comments": []})
        ticket["comments"].append({"marker": marker, "text": message["text"]})
        heading = message["text"].split(":", 1)[0]
        ticket["state"] = {"Resolved": "resolved", "Opened": "open", "Reopened": "open"}.get(
            heading, ticket["state"]
        )
        return httpx.Response(200, text="ok", headers={"content-type": "text/plain"})

    def human_close(self, ref: str, resolution: str = "archived") -> None:
        """Slack has no closing: the nearest human act is archiving the channel."""
        self.archived = True
        if ref in self.tickets:
            self.tickets[ref]["state"] = resolution
