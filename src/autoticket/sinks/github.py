"""The `github` sink: one GitHub issue per incident (REST API, github.com or Enterprise Server).

The issue carries the labels `autoticket` and `autoticket-<incident id>` and
a hidden marker `<!-- autoticket:incident=<id> -->` in its body; before
creating one, the sink lists the repository's issues with that label (the
list is consistent at once, unlike search), so a crash between the create and
recording its number never makes a second issue. Updates are comments (each
with a hidden marker of its action, so a repeated attempt does not comment
twice); resolve closes with `state_reason: completed`; reopen reopens with
`state_reason: reopened` unless a person closed it as not planned.

Rate limits: a 403 or 429 with `x-ratelimit-remaining: 0` is retried at
`x-ratelimit-reset`; one with `Retry-After` after that; a 429 or a 403 about a
secondary rate limit without either after a minute. Any other 403 parks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from autoticket.sinks.base import OutboxItem, ProbeFailed, RemoteChange, SinkResult
from autoticket.sinks.http import MAX_RETRY_AFTER, parse_retry_after
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
from autoticket.sinks.tracker_hooks import github_changes, verify_hub_signature

__all__ = ["GitHubSettings", "GitHubSink", "rate_limit"]

TITLE_MAX = 256
SECONDARY_WAIT = timedelta(minutes=1)


class GitHubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="owner/name")
    token_env: str = Field(min_length=1, description="env var of a token that may write issues")
    api_url: HttpUrl = Field(
        default=HttpUrl("https://api.github.com"),
        description="Enterprise Server: https://<host>/api/v3",
    )
    api_version: str = Field(default="2022-11-28", pattern=r"^\d{4}-\d{2}-\d{2}$")
    labels: list[str] = Field(default_factory=list, description="added to every issue")
    priority_labels: dict[str, str] = Field(
        default_factory=dict, description="priority → a label, e.g. {P1: 'priority: P1'}"
    )
    keep_closed_reasons: list[str] = Field(
        default_factory=lambda: ["not_planned", "duplicate"],
        description="state_reason values a person chose that an automatic reopen respects",
    )
    self_user: str | None = Field(
        default=None, description="the token's login: its changes are not a person's"
    )
    timeout: Timeout = timedelta(seconds=10)


def rate_limit(result: SinkResult, response: httpx.Response | None) -> SinkResult:
    """GitHub's rate limits (403 or 429) as a retry at the time GitHub names."""
    if response is None or response.status_code not in (403, 429):
        return result
    headers, now = response.headers, datetime.now(UTC)
    reason = f"rate limited (HTTP {response.status_code})"
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        at = datetime.fromtimestamp(int(reset), UTC)
        wait = min(max(at - now, timedelta(0)), MAX_RETRY_AFTER)
        return SinkResult("retry", reason=reason, retry_after=wait)
    after = parse_retry_after(headers.get("retry-after"), now)
    if after is not None:
        return SinkResult("retry", reason=reason, retry_after=after)
    if response.status_code == 429 or "rate limit" in response.text.lower():
        return SinkResult("retry", reason=reason, retry_after=SECONDARY_WAIT)
    return result


def _html_base(api_url: str) -> str:
    """https://api.github.com → https://github.com; https://ghe/api/v3 → https://ghe."""
    parts = urlsplit(api_url)
    host = "github.com" if parts.netloc == "api.github.com" else parts.netloc
    return f"{parts.scheme}://{host}"


