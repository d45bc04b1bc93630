"""A fake Jira (Cloud REST v3 or Data Center REST v2): issues, labels, comments, transitions.

Follows the published API: Cloud authenticates with basic email:API-token,
Data Center with a bearer PAT; errors answer `{"errorMessages": [...],
"errors": {...}}`; the old Cloud search (`/rest/api/3/search`) is gone (410).
The workflow: "To Do" → "In Progress" → "Done" (transition "Done", resolution
"Done"), "Won't Do" from any open status (resolution "Won't Do"), and
"Reopen" from "Done" back to "To Do" (resolution cleared).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from fakes.base import FakeService, json_of

STATUSES = {
    "To Do": {"id": "10000", "name": "To Do", "statusCategory": {"key": "new"}},
    "In Progress": {"id": "3", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    "Done": {"id": "10001", "name": "Done", "statusCategory": {"key": "done"}},
}
# name → (id, from statuses, to status, resolution set)
TRANSITIONS = {
    "Start Progress": ("11", {"To Do"}, "In Progress", None),
    "Done": ("31", {"To Do", "In Progress"}, "Done", "Done"),
    "Won't Do": ("41", {"To Do", "In Progress"}, "Done", "Won't Do"),
    "Reopen": ("51", {"Done"}, "To Do", None),
}
LABEL_JQL = re.compile(r'project = "(?P<project>[A-Z0-9_]+)" AND labels = "(?P<label>[^"]+)"')


class FakeJira(FakeService):
    def __init__(
        self,
        fail_rate: float = 0.0,
        seed: int = 0,
        *,
        flavor: str = "cloud",
        email: str = "bot@example.com",
        token: str = "jira-token",
        projects: tuple[str, ...] = ("OPS",),
        base_url: str = "https://jira.example.com",
    ) -> None:
        super().__init__(fail_rate, seed)
        self.flavor = flavor
        self.api = "/rest/api/3" if flavor == "cloud" else "/rest/api/2"
        if flavor == "cloud":
            self.auth = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        else:
            self.auth = f"Bearer {token}"
        self.projects = set(projects)
        # GET /myself: Cloud names a user by accountId (+ email), Data Center by name.
        self.me: dict[str, Any] = (
            {"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": email, "displayName": "bot"}
            if flavor == "cloud"
            else {"name": "autoticket", "displayName": "bot"}
        )
        self.base_url = base_url
        self.tickets: dict[str, dict[str, Any]] = {}
        self.events: list[bytes] = []
        self._ids = 10000

    # -- what a person does in Jira (each also queues its webhook body) ----
    def human_close(self, ref: str, resolution: str = "Won't Do", by: str = "Ann") -> None:
        issue = self.tickets[ref]
        before = issue["status"]
        issue["status"], issue["resolution"] = "Done", resolution
        self._event(issue, by, [("status", before, "Done"), ("resolution", None, resolution)])

    def human_reopen(self, ref: str, by: str = "Ann") -> None:
        issue = self.tickets[ref]
        before, resolution = issue["status"], issue["resolution"]
        issue["status"], issue["resolution"] = "To Do", None
        self._event(issue, by, [("status", before, "To Do"), ("resolution", resolution, None)])

    def human_start(self, ref: str, by: str = "Ann") -> None:
        issue = self.tickets[ref]
        before, issue["status"] = issue["status"], "In Progress"
        self._event(issue, by, [("status", before, "In Progress")])

    def human_assign(self, ref: str, assignee: str, by: str = "Ann") -> None:
        issue = self.tickets[ref]
        before, issue["assignee"] = issue.get("assignee"), assignee
        self._event(issue, by, [("assignee", before, assignee)])

    def human_comment(self, ref: str, text: str, by: str = "Ann") -> None:
        """A person's comment: Jira posts a `comment_created` event (its issue with a
        few fields only, no labels)."""
        issue = self.tickets[ref]
        issue["comments"].append(text)
        author = {"accountId": f"id-{by.lower()}", "displayName": by}
        body = {
            "timestamp": 1767610800000,
            "webhookEvent": "comment_created",
            "comment": {
                "id": str(100 + len(issue["comments"])),
                "author": author,
                "body": text,
                "created": "2026-01-05T11:00:00.000+0000",
            },
            "issue": {"id": issue["id"], "key": issue["key"], "fields": {"summary": "x"}},
        }
        self.events.append(json.dumps(body).encode())

    def _event(self, issue: dict[str, Any], by: str, items: list[tuple[str, Any, Any]]) -> None:
        """The `jira:issue_updated` webhook body Jira posts for a person's change."""
        fields = self._issue_json(issue)["fields"] | {"labels": issue["labels"]}
        body = {
            "timestamp": 1767610800000,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": f"id-{by.lower()}", "displayName": by},
            "issue": {"id": issue["id"], "key": issue["key"], "fields": fields},
            "changelog": {
                "id": str(len(self.events) + 1),
                "items": [
                    {"field": f, "fieldtype": "jira", "fromString": a, "toString": b}
                    for f, a, b in items
                ],
            },
        }
        self.events.append(json.dumps(body).encode())

    def state_of(self, ref: str) -> str:
        return "closed" if self.tickets[ref]["status"] == "Done" else "open"

    def comments_of(self, ref: str) -> list[str]:
        return [c if isinstance(c, str) else _text(c) for c in self.tickets[ref]["comments"]]

    # -- the API -----------------------------------------------------------
    def error(self, status: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"errorMessages": [message], "errors": {}})

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != self.auth:
            return self.error(401, "You are not authenticated. Authentication required.")
        path, method = request.url.path, request.method
        if self.flavor == "cloud" and path == "/rest/api/3/search":
            return self.error(410, "The requested API has been removed. Use search/jql.")
        search = f"{self.api}/search/jql" if self.flavor == "cloud" else f"{self.api}/search"
        if path == search and method == "POST":
            return self._search(json_of(request))
        if path == f"{self.api}/issue" and method == "POST":
            return self._create(json_of(request))
        if path == f"{self.api}/myself" and method == "GET":
            return httpx.Response(200, json=self.me)
        project = re.fullmatch(rf"{self.api}/project/([A-Z0-9_]+)", path)
        if project is not None and method == "GET":
            key = project.group(1)
            if key not in self.projects:
                return self.error(404, "No project could be found with key '" + key + "'.")
            return httpx.Response(200, json={"id": "10000", "key": key, "name": key.title()})
        match = re.fullmatch(rf"{self.api}/issue/([A-Z0-9_]+-\d+)(/comment|/transitions)?", path)
        if match is None:
            return self.error(404, "Not found")
        issue = self.tickets.get(match.group(1))
        if issue is None:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        sub = match.group(2)
        if sub is None and method == "GET":
            return httpx.Response(200, json=self._issue_json(issue))
        if sub == "/comment" and method == "GET":
            comments = [{"id": str(i), "body": b} for i, b in enumerate(issue["comments"])]
            comments.reverse()  # orderBy=-created
            return httpx.Response(200, json={"comments": comments, "total": len(comments)})
        if sub == "/comment" and method == "POST":
            body = json_of(request).get("body")
            if self.flavor == "cloud" and not _is_adf(body):
                return _invalid({"comment": "Comment body is not valid!"})
            issue["comments"].append(body)
            return httpx.Response(201, json={"id": str(len(issue["comments"])), "body": body})
        if sub == "/transitions" and method == "GET":
            return httpx.Response(200, json={"transitions": self._available(issue)})
        if sub == "/transitions" and method == "POST":
            return self._transition(issue, json_of(request))
        return self.error(405, "Method not allowed")

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        resolution = {"name": issue["resolution"]} if issue["resolution"] else None
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{self.base_url}{self.api}/issue/{issue['id']}",
            "fields": {"status": STATUSES[issue["status"]], "resolution": resolution},
        }

    def _search(self, body: dict[str, Any]) -> httpx.Response:
        jql = str(body.get("jql", ""))
        match = LABEL_JQL.match(jql)
        if match is None:
            return self.error(400, f"Error in the JQL Query: {jql}")
        if match["project"] not in self.projects:
            message = f"The value '{match['project']}' does not exist for the field 'project'."
            return self.error(400, message)
        found = [
            self._issue_json(i)
            for i in self.tickets.values()
            if i["project"] == match["project"] and match["label"] in i["labels"]
        ][: int(body.get("maxResults", 50))]
        if self.flavor == "cloud":
            return httpx.Response(200, json={"issues": found})
        return httpx.Response(
            200, json={"startAt": 0, "maxResults": 50, "total": len(found), "issues": found}
        )

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        fields = body.get("fields") or {}
        project = (fields.get("project") or {}).get("key")
        errors: dict[str, str] = {}
        if project not in self.projects:
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        description = fields.get("description")
        if self.flavor == "cloud" and not _is_adf(description):
            errors["description"] = "Operation value must be an Atlassian Document."
        if self.flavor == "datacenter" and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "The label cannot contain spaces."
        if errors:
            return _invalid(errors)
        self._ids += 1
        key = f"{project}-{len([i for i in self.tickets.values() if i['project'] == project]) + 1}"
        self.tickets[key] = {
            "id": str(self._ids),
            "key": key,
            "project": project,
            "summary": fields["summary"],
            "description": description,
            "labels": list(fields.get("labels", [])),
            "priority": (fields.get("priority") or {}).get("name"),
            "issuetype": (fields.get("issuetype") or {}).get("name"),
            "status": "To Do",
            "resolution": None,
            "comments": [],
        }
        url = f"{self.base_url}{self.api}/issue/{self._ids}"
        return httpx.Response(201, json={"id": str(self._ids), "key": key, "self": url})

    def _available(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": tid, "name": name, "to": STATUSES[to]}
            for name, (tid, sources, to, _) in TRANSITIONS.items()
            if issue["status"] in sources
        ]

    def _transition(self, issue: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        wanted = str((body.get("transition") or {}).get("id"))
        for _name, (tid, sources, to, resolution) in TRANSITIONS.items():
            if tid == wanted and issue["status"] in sources:
                issue["status"], issue["resolution"] = to, resolution
                return httpx.Response(204)
        message = f"Transition id '{wanted}' is not valid for this issue."
        return httpx.Response(400, json={"errorMessages": [message], "errors": {}})


def _is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1


def _invalid(errors: dict[str, str]) -> httpx.Response:
    return httpx.Response(400, json={"errorMessages": [], "errors": errors})


def _text(document: Any) -> str:
    """The text of an ADF node and its children."""
    if isinstance(document, dict):
        own = document.get("text", "") if document.get("type") == "text" else ""
        return str(own) + _text(document.get("content", []))
    if isinstance(document, list):
        return "".join(_text(node) for node in document)
    return ""
