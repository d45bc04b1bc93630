"""A fake Redmine (REST API, JSON) behind httpx.MockTransport, for the sink's unit and chaos tests.

Follows Redmine 5's published API, as the real one answers it (checked
against the Debian package in tests/e2e/test_redmine.py): `X-Redmine-API-Key`
auth (401 with an empty body otherwise), `POST /issues.json` → 201 with the
issue, `PUT /issues/{id}.json` → 204, validation errors → 422
`{"errors": [...]}`, filters `status_id=*`, `subject=~text`,
`updated_on=>=<time>`, `offset`/`limit`, and `include=journals`. The default
data: statuses New … Closed, Rejected; priorities Low … Immediate.

Failures: `fail_rate` (seeded) picks among 500, 503, 429 (with Retry-After),
timeouts and resets, and the same after the request was applied (the answer
is lost: the crash-between-create-and-record case); `fail_next(*kinds)`
scripts them ("ok" for no failure, "401", "404", "410", "422", "429", "500", "timeout", "reset",
"timeout_after", "reset_after").
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

KEY = "fake-redmine-key"
HUMAN = {"id": 7, "name": "Alice Human"}
ME = {"id": 1, "name": "Redmine Admin", "login": "admin"}
STATUSES = [
    ("New", False),
    ("In Progress", False),
    ("Resolved", False),
    ("Feedback", False),
    ("Closed", True),
    ("Rejected", True),
]
PRIORITIES = ["Low", "Normal", "High", "Urgent", "Immediate"]
TRACKERS = ["Bug", "Feature", "Support"]
RANDOM_KINDS = ("500", "503", "429", "timeout", "reset", "timeout_after", "reset_after")


class FakeRedmine:
    def __init__(self, fail_rate: float = 0.0, seed: int = 0, project: str = "ops") -> None:
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.project = project
        self.script: deque[str] = deque()
        self.requests: list[httpx.Request] = []
        self.failures: dict[str, int] = {}
        self.retry_after = "7"
        self.tickets: dict[str, dict[str, Any]] = {}
        self.now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        self.transport = httpx.MockTransport(self._serve)

    # -- test controls -------------------------------------------------------------

    def fail_next(self, *kinds: str) -> None:
        self.script.extend(kinds)

    def human_close(self, ref: str, resolution: str = "Closed") -> None:
        """A person sets the issue to `resolution` (Closed, Rejected) in the web UI."""
        self._journal(self.tickets[ref], HUMAN, "", {"status": resolution})

    # The uniform views every tracker fake offers (fakes/base.py), for the chaos tests.
    def state_of(self, ref: str) -> str:
        return str(self.tickets[ref]["state"])

    def comments_of(self, ref: str) -> list[str]:
        return list(self.tickets[ref]["comments"])

    def create_issue(self, subject: str, status: str = "New") -> str:
        """An issue made directly in Redmine (e.g. by an earlier, crashed attempt)."""
        issue = self._new({"subject": subject, "description": ""}, "Normal")
        issue["status"] = status
        issue["state"] = "closed" if _closed(status) else "open"
        return str(issue["id"])

    # -- the API ---------------------------------------------------------------------

    def _serve(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        kind = self.script.popleft() if self.script else self._random_failure()
        if kind is None or kind == "ok":
            return self._handle(request)
        self.failures[kind] = self.failures.get(kind, 0) + 1
        if kind.endswith("_after"):
            self._handle(request)
            kind = kind.removesuffix("_after")
        if kind == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        status = int(kind)
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": self.retry_after})
        if status == 422:
            return httpx.Response(422, json={"errors": ["Tracker is not included in the list"]})
        return httpx.Response(status)

    def _random_failure(self) -> str | None:
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return self.rng.choice(RANDOM_KINDS)
        return None

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-Redmine-API-Key") != KEY:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="Redmine API"'})
        path, method = request.url.path, request.method
        user = ME
        if request.headers.get("X-Redmine-Switch-User") == "alice":
            user = HUMAN
        if method == "GET":
            return self._get(path, request.url.params)
        if method == "POST" and path == "/issues.json":
            return self._post(json.loads(request.content)["issue"])
        found = re.fullmatch(r"/issues/(\d+)\.json", path)
        if method == "PUT" and found:
            return self._put(found.group(1), json.loads(request.content)["issue"], user)
        return httpx.Response(404)

    def _get(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == f"/projects/{self.project}.json":
            return httpx.Response(200, json={"project": {"id": 1, "identifier": self.project}})
        if path == "/enumerations/issue_priorities.json":
            items = [{"id": i + 1, "name": n, "active": True} for i, n in enumerate(PRIORITIES)]
            return httpx.Response(200, json={"issue_priorities": items})
        if path == "/issue_statuses.json":
            items = [{"id": i + 1, "name": n, "is_closed": c} for i, (n, c) in enumerate(STATUSES)]
            return httpx.Response(200, json={"issue_statuses": items})
        if path == "/trackers.json":
            items = [{"id": i + 1, "name": n} for i, n in enumerate(TRACKERS)]
            return httpx.Response(200, json={"trackers": items})
        if path == "/users/current.json":
            return httpx.Response(200, json={"user": {**ME, "api_key": KEY}})
        if path == "/issues.json":
            return self._list(params)
        found = re.fullmatch(r"/issues/(\d+)\.json", path)
        if found and found.group(1) in self.tickets:
            issue = self.tickets[found.group(1)]
            journals = "journals" in params.get("include", "")
            return httpx.Response(200, json={"issue": self._render(issue, journals)})
        return httpx.Response(404)

    def _list(self, params: httpx.QueryParams) -> httpx.Response:
        if params.get("project_id") not in ("1", self.project):
            return httpx.Response(404)
        issues = list(self.tickets.values())
        if params.get("status_id") != "*":
            issues = [i for i in issues if not _closed(i["status"])]
        subject = params.get("subject", "")
        if subject.startswith("~"):
            issues = [i for i in issues if subject[1:].lower() in i["subject"].lower()]
        updated = params.get("updated_on", "")
        if updated.startswith(">="):
            since = datetime.fromisoformat(updated[2:].replace("Z", "+00:00"))
            issues = [i for i in issues if i["updated_on"] >= since]
        key = "updated_on" if params.get("sort", "").startswith("updated_on") else "id"
        issues.sort(key=lambda i: i[key])
        offset, limit = int(params.get("offset", 0)), min(int(params.get("limit", 25)), 100)
        page = [self._render(i, False) for i in issues[offset : offset + limit]]
        return httpx.Response(
            200,
            json={"issues": page, "total_count": len(issues), "offset": offset, "limit": limit},
        )

    def _post(self, fields: dict[str, Any]) -> httpx.Response:
        errors = []
        if not str(fields.get("subject") or "").strip():
            errors.append("Subject cannot be blank")
        if len(str(fields.get("subject") or "")) > 255:
            errors.append("Subject is too long (maximum is 255 characters)")
        priority = _name(PRIORITIES, fields.get("priority_id", 2))
        if priority is None:
            errors.append("Priority cannot be blank")
        if "tracker_id" in fields and _name(TRACKERS, fields["tracker_id"]) is None:
            errors.append("Tracker is not included in the list")
        if errors:
            return httpx.Response(422, json={"errors": errors})
        assert priority is not None
        issue = self._new(fields, priority)
        if "tracker_id" in fields:
            issue["tracker"] = _name(TRACKERS, fields["tracker_id"])
        return httpx.Response(201, json={"issue": self._render(issue, False)})

    def _put(self, ref: str, fields: dict[str, Any], user: dict[str, Any]) -> httpx.Response:
        issue = self.tickets.get(ref)
        if issue is None:
            return httpx.Response(404)
        changes: dict[str, str] = {}
        if "status_id" in fields:
            status = _name([n for n, _ in STATUSES], fields["status_id"])
            if status is None:
                return httpx.Response(422, json={"errors": ["Status is not included in the list"]})
            changes["status"] = status
        if "priority_id" in fields:
            priority = _name(PRIORITIES, fields["priority_id"])
            if priority is None:
                return httpx.Response(422, json={"errors": ["Priority cannot be blank"]})
            changes["priority"] = priority
        if "description" in fields:
            issue["description"] = str(fields["description"])
        self._journal(issue, user, str(fields.get("notes") or ""), changes)
        return httpx.Response(204)

    # -- state -----------------------------------------------------------------------

    def _tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def _new(self, fields: dict[str, Any], priority: str) -> dict[str, Any]:
        at = self._tick()
        ref = str(len(self.tickets) + 1)
        issue = {
            "id": int(ref),
            "subject": str(fields["subject"]),
            "description": str(fields.get("description") or ""),
            "status": "New",
            "state": "open",  # as the other fakes: open | closed (Redmine's is_closed)
            "priority": priority,
            "tracker": "Bug",
            "comments": [],
            "journals": [],
            "created_on": at,
            "updated_on": at,
        }
        self.tickets[ref] = issue
        return issue

    def _journal(
        self, issue: dict[str, Any], user: dict[str, Any], notes: str, changes: dict[str, str]
    ) -> None:
        at = self._tick()
        details = []
        for field, value in changes.items():
            names = [n for n, _ in STATUSES] if field == "status" else PRIORITIES
            if issue[field] != value:
                details.append(
                    {
                        "property": "attr",
                        "name": f"{field}_id",
                        "old_value": str(names.index(issue[field]) + 1),
                        "new_value": str(names.index(value) + 1),
                    }
                )
                issue[field] = value
        issue["state"] = "closed" if _closed(issue["status"]) else "open"
        if notes:
            issue["comments"].append(notes)
        if notes or details:
            issue["journals"].append(
                {
                    "id": sum(len(i["journals"]) for i in self.tickets.values()) + 1,
                    "user": {"id": user["id"], "name": user["name"]},
                    "notes": notes,
                    "created_on": _iso(at),
                    "private_notes": False,
                    "details": details,
                }
            )
            issue["updated_on"] = at

    def _render(self, issue: dict[str, Any], journals: bool) -> dict[str, Any]:
        names = [n for n, _ in STATUSES]
        rendered: dict[str, Any] = {
            "id": issue["id"],
            "project": {"id": 1, "name": self.project},
            "tracker": {"id": TRACKERS.index(issue["tracker"]) + 1, "name": issue["tracker"]},
            "status": {
                "id": names.index(issue["status"]) + 1,
                "name": issue["status"],
                "is_closed": _closed(issue["status"]),
            },
            "priority": {"id": PRIORITIES.index(issue["priority"]) + 1, "name": issue["priority"]},
            "author": {"id": ME["id"], "name": ME["name"]},
            "subject": issue["subject"],
            "description": issue["description"],
            "created_on": _iso(issue["created_on"]),
            "updated_on": _iso(issue["updated_on"]),
        }
        if journals:
            rendered["journals"] = issue["journals"]
        return rendered


def _closed(status: str) -> bool:
    return dict(STATUSES)[status]


def _name(names: list[str], ident: Any) -> str | None:
    try:
        index = int(ident) - 1
    except (TypeError, ValueError):
        return None
    return names[index] if 0 <= index < len(names) else None


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