class GitHubSink(TrackerSink):
    type: ClassVar[str] = "github"
    Settings: ClassVar[type[BaseModel]] = GitHubSettings

    @property
    def conf(self) -> GitHubSettings:
        assert isinstance(self.settings, GitHubSettings)
        return self.settings

    @property
    def remote(self) -> Remote:
        conf = self.conf
        headers = {
            "Authorization": f"Bearer {self.secrets[conf.token_env]}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": conf.api_version,
            "User-Agent": "autoticket",
        }
        return Remote(self.client, str(conf.api_url), headers, conf.timeout, adjust=rate_limit)

    def probe(self) -> str:
        repo = self.conf.repo
        data = self.remote.json("GET", f"/repos/{repo}", f"read repository {repo}")
        if field(data, "has_issues") is False:
            raise ProbeFailed(f"repository {repo} has issues turned off")
        if field(data, "permissions", "push") is False:
            raise ProbeFailed(f"the token may read {repo} but not write its issues")
        return f"repository {repo} reachable, issues on"

    @property
    def issues(self) -> str:
        return f"/repos/{self.conf.repo}/issues"

    def ticket_of(self, ref: str) -> Ticket:
        return Ticket(ref, f"{_html_base(str(self.conf.api_url))}/{self.conf.repo}/issues/{ref}")

    @staticmethod
    def marker(item: OutboxItem) -> str:
        return f"<!-- autoticket:incident={item.incident_id} -->"

    def _number(self, data: Any, what: str) -> Ticket:
        number = field(data, "number")
        if not isinstance(number, int):
            raise Halt(SinkResult("retry", reason=f"{what}: an issue without a number"))
        url = field(data, "html_url")
        return Ticket(str(number), url if isinstance(url, str) else self.ticket_of(str(number)).url)

    def find(self, item: OutboxItem) -> Ticket | None:
        params = {
            "labels": correlation_key(item),
            "state": "all",
            "sort": "created",
            "direction": "asc",
            "per_page": "20",
        }
        found = self.remote.json("GET", self.issues, "list by label", params=params)
        issues = [i for i in found or [] if isinstance(i, dict) and "pull_request" not in i]
        marked = [i for i in issues if self.marker(item) in str(i.get("body") or "")]
        chosen = (marked or issues)[:1]
        return self._number(chosen[0], "list by label") if chosen else None

    def create(self, item: OutboxItem) -> Ticket:
        conf, payload = self.conf, item.payload
        labels = {*conf.labels, "autoticket", correlation_key(item)}
        priority = conf.priority_labels.get(str(payload.get("priority")))
        if priority:
            labels.add(priority)
        body = {
            "title": str(payload.get("title") or f"incident {item.incident_id}")[:TITLE_MAX],
            "body": f"{ticket_text(item)}\n\n{self.marker(item)}",
            "labels": sorted(labels),
        }
        what = f"create issue in {conf.repo}"
        return self._number(self.remote.json("POST", self.issues, what, json=body), what)

    def comment(self, ticket: Ticket, item: OutboxItem) -> None:
        path = f"{self.issues}/{ticket.ref}/comments"
        marker = f"<!-- {comment_marker(item)} -->"
        seen = self.remote.json("GET", path, "read comments", params={"per_page": "100"})
        if any(marker in str(field(c, "body")) for c in seen or []):
            return
        self.remote.call(
            "POST", path, "add comment", json={"body": f"{update_text(item)}\n\n{marker}"}
        )

    def _state(self, ticket: Ticket) -> tuple[str, str | None]:
        data = self.remote.json("GET", f"{self.issues}/{ticket.ref}", "read issue")
        reason = field(data, "state_reason")
        return str(field(data, "state")), reason if isinstance(reason, str) else None

    def _set(self, ticket: Ticket, state: str, reason: str, what: str) -> None:
        body = {"state": state, "state_reason": reason}
        self.remote.call("PATCH", f"{self.issues}/{ticket.ref}", what, json=body)

    def resolve(self, ticket: Ticket, item: OutboxItem) -> str:
        state, _ = self._state(ticket)
        if state == "closed":
            return "already closed"
        self._set(ticket, "closed", "completed", "close")
        return ""

    def reopen(self, ticket: Ticket, item: OutboxItem) -> str:
        state, reason = self._state(ticket)
        if state != "closed":
            return "already open"
        if reason in self.conf.keep_closed_reasons:
            return f"left closed: closed as {reason} by a person"
        self._set(ticket, "open", "reopened", "reopen")
        return ""

    def webhook_auth(self) -> str:
        return "X-Hub-Signature-256 (the GitHub webhook's secret)"

    def authenticate_webhook(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """GitHub cannot send a header of ours: it signs the body with the secret."""
        secret = self.webhook_secret
        if not secret:
            return "no webhook secret configured"
        signature = {k.lower(): v for k, v in headers.items()}.get("x-hub-signature-256")
        try:
            verify_hub_signature(secret, body, signature)
        except ValueError as exc:
            return f"X-Hub-Signature-256: {exc}"
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        secret = self.webhook_secret or ""
        return remote_changes(self.changes_from_webhook(headers, body, secret))

    def changes_from_webhook(
        self, headers: Mapping[str, str], body: bytes, secret: str
    ) -> list[Change]:
        """A person's changes in an `issues` webhook of this repository (signature checked)."""
        return github_changes(headers, body, secret, self.conf.repo, self.own_login())

    def own_login(self) -> str | None:
        """`self_user`, else the token's own login (`GET /user`), asked once: our own
        closes and comments must not come back as a person's. None while GitHub
        cannot say (asked again next time)."""
        if self.conf.self_user:
            return self.conf.self_user
        known: str | None = getattr(self, "_own_login", None)
        if known is None:
            try:
                login = field(self.remote.json("GET", "/user", "read the token's user"), "login")
            except Halt:
                return None
            known = login if isinstance(login, str) and login else None
            self._own_login = known
        return known
