"""The `jira` sink: one Jira issue per incident, Cloud (REST v3) or Data Center (REST v2).

The issue carries the label `autoticket-<incident id>`; before creating one,
the sink searches the project for that label (Cloud `POST /rest/api/3/search/jql`,
Data Center `POST /rest/api/2/search`), so a crash between the create and
recording its key never makes a second issue. Updates are comments (each
with a marker line, so a repeated attempt does not comment twice); resolve
and reopen are workflow transitions looked up by name. An issue a human
resolved as won't do / won't fix is never reopened automatically.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from autoticket.sinks.base import OutboxItem, RemoteChange, SinkResult
from autoticket.sinks.jira_text import adf, wiki
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
from autoticket.sinks.tracker_hooks import jira_changes, verify_hub_signature

__all__ = ["JiraSettings", "JiraSink"]

DEFAULT_PRIORITIES = {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low", "P5": "Lowest"}
SUMMARY_MAX = 255


class JiraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    flavor: Literal["cloud", "datacenter"] = "cloud"
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$", description="project key")
    issue_type: str = Field(default="Task", min_length=1)
    email: str | None = Field(default=None, description="Cloud: the API token's account")
    token_env: str = Field(min_length=1, description="env var: Cloud API token or DC PAT")
    labels: list[str] = Field(default_factory=list, description="added to every issue")
    priorities: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    resolve_transition: str = Field(default="Done", min_length=1)
    reopen_transition: str = Field(default="Reopen", min_length=1)
    keep_closed_resolutions: list[str] = Field(
        default_factory=lambda: ["Won't Do", "Won't Fix"],
        description="resolutions a human chose that an automatic reopen respects",
    )
    self_user: str | None = Field(
        default=None, description="autoticket's account (Cloud accountId, DC user name)"
    )
    timeout: Timeout = timedelta(seconds=10)

    @model_validator(mode="after")
    def _cloud_needs_email(self) -> JiraSettings:
        if self.flavor == "cloud" and not self.email:
            raise ValueError("email is required for flavor cloud (basic auth: email + API token)")
        if any(" " in label for label in self.labels):
            raise ValueError("labels: a Jira label cannot contain spaces")
        return self


class JiraSink(TrackerSink):
    type: ClassVar[str] = "jira"
    Settings: ClassVar[type[BaseModel]] = JiraSettings

    @property
    def conf(self) -> JiraSettings:
        assert isinstance(self.settings, JiraSettings)
        return self.settings

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.conf.flavor == "cloud" else "/rest/api/2"

    @property
    def remote(self) -> Remote:
        conf = self.conf
        token = self.secrets[conf.token_env]
        if conf.flavor == "cloud":
            basic = base64.b64encode(f"{conf.email}:{token}".encode()).decode()
            auth = f"Basic {basic}"
        else:
            auth = f"Bearer {token}"
        headers = {"Authorization": auth, "Accept": "application/json"}
        return Remote(self.client, str(conf.url), headers, conf.timeout)

    def probe(self) -> str:
        me = self.remote.json("GET", f"{self.api}/myself", "read the token's own user")
        who = field(me, "emailAddress") or field(me, "name") or field(me, "accountId") or "?"
        project = self.conf.project
        self.remote.json("GET", f"{self.api}/project/{project}", f"read project {project}")
        return f"authenticated as {who}; project {project} visible"

    def _text(self, text: str) -> Any:
        return adf(text) if self.conf.flavor == "cloud" else wiki(text)

    def ticket_of(self, ref: str) -> Ticket:
        return Ticket(ref, f"{str(self.conf.url).rstrip('/')}/browse/{ref}")

    def find(self, item: OutboxItem) -> Ticket | None:
        jql = f'project = "{self.conf.project}" AND labels = "{correlation_key(item)}"'
        body = {"jql": jql + " ORDER BY created ASC", "fields": ["status"], "maxResults": 1}
        path = f"{self.api}/search/jql" if self.conf.flavor == "cloud" else f"{self.api}/search"
        data = self.remote.json("POST", path, "search by label", json=body)
        issues = field(data, "issues")
        if not isinstance(issues, list) or not issues:
            return None
        key = field(issues[0], "key")
        if not isinstance(key, str):
            raise Halt(SinkResult("retry", reason="search by label: an issue without a key"))
        return self.ticket_of(key)

    def create(self, item: OutboxItem) -> Ticket:
        conf, payload = self.conf, item.payload
        fields: dict[str, Any] = {
            "project": {"key": conf.project},
            "summary": str(payload.get("title") or f"incident {item.incident_id}")[:SUMMARY_MAX],
            "issuetype": {"name": conf.issue_type},
            "labels": sorted({*conf.labels, "autoticket", correlation_key(item)}),
            "description": self._text(ticket_text(item)),
        }
        priority = conf.priorities.get(str(payload.get("priority")))
        if priority:
            fields["priority"] = {"name": priority}
        what = f"create issue in project {conf.project}"
        data = self.remote.json("POST", f"{self.api}/issue", what, json={"fields": fields})
        key = field(data, "key")
        if not isinstance(key, str):
            raise Halt(SinkResult("retry", reason=f"{what}: answer without a key"))
        return self.ticket_of(key)

    def comment(self, ticket: Ticket, item: OutboxItem) -> None:
        path = f"{self.api}/issue/{ticket.ref}/comment"
        marker = comment_marker(item)
        seen = self.remote.json(
            "GET", path, "read comments", params={"orderBy": "-created", "maxResults": 100}
        )
        if marker in json.dumps(field(seen, "comments") or []):
            return
        text = f"{update_text(item)}\n\n{marker}"
        self.remote.call("POST", path, "add comment", json={"body": self._text(text)})

    def _state(self, ticket: Ticket) -> tuple[bool, str | None, str | None]:
        """(done?, resolution name, status name) of the issue now."""
        data = self.remote.json(
            "GET",
            f"{self.api}/issue/{ticket.ref}",
            "read issue",
            params={"fields": "status,resolution"},
        )
        done = field(data, "fields", "status", "statusCategory", "key") == "done"
        resolution = field(data, "fields", "resolution", "name")
        status = field(data, "fields", "status", "name")
        return (
            done,
            (resolution if isinstance(resolution, str) else None),
            (status if isinstance(status, str) else None),
        )

    def _transition(self, ticket: Ticket, name: str, status: str | None) -> None:
        path = f"{self.api}/issue/{ticket.ref}/transitions"
        data = self.remote.json("GET", path, "read transitions")
        transitions = field(data, "transitions") or []
        for transition in transitions:
            if str(field(transition, "name")).casefold() == name.casefold():
                body = {"transition": {"id": str(field(transition, "id"))}}
                self.remote.call("POST", path, f"transition {name!r}", json=body)
                return
        available = sorted(str(field(t, "name")) for t in transitions)
        reason = f"no transition named {name!r} from status {status!r}; available: {available}"
        raise Halt(SinkResult("permanent", reason=reason))

    def resolve(self, ticket: Ticket, item: OutboxItem) -> str:
        done, _, status = self._state(ticket)
        if done:
            return "already resolved"
        self._transition(ticket, self.conf.resolve_transition, status)
        return ""

    def reopen(self, ticket: Ticket, item: OutboxItem) -> str:
        done, resolution, status = self._state(ticket)
        if not done:
            return "already open"
        keep = {r.casefold() for r in self.conf.keep_closed_resolutions}
        if resolution is not None and resolution.casefold() in keep:
            return f"left closed: resolved as {resolution!r} by a person"
        self._transition(ticket, self.conf.reopen_transition, status)
        return ""

    def webhook_auth(self) -> str:
        return "X-Hub-Signature (a Jira Cloud webhook's secret), else the shared secret"

    def authenticate_webhook(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Jira Cloud signs with the webhook's secret; Data Center cannot, so a proxy
        (or the admin's URL tool) must send the shared secret as a header."""
        signature = {k.lower(): v for k, v in headers.items()}.get("x-hub-signature")
        secret = self.webhook_secret
        if signature is None or not secret:
            return super().authenticate_webhook(headers, body)
        try:
            verify_hub_signature(secret, body, signature)
        except ValueError as exc:
            return str(exc)
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        return remote_changes(self.changes_from_webhook(headers, body))

    def changes_from_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str | None = None
    ) -> list[Change]:
        """A person's changes in a `jira:issue_updated` webhook of this project. With a
        secret (Jira Cloud webhooks can have one) its `X-Hub-Signature` must match."""
        if secret is not None:
            lower = {k.lower(): v for k, v in headers.items()}
            verify_hub_signature(secret, body, lower.get("x-hub-signature"))
        return jira_changes(body, self.conf.project, self.own_user())

    def own_user(self) -> str | None:
        """`self_user`, else the token's own account (`GET …/myself`: Cloud's accountId,
        Data Center's name), asked once so our own changes do not come back as a
        person's. None while Jira cannot say (asked again next time)."""
        if self.conf.self_user:
            return self.conf.self_user
        known: str | None = getattr(self, "_own_user", None)
        if known is None:
            try:
                me = self.remote.json("GET", f"{self.api}/myself", "read the token's own user")
            except Halt:
                return None
            found = field(me, "accountId") or field(me, "name")
            known = found if isinstance(found, str) and found else None
            self._own_user = known
        return known
