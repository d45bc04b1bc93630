"""The `redmine` sink: one Redmine issue per incident, over Redmine's REST API (JSON).

The issue is found by the incident's correlation tag in its subject,
`[autoticket-<incident id>]`, before one is created, so a crash between the
remote create and recording its id never opens a second issue. Updates are
journal notes (the ticket body becomes the description); resolve closes the
issue, reopen puts it back to the reopened status, unless a person closed it
as Rejected: autoticket never fights a human decision. Priorities, statuses
and the tracker are looked up by name once, so a config names what people see.

Notes carry the action's idempotency key on their last line, so an attempt
retried after a lost answer checks the journal and does not write twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, ProbeFailed, Sink, SinkResult
from autoticket.sinks.http import send
from autoticket.sinks.redmine_sync import HumanChange, changes_of

__all__ = ["HumanChange", "RedmineSettings", "RedmineSink", "correlation_tag"]

DEFAULT_PRIORITIES = {"P1": "Urgent", "P2": "High", "P3": "Normal", "P4": "Low"}
SUBJECT_MAX = 255
REASON_MAX = 300
FIRST_POLL = timedelta(days=1)
_TAG = re.compile(r"\[autoticket-(\d+)\]")


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


class RedmineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    project: str = Field(min_length=1, description="the project's identifier (or id)")
    key_env: str = Field(min_length=1, description="env var holding the REST API key")
    tracker: str | None = Field(default=None, description="tracker name; the project's default")
    priorities: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    closed_status: str = "Closed"
    reopened_status: str = "New"
    rejected_statuses: list[str] = Field(default_factory=lambda: ["Rejected"])
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)


def correlation_tag(incident_id: int) -> str:
    """`[autoticket-<id>]`: the payload's `remote_tag`, in brackets, so a search for
    `[autoticket-4]` never matches `[autoticket-42]`."""
    return f"[autoticket-{incident_id}]"


def incident_of(subject: str) -> int | None:
    """The incident id in an issue's subject tag, if it carries one."""
    found = _TAG.search(subject)
    return int(found.group(1)) if found else None


@dataclass(slots=True)
class Names:
    """What the config names, as Redmine's ids (looked up once)."""

    project_id: int
    tracker_id: int | None
    priorities: dict[str, int]  # autoticket priority → Redmine priority id
    statuses: dict[str, tuple[int, bool]]  # Redmine status name → (id, is_closed)
    my_id: int


class Refused(Exception):
    """A call that did not succeed: the SinkResult says what to do about it."""

    def __init__(self, result: SinkResult) -> None:
        super().__init__(result.reason)
        self.result = result


