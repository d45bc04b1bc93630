"""A fake GitHub REST API (issues, comments, labels) for one repository.

Follows the published API: bearer token, `X-GitHub-Api-Version`, issues with
`number`, `html_url`, `state` and `state_reason`, pull requests mixed into the
issue list (with a `pull_request` key), errors as `{"message",
"documentation_url", "status"}`, 410 when issues are disabled, 422 on
validation. Rate limits come in GitHub's three shapes (`rate_limit_style`):
403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (primary), 403
with `Retry-After` (secondary), 429 with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from typing import Any

import httpx

from fakes.base import FakeService, json_of, with_headers

VERSIONS = {"2022-11-28"}


class FakeGitHub(FakeService):
    def __init__(
        self,
        fail_rate: float = 0.0,
        seed: int = 0,
        *,
        token: str = "gh-token",
        repo: str = "acme/ops",
        prefix: str = "",
        html: str = "https://github.com",
    ) -> None:
        super().__init__(fail_rate, seed)
        self.token, self.repo, self.prefix, self.html = token, repo, prefix, html
        self.tickets: dict[str, dict[str, Any]] = {}
        self.issues_enabled = True
        self.push = True  # the token's write permission (GET /repos/{repo} `permissions.push`)
        self.webhook_secret = "gh-webhook-secret"
        self.login = "autoticket-bot"  # the token's own account (GET /user)
        self.events: list[tuple[dict[str, str], bytes]] = []
        self.rate_limit_style = "cycle"
        self.reset_in = 30
        self._styles = itertools.cycle(["primary", "secondary", "retry-after"])

    # -- what a person does on GitHub (each also queues its `issues` webhook) --
    def human_close(self, ref: str, resolution: str = "not_planned", by: str = "octocat") -> None:
        self.tickets[ref].update(state="closed", state_reason=resolution)
        self._event("closed", ref, by)

    def human_reopen(self, ref: str, by: str = "octocat") -> None:
        self.tickets[ref].update(state="open", state_reason="reopened")
        self._event("reopened", ref, by)

    def human_assign(self, ref: str, login: str, by: str = "octocat") -> None:
        self._event("assigned", ref, by, assignee={"login": login, "type": "User"})

    def human_comment(self, ref: str, text: str, by: str = "octocat") -> None:
        """A person's comment: GitHub sends it as an `issue_comment` event."""
        self.tickets[ref]["comments"].append(text)
        comment = {"id": 900 + len(self.events), "body": text, "user": {"login": by}}
        comment["created_at"] = "2026-01-05T11:00:00Z"
        self._event("created", ref, by, kind="issue_comment", comment=comment)

    def _event(self, action: str, ref: str, by: str, kind: str = "issues", **extra: Any) -> None:
        """The `issues` (or `issue_comment`) webhook GitHub sends, signed with
        `webhook_secret`."""
        issue = self._public(self.tickets[ref]) | {
            "closed_at": "2026-01-05T11:00:00Z" if action == "closed" else None,
            "updated_at": "2026-01-05T11:00:00Z",
        }
        body = json.dumps(
            {
                "action": action,
                "issue": issue,
                "repository": {"full_name": self.repo},
                "sender": {"login": by, "type": "User"},
                **extra,
            }
        ).encode()
        mac = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": kind,
            "X-GitHub-Delivery": f"delivery-{len(self.events) + 1}",
            "X-Hub-Signature-256": f"sha256={mac}",
            "Content-Type": "application/json",
        }
        self.events.append((headers, body))

    def add_pull_request(self, labels: list[str], body: str) -> None:
        number = str(len(self.tickets) + 1)
        self.tickets[number] = self._issue(number, "PR", body, labels) | {"pull_request": {}}

    def state_of(self, ref: str) -> str:
        return str(self.tickets[ref]["state"])

    def comments_of(self, ref: str) -> list[str]:
        return list(self.tickets[ref]["comments"])

    # -- the API -----------------------------------------------------------
    def error(self, status: int, message: str) -> httpx.Response:
        body = {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        }
        return httpx.Response(status, json=body)

    def rate_limited(self) -> httpx.Response:
        style = self.rate_limit_style
        if style == "cycle":
            style = next(self._styles)
        if style == "primary":
            reset = str(int(time.time()) + self.reset_in)
            headers = {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": reset,
                "x-ratelimit-limit": "5000",
            }
            return with_headers(self.error(403, "API rate limit exceeded for user ID 1."), headers)
        status = 403 if style == "secondary" else 429
        message = "You have exceeded a secondary rate limit. Please wait a few minutes."
        return with_headers(self.error(status, message), {"retry-after": self.retry_after})

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.error(401, "Bad credentials")
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in VERSIONS:
            return self.error(400, f"API version '{version}' is not supported.")
        base = f"{self.prefix}/repos/{self.repo}/issues"
        path, method = request.url.path, request.method
        if path == f"{self.prefix}/user" and method == "GET":
            return httpx.Response(200, json={"login": self.login, "type": "Bot"})
        if path == f"{self.prefix}/repos/{self.repo}" and method == "GET":
            repo = {"full_name": self.repo, "has_issues": self.issues_enabled}
            return httpx.Response(
                200, json=repo | {"permissions": {"pull": True, "push": self.push}}
            )
        if not path.startswith(base):
            return self.error(404, "Not Found")
        if not self.issues_enabled:
            return self.error(410, "Issues are disabled for this repo")
        if path == base and method == "GET":
            return self._list(request.url.params)
        if path == base and method == "POST":
            return self._create(json_of(request))
        match = re.fullmatch(rf"{re.escape(base)}/(\d+)(/comments)?", path)
        issue = self.tickets.get(match.group(1)) if match else None
        if match is None or issue is None:
            return self.error(404, "Not Found")
        if match.group(2) and method == "GET":
            comments = [{"id": i, "body": b} for i, b in enumerate(issue["comments"], 1)]
            return httpx.Response(
                200, json=comments[: int(request.url.params.get("per_page", "30"))]
            )
        if match.group(2) and method == "POST":
            body = json_of(request).get("body")
            if not isinstance(body, str) or not body:
                return self._invalid("body", "missing_field")
            issue["comments"].append(body)
            return httpx.Response(201, json={"id": len(issue["comments"]), "body": body})
        if method == "GET":
            return httpx.Response(200, json=self._public(issue))
        if method == "PATCH":
            return self._update(issue, json_of(request))
        return self.error(404, "Not Found")

    def _invalid(self, field: str, code: str) -> httpx.Response:
        body = {
            "message": "Validation Failed",
            "errors": [{"resource": "Issue", "field": field, "code": code}],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        }
        return httpx.Response(422, json=body)

    def _issue(self, number: str, title: str, body: str, labels: list[str]) -> dict[str, Any]:
        return {
            "number": int(number),
            "title": title,
            "body": body,
            "labels": [{"name": name} for name in labels],
            "state": "open",
            "state_reason": None,
            "html_url": f"{self.html}/{self.repo}/issues/{number}",
            "comments": [],
        }

    def _public(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in issue.items() if k != "comments"} | {
            "comments": len(issue["comments"])
        }

    def _list(self, params: Any) -> httpx.Response:
        wanted = set(filter(None, params.get("labels", "").split(",")))
        state = params.get("state", "open")
        found = [
            self._public(i)
            for i in self.tickets.values()
            if wanted <= {label["name"] for label in i["labels"]} and state in ("all", i["state"])
        ]
        return httpx.Response(200, json=found[: int(params.get("per_page", "30"))])

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        title = body.get("title")
        if not isinstance(title, str) or not title:
            return self._invalid("title", "missing_field")
        if any(len(label) > 50 for label in body.get("labels", [])):
            return self._invalid("labels", "invalid")
        number = str(len(self.tickets) + 1)
        self.tickets[number] = self._issue(
            number, title, str(body.get("body") or ""), list(body.get("labels", []))
        )
        return httpx.Response(201, json=self._public(self.tickets[number]))

    def _update(self, issue: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        state, reason = body.get("state"), body.get("state_reason")
        if state not in (None, "open", "closed"):
            return self._invalid("state", "invalid")
        if reason not in (None, "completed", "not_planned", "duplicate", "reopened"):
            return self._invalid("state_reason", "invalid")
        if state is not None:
            issue["state"] = state
            issue["state_reason"] = (
                reason if reason else ("completed" if state == "closed" else None)
            )
        return httpx.Response(200, json=self._public(issue))
