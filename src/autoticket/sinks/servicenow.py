"""The `servicenow` sink: one record per incident in a ServiceNow table (Table API).

The record's `correlation_id` is `autoticket-<incident id>`: before creating
one, the sink queries the table for it (`sysparm_query=correlation_id=…`),
so a crash between the create and recording its `sys_id` never makes a
second record. Updates are work notes (each with a marker line, so a
repeated attempt does not write it twice); resolve sets the resolved state
with a close code and notes; reopen sets the state back unless a person
closed or cancelled the record, or resolved it with a close code of their own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from autoticket.sinks.base import OutboxItem, RemoteChange, SinkResult
from autoticket.sinks.tracker import (
    Change,
    Halt,
    Remote,
    Ticket,
    Timeout,
    TrackerSink,
    comment_marker,
    correlation_key,
    field,
    remote_changes,
    ticket_text,
    update_text,
)

__all__ = ["ServiceNowSettings", "ServiceNowSink"]

RESOLVED, CLOSED, CANCELED = "6", "7", "8"
IN_PROGRESS = "2"
STATE_NAMES = {RESOLVED: "resolved", CLOSED: "closed", CANCELED: "canceled"}
POLL_FIELDS = "sys_id,state,close_code,assigned_to,sys_updated_on,sys_updated_by"
POLL_LIMIT = 100
SHORT_DESCRIPTION_MAX = 160

OWN_FIELDS = frozenset(
    {"short_description", "description", "correlation_id", "correlation_display", "urgency"}
    | {"impact", "assignment_group", "state", "close_code", "close_notes", "work_notes"}
)


class Impact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    urgency: Literal[1, 2, 3]
    impact: Literal[1, 2, 3]


def _default_priorities() -> dict[str, Impact]:
    pairs = {"P1": (1, 1), "P2": (1, 2), "P3": (2, 2), "P4": (2, 3), "P5": (3, 3)}
    return {p: Impact(urgency=u, impact=i) for p, (u, i) in pairs.items()}


class ServiceNowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl = Field(description="the instance, e.g. https://example.service-now.com")
    table: str = Field(default="incident", pattern=r"^[a-z][a-z0-9_]*$")
    user: str | None = Field(default=None, description="basic auth user (with password_env)")
    password_env: str | None = None
    token_env: str | None = Field(default=None, description="env var of an OAuth bearer token")
    priorities: dict[str, Impact] = Field(default_factory=_default_priorities)
    teams: dict[str, str] = Field(
        default_factory=dict, description="team → assignment_group (name or sys_id)"
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="more fields set on create (caller_id, category …)"
    )
    close_code: str = Field(default="Solution provided", min_length=1)
    close_notes: str = Field(default="Resolved by autoticket: the alerts stopped.", min_length=1)
    reopen_state: Literal[1, 2] = 2
    timeout: Timeout = timedelta(seconds=10)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> ServiceNowSettings:
        basic = self.user is not None or self.password_env is not None
        if basic and (self.user is None or self.password_env is None):
            raise ValueError("basic auth needs both user and password_env")
        if basic == (self.token_env is not None):
            raise ValueError("set either user + password_env (basic) or token_env (bearer)")
        taken = sorted(set(self.fields) & OWN_FIELDS)
        if taken:
            raise ValueError(f"fields set by autoticket itself cannot be overridden: {taken}")
        return self


@dataclass(frozen=True, slots=True)
class Seen:
    state: str
    assigned_to: str

    @property
    def closed(self) -> bool:
        return self.state in STATE_NAMES


def _glide_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


class ServiceNowSink(TrackerSink):
    type: ClassVar[str] = "servicenow"
    Settings: ClassVar[type[BaseModel]] = ServiceNowSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: dict[str, Seen] = {}  # what polling saw last, per sys_id

    @property
    def conf(self) -> ServiceNowSettings:
        assert isinstance(self.settings, ServiceNowSettings)
        return self.settings

    @property
    def remote(self) -> Remote:
        conf = self.conf
        if conf.token_env is not None:
            auth = f"Bearer {self.secrets[conf.token_env]}"
        else:
            assert conf.password_env is not None
            pair = f"{conf.user}:{self.secrets[conf.password_env]}".encode()
            auth = f"Basic {base64.b64encode(pair).decode()}"
        headers = {"Authorization": auth, "Accept": "application/json"}
        return Remote(self.client, str(conf.url), headers, conf.timeout)

    def probe(self) -> str:
        params = {"sysparm_limit": "1", "sysparm_fields": "sys_id"}
        self.remote.json("GET", self.path, f"read table {self.conf.table}", params=params)
        who = self.conf.user or "the token's user"
        return f"table {self.conf.table} readable as {who}"

    @property
    def path(self) -> str:
        return f"/api/now/table/{self.conf.table}"

    def ticket_of(self, ref: str) -> Ticket:
        return Ticket(ref, f"{str(self.conf.url).rstrip('/')}/{self.conf.table}.do?sys_id={ref}")

    def _record(self, data: Any, what: str) -> dict[str, Any]:
        record = field(data, "result")
        if not isinstance(record, dict) or not isinstance(record.get("sys_id"), str):
            raise Halt(SinkResult("retry", reason=f"{what}: answer without a sys_id"))
        return record

    def find(self, item: OutboxItem) -> Ticket | None:
        params = {
            "sysparm_query": f"correlation_id={correlation_key(item)}^ORDERBYsys_created_on",
            "sysparm_fields": "sys_id,number,state",
            "sysparm_limit": "1",
        }
        data = self.remote.json("GET", self.path, "query by correlation_id", params=params)
        found = field(data, "result")
        if not isinstance(found, list) or not found:
            return None
        record = self._record({"result": found[0]}, "query by correlation_id")
        return self.ticket_of(record["sys_id"])

    def create(self, item: OutboxItem) -> Ticket:
        conf, payload = self.conf, item.payload
        body: dict[str, Any] = {
            **conf.fields,
            "short_description": str(payload.get("title") or "")[:SHORT_DESCRIPTION_MAX],
            "description": ticket_text(item),
            "correlation_id": correlation_key(item),
            "correlation_display": "autoticket",
        }
        impact = conf.priorities.get(str(payload.get("priority")))
        if impact is not None:
            body["urgency"], body["impact"] = str(impact.urgency), str(impact.impact)
        group = conf.teams.get(str(payload.get("team")))
        if group:
            body["assignment_group"] = group
        what = f"create record in {conf.table}"
        data = self.remote.json(
            "POST", self.path, what, json=body, params={"sysparm_exclude_reference_link": "true"}
        )
        return self.ticket_of(self._record(data, what)["sys_id"])

    def _read(self, ticket: Ticket, fields: str, display: bool = False) -> dict[str, Any]:
        params = {"sysparm_fields": fields, "sysparm_display_value": str(display).lower()}
        data = self.remote.json("GET", f"{self.path}/{ticket.ref}", "read record", params=params)
        record = field(data, "result")
        if not isinstance(record, dict):
            raise Halt(SinkResult("retry", reason="read record: answer without a result"))
        return record

    def _patch(self, ticket: Ticket, body: dict[str, Any], what: str) -> None:
        self.remote.call("PATCH", f"{self.path}/{ticket.ref}", what, json=body)

    def comment(self, ticket: Ticket, item: OutboxItem) -> None:
        marker = comment_marker(item)
        notes = self._read(ticket, "work_notes", display=True).get("work_notes")
        if isinstance(notes, str) and marker in notes:
            return
        self._patch(ticket, {"work_notes": f"{update_text(item)}\n{marker}"}, "add work note")

    def resolve(self, ticket: Ticket, item: OutboxItem) -> str:
        state = str(self._read(ticket, "state").get("state"))
        if state in (RESOLVED, CLOSED, CANCELED):
            return "already resolved"
        body = {
            "state": RESOLVED,
            "close_code": self.conf.close_code,
            "close_notes": self.conf.close_notes,
            "work_notes": update_text(item),
        }
        self._patch(ticket, body, "resolve")
        return ""

    def reopen(self, ticket: Ticket, item: OutboxItem) -> str:
        record = self._read(ticket, "state,close_code")
        state, code = str(record.get("state")), record.get("close_code")
        if state not in (RESOLVED, CLOSED, CANCELED):
            return "already open"
        if state in (CLOSED, CANCELED):
            return f"left closed: state {state} ({'closed' if state == CLOSED else 'canceled'})"
        if code != self.conf.close_code:
            return f"left closed: resolved by a person with close code {code!r}"
        body = {"state": str(self.conf.reopen_state), "work_notes": update_text(item)}
        self._patch(ticket, body, "reopen")
        return ""

    # -- two-way sync: ServiceNow has no webhook of its own, so the sink polls ----

    def poll(self, since: datetime | None) -> list[RemoteChange]:
        """Two-way sync by polling (set the sink's `poll_interval`)."""
        return remote_changes(self.changes_since(since))

    def changes_since(self, since: datetime | None) -> list[Change]:
        """A person's changes to autoticket's records updated after `since` (UTC; the
        integration user's time zone must be UTC): closed / canceled / resolved with
        their close code, reopened, in progress, reassigned. Changes by `user`
        (autoticket itself) are only remembered, so a later one is seen as a change."""
        query = "correlation_idSTARTSWITHautoticket-"
        if since is not None:
            query += f"^sys_updated_on>{since.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        params = {
            "sysparm_query": query + "^ORDERBYsys_updated_on",
            "sysparm_fields": POLL_FIELDS,
            "sysparm_limit": str(POLL_LIMIT),
        }
        try:
            data = self.remote.json("GET", self.path, "poll", params=params)
        except Halt as halt:
            raise RuntimeError(halt.result.reason) from None
        changes: list[Change] = []
        for record in field(data, "result") or []:
            if isinstance(record, dict) and isinstance(record.get("sys_id"), str):
                changes.extend(self._compare(record))
        return changes

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        """The optional push: a business rule (after update on the table) POSTs the
        record as the Table API returns it (`sys_id`, `correlation_id`, `state`,
        `close_code`, `assigned_to`, `sys_updated_by`, `sys_updated_on`), read the way
        a poll reads it; authenticated by the shared secret (Bearer)."""
        try:
            record = json.loads(body)
        except ValueError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(record, dict):
            raise ValueError("the body is not a JSON object")
        if not isinstance(record.get("sys_id"), str) or not record["sys_id"]:
            raise ValueError("sys_id is missing")
        if not str(record.get("correlation_id") or "").startswith("autoticket-"):
            return []  # a record autoticket did not file
        return remote_changes(self._compare(record))

    def _compare(self, record: dict[str, Any]) -> list[Change]:
        ref = record["sys_id"]
        now = Seen(str(record.get("state")), str(record.get("assigned_to") or ""))
        before = self._seen.get(ref)
        self._seen[ref] = now
        by = str(record.get("sys_updated_by") or "")
        if self.conf.user is not None and by == self.conf.user:
            return []
        at = _glide_time(record.get("sys_updated_on"))
        changes: list[Change] = []
        if now.closed and (before is None or not before.closed):
            detail = str(record.get("close_code") or STATE_NAMES[now.state])
            changes.append(Change(ref, "closed", by, at, detail))
        elif not now.closed and before is not None and before.closed:
            changes.append(Change(ref, "reopened", by, at))
        elif now.state == IN_PROGRESS and before is not None and before.state != IN_PROGRESS:
            changes.append(Change(ref, "acknowledged", by, at))
        if now.assigned_to and (before is None or before.assigned_to != now.assigned_to):
            changes.append(Change(ref, "reassigned", by, at, now.assigned_to))
        return changes