class RedmineSink(Sink):
    type: ClassVar[str] = "redmine"
    Settings: ClassVar[type[BaseModel]] = RedmineSettings

    def __init__(
        self,
        name: str,
        settings: BaseModel,
        client: httpx.Client,
        secrets: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name, settings, client, secrets)
        self._names: Names | None = None

    @property
    def cfg(self) -> RedmineSettings:
        assert isinstance(self.settings, RedmineSettings)
        return self.settings

    @property
    def base(self) -> str:
        return str(self.cfg.url).rstrip("/")

    # -- the action --------------------------------------------------------------

    def apply(self, item: OutboxItem) -> SinkResult:
        try:
            names = self.names()
            issue_id = _issue_id(item.remote_ref) or self.find(item.incident_id)
            if issue_id is None:
                issue_id = self.create(item, names)
                if item.action == "open":
                    return self.ok(issue_id)
            elif item.action == "open":
                return self.ok(issue_id)  # an earlier attempt created it
            reason = self.change(item, names, issue_id)
        except Refused as refused:
            return refused.result
        return self.ok(issue_id, reason)

    def ok(self, issue_id: int, reason: str = "") -> SinkResult:
        return SinkResult("ok", str(issue_id), reason, url=f"{self.base}/issues/{issue_id}")

    def create(self, item: OutboxItem, names: Names) -> int:
        payload = item.payload
        tag = correlation_tag(item.incident_id)
        title = str(payload.get("title") or "incident")[: SUBJECT_MAX - len(tag) - 1]
        issue: dict[str, Any] = {
            "project_id": names.project_id,
            "subject": f"{title} {tag}",
            "description": _description(payload),
        }
        priority = names.priorities.get(str(payload.get("priority")))
        if priority is not None:
            issue["priority_id"] = priority
        if names.tracker_id is not None:
            issue["tracker_id"] = names.tracker_id
        answer = self.call("POST", "/issues.json", "creating the issue", json={"issue": issue})
        return int(answer["issue"]["id"])

    def change(self, item: OutboxItem, names: Names, issue_id: int) -> str:
        """update / resolve / reopen of an existing issue; returns a reason when held back."""
        what = f"issue #{issue_id}"
        if item.attempts and self.noted(issue_id, item.idempotency_key):
            return "already applied (its note is in the journal)"
        issue: dict[str, Any] = {"notes": _note(item)}
        reason = ""
        if item.action == "update":
            issue["description"] = _description(item.payload)
            priority = names.priorities.get(str(item.payload.get("priority")))
            if priority is not None:
                issue["priority_id"] = priority
        elif item.action in ("resolve", "reopen"):
            status = self.call("GET", f"/issues/{issue_id}.json", what)["issue"]["status"]
            closed = bool(status.get("is_closed"))
            if item.action == "resolve" and not closed:
                issue["status_id"] = names.statuses[self.cfg.closed_status][0]
            elif item.action == "reopen" and status.get("name") in self.cfg.rejected_statuses:
                reason = f"left {status.get('name')}: a person closed it so"
            elif item.action == "reopen" and closed:
                issue["status_id"] = names.statuses[self.cfg.reopened_status][0]
        self.call("PUT", f"/issues/{issue_id}.json", what, json={"issue": issue})
        return reason

    # -- lookups -------------------------------------------------------------------

    def find(self, incident_id: int) -> int | None:
        """The issue carrying the incident's tag (the oldest, if a person copied it)."""
        tag = correlation_tag(incident_id)
        names = self.names()
        params = {
            "project_id": names.project_id,
            "status_id": "*",
            "subject": f"~{tag}",
            "sort": "id",
            "limit": 100,
        }
        found = self.call("GET", "/issues.json", "searching the issue", params=params)
        ids = [int(i["id"]) for i in found.get("issues", []) if tag in str(i.get("subject"))]
        return min(ids) if ids else None

    def noted(self, issue_id: int, key: str) -> bool:
        """Whether a note of this action is already in the issue's journal."""
        answer = self.call(
            "GET", f"/issues/{issue_id}.json", f"issue #{issue_id}", params={"include": "journals"}
        )
        return any(key in (j.get("notes") or "") for j in answer["issue"].get("journals", []))

    def probe(self) -> str:
        try:
            names = self._look_up()
        except Refused as exc:
            raise ProbeFailed(exc.result.reason) from None
        self._names = names
        return (
            f"project {self.cfg.project!r} visible; statuses, priorities and the key's user "
            f"(id {names.my_id}) read"
        )

    def names(self) -> Names:
        if self._names is None:
            self._names = self._look_up()
        return self._names

    def _look_up(self) -> Names:
        cfg = self.cfg
        project = self.call("GET", f"/projects/{cfg.project}.json", f"project {cfg.project!r}")
        enums = self.call("GET", "/enumerations/issue_priorities.json", "the priorities")
        by_name = {p["name"]: int(p["id"]) for p in enums.get("issue_priorities", [])}
        missing = {ours: theirs for ours, theirs in cfg.priorities.items() if theirs not in by_name}
        if missing:
            raise _config_error(f"priorities {missing} are not Redmine's", sorted(by_name))
        answer = self.call("GET", "/issue_statuses.json", "the statuses")
        statuses = {
            s["name"]: (int(s["id"]), bool(s.get("is_closed")))
            for s in answer.get("issue_statuses", [])
        }
        for wanted in (cfg.closed_status, cfg.reopened_status):
            if wanted not in statuses:
                raise _config_error(f"status {wanted!r} is not Redmine's", sorted(statuses))
        tracker_id = None
        if cfg.tracker is not None:
            trackers = self.call("GET", "/trackers.json", "the trackers").get("trackers", [])
            ids = {t["name"]: int(t["id"]) for t in trackers}
            if cfg.tracker not in ids:
                raise _config_error(f"tracker {cfg.tracker!r} is not Redmine's", sorted(ids))
            tracker_id = ids[cfg.tracker]
        me = self.call("GET", "/users/current.json", "the key's user")
        return Names(
            project_id=int(project["project"]["id"]),
            tracker_id=tracker_id,
            priorities={ours: by_name[theirs] for ours, theirs in cfg.priorities.items()},
            statuses=statuses,
            my_id=int(me["user"]["id"]),
        )

    # -- two-way sync --------------------------------------------------------------

    def poll(self, since: datetime | None) -> list[HumanChange]:
        """What people (not this key's user) did to autoticket's issues since `since`
        (None, a first poll: the last day).

        Issues updated since then (`updated_on>=`, to the second), then each
        one's journal. Raises `Refused` when Redmine cannot be read.
        """
        since = since if since is not None else datetime.now(UTC) - FIRST_POLL
        names = self.names()
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        changes: list[HumanChange] = []
        offset = 0
        while True:
            params = {
                "project_id": names.project_id,
                "status_id": "*",
                "updated_on": f">={stamp}",
                "subject": "~[autoticket-",
                "sort": "updated_on",
                "offset": offset,
                "limit": 100,
            }
            page = self.call("GET", "/issues.json", "polling the issues", params=params)
            issues = page.get("issues", [])
            for issue in issues:
                incident_id = incident_of(str(issue.get("subject", "")))
                if incident_id is None:
                    continue
                full = self.call(
                    "GET",
                    f"/issues/{issue['id']}.json",
                    f"issue #{issue['id']}",
                    params={"include": "journals"},
                )["issue"]
                changes += changes_of(full, incident_id, names.my_id, names.statuses, since)
            offset += len(issues)
            if not issues or offset >= int(page.get("total_count", 0)):
                return sorted(changes, key=lambda c: (c.at, int(c.remote_ref)))

    # -- HTTP ----------------------------------------------------------------------

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request; its JSON answer (empty for 204), or `Refused` with a reason."""
        headers = {"X-Redmine-API-Key": self.secrets[self.cfg.key_env]}
        request = self.client.build_request(
            method,
            self.base + path,
            headers=headers,
            timeout=self.cfg.timeout.total_seconds(),
            **kwargs,
        )
        result, response = send(self.client, request, lambda: datetime.now(UTC))
        if result.outcome != "ok":
            raise Refused(self._explain(result, response, what))
        assert response is not None
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise Refused(SinkResult("retry", reason=f"{what}: answer is not JSON")) from None
        if not isinstance(data, dict):
            raise Refused(SinkResult("retry", reason=f"{what}: answer is not a JSON object"))
        return data

    def _explain(
        self, result: SinkResult, response: httpx.Response | None, what: str
    ) -> SinkResult:
        """The classified result, with a reason a person can act on (never the key)."""
        status = response.status_code if response is not None else None
        detail = {
            401: f"the API key in {self.cfg.key_env} was refused",
            403: "the key's user may not do this (role, or the REST API is off)",
            404: f"{what} not found (or not visible to the key's user)",
        }.get(status or 0, "")
        if status == 422 and response is not None:
            detail = "Redmine refused it: " + "; ".join(_errors(response))
        reason = f"{what}: {result.reason}" + (f" ({detail})" if detail else "")
        result.reason = reason[:REASON_MAX]
        return result


def _issue_id(ref: str | None) -> int | None:
    return int(ref) if ref and ref.isdigit() else None


def _config_error(problem: str, known: list[str]) -> Refused:
    reason = f"{problem}; Redmine has: {', '.join(known)}"[:REASON_MAX]
    return Refused(SinkResult("permanent", reason=reason))


def _errors(response: httpx.Response) -> list[str]:
    """Redmine's 422 body: {"errors": ["Subject cannot be blank", ...]}."""
    try:
        errors = response.json().get("errors", [])
    except (ValueError, AttributeError):
        return ["(no errors array)"]
    return [str(e)[:100] for e in errors] if isinstance(errors, list) else ["(no errors array)"]


def _description(payload: dict[str, Any]) -> str:
    body = payload.get("body")
    return str(body) if body else str(payload.get("title") or "")


_VERBS = {"update": "updated", "resolve": "resolved", "reopen": "fired again"}


def _note(item: OutboxItem) -> str:
    """The journal note of one action: what changed, then the key that makes it idempotent."""
    payload = item.payload
    reasons = ", ".join(str(r) for r in payload.get("reasons") or []) or "changed"
    lines = [
        f"autoticket: incident {_VERBS.get(item.action, item.action)} — {reasons}",
        f"status {payload.get('status')}, priority {payload.get('priority')}, "
        f"severity {payload.get('severity')}",
        "",
        f"key: {item.idempotency_key}",
    ]
    return "\n".join(lines)
