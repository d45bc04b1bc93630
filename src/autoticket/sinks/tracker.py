"""What the issue-tracker sinks (Jira, ServiceNow, GitHub) share.

One remote ticket per incident and sink, whatever crashed: when no remote
reference was recorded yet, the ticket is first looked up by the incident's
correlation key, and only created when none carries it. An update, resolve or
reopen whose ticket is found nowhere opens it first, then applies the action
(the new ticket already shows the current state, so an update adds nothing).

Each step is one HTTP call through `Remote.call`, which stops the whole
action with `Halt` on anything but a 2xx: the result says retry or park, and
its reason names the step and the status only (never a header or a body).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from pydantic import AfterValidator

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, RemoteChange, Sink, SinkResult
from autoticket.sinks.http import send

__all__ = [
    "Change",
    "Halt",
    "Remote",
    "Ticket",
    "Timeout",
    "TrackerSink",
    "comment_marker",
    "correlation_key",
    "field",
    "remote_changes",
    "ticket_text",
    "update_text",
]

Adjust = Callable[[SinkResult, httpx.Response | None], SinkResult]


class Halt(Exception):
    """Stops an action at a failed step; `result` is what `apply` answers."""

    def __init__(self, result: SinkResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass(frozen=True, slots=True)
class Change:
    """A person's change to a remote ticket, as two-way sync reports it: `kind` is
    closed | reopened | reassigned | acknowledged | commented, `detail` e.g. the
    resolution or the start of the comment."""

    remote_ref: str
    kind: str
    by: str = ""
    at: datetime | None = None
    detail: str = ""


def remote_changes(changes: list[Change]) -> list[RemoteChange]:
    """A tracker's parsed changes as two-way sync records them."""
    return [
        RemoteChange(c.remote_ref, c.kind, c.by, c.at, c.detail)  # type: ignore[arg-type]
        for c in changes
    ]


@dataclass(frozen=True, slots=True)
class Ticket:
    ref: str
    url: str | None = None


def correlation_key(item: OutboxItem) -> str:
    """The key that ties a remote ticket to its incident: `autoticket-<incident id>`
    (the payload's `remote_tag` when the engine put one there)."""
    tag = item.payload.get("remote_tag")
    return tag if isinstance(tag, str) and tag else f"autoticket-{item.incident_id}"


def ticket_text(item: OutboxItem) -> str:
    """The ticket's description: the rendered body when the payload carries one, else the title."""
    body = item.payload.get("body")
    if isinstance(body, str) and body.strip():
        return body
    return str(item.payload.get("title") or "")


def comment_marker(item: OutboxItem) -> str:
    """Written into every comment, so a repeated attempt finds its comment already there."""
    return f"autoticket:{item.idempotency_key}"


def update_text(item: OutboxItem) -> str:
    """A short comment for an update, resolve or reopen: the state and why."""
    p = item.payload
    reasons = [str(r) for r in p.get("reasons") or []]
    lines = [
        f"{item.action}: status {p.get('status')}, priority {p.get('priority')},"
        f" severity {p.get('severity')}"
    ]
    if reasons:
        lines.append("reasons: " + "; ".join(reasons))
    return "\n".join(lines)


class Remote:
    """One tracker's base URL, headers and timeout; `call` sends one request or halts."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        headers: dict[str, str],
        timeout: timedelta,
        adjust: Adjust | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = timeout.total_seconds()
        self.adjust = adjust

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        ok_statuses: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """The 2xx response (or one of `ok_statuses`); anything else raises `Halt`."""
        request = self.client.build_request(
            method,
            self.base_url + path,
            json=json,
            params=params,
            headers=self.headers,
            timeout=self.timeout,
        )
        result, response = send(self.client, request, lambda: datetime.now(UTC))
        if response is not None and response.status_code in ok_statuses:
            return response
        if self.adjust is not None:
            result = self.adjust(result, response)
        if result.outcome != "ok" or response is None:
            raise Halt(replace(result, reason=f"{what}: {result.reason}"))
        return response

    def json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """`call`, then the decoded JSON body; an unreadable one is retried."""
        response = self.call(method, path, what, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise Halt(SinkResult("retry", reason=f"{what}: answer is not JSON")) from None


def field(data: Any, *path: str) -> Any:
    """`data[a][b]…`, or None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class TrackerSink(Sink):
    """Lookup-or-create, then the action. Subclasses implement the remote steps."""

    def find(self, item: OutboxItem) -> Ticket | None:
        raise NotImplementedError

    def create(self, item: OutboxItem) -> Ticket:
        raise NotImplementedError

    def ticket_of(self, ref: str) -> Ticket:
        raise NotImplementedError

    def comment(self, ticket: Ticket, item: OutboxItem) -> None:
        raise NotImplementedError

    def resolve(self, ticket: Ticket, item: OutboxItem) -> str:
        """Close the ticket (idempotent); the returned text goes into the result's reason."""
        raise NotImplementedError

    def reopen(self, ticket: Ticket, item: OutboxItem) -> str:
        """Reopen unless a human closed it for good; the text says what was done."""
        raise NotImplementedError

    def apply(self, item: OutboxItem) -> SinkResult:
        try:
            return self._apply(item)
        except Halt as halt:
            return halt.result

    def _apply(self, item: OutboxItem) -> SinkResult:
        if item.action not in ("open", "update", "resolve", "reopen"):
            return SinkResult("permanent", reason=f"unknown action {item.action!r}")
        created = False
        if item.remote_ref is not None:
            ticket = self.ticket_of(item.remote_ref)
        else:
            found = self.find(item)
            created = found is None
            ticket = found if found is not None else self.create(item)
        note = ""
        if item.remote_ref is None:
            note = "created" if created else "found by its correlation key"
        if item.action == "update" and not created:
            self.comment(ticket, item)
        elif item.action == "resolve":
            note = ", ".join(filter(None, [note, self.resolve(ticket, item)]))
        elif item.action == "reopen" and not created:
            note = ", ".join(filter(None, [note, self.reopen(ticket, item)]))
        return SinkResult("ok", external_ref=ticket.ref, url=ticket.url, reason=note)


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


Timeout = Annotated[Duration, AfterValidator(_timeout)]
