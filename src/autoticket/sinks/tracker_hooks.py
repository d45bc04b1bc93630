"""What Jira and GitHub tell autoticket by webhook, read as a person's changes.

Pure parsing, no I/O: a body and its headers in, `Change`s out. Only
tickets autoticket filed count (they carry the `autoticket` label), and a
change made by autoticket's own account (`self_user`) is not a person's.
A body that cannot be read, or a signature that does not match, raises
`ValueError` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from autoticket.signature import HmacScheme, SignatureError, verify_signature
from autoticket.sinks.tracker import Change, field

HUB_SIGNATURE = HmacScheme("X-Hub-Signature-256", prefix="sha256=")

__all__ = [
    "HUB_SIGNATURE",
    "excerpt",
    "github_changes",
    "iso_time",
    "jira_changes",
    "verify_hub_signature",
]


def verify_hub_signature(secret: str, body: bytes, given: str | None) -> None:
    """GitHub's `X-Hub-Signature-256` (and Jira Cloud's `X-Hub-Signature`): `sha256=` +
    hex HMAC-SHA256 of the raw body, keyed with the webhook's secret."""
    if not given:
        raise ValueError("the signature header is missing")
    try:
        verify_signature(HUB_SIGNATURE, secret.encode(), body, {HUB_SIGNATURE.header: given})
    except SignatureError:
        raise ValueError("the signature does not match the body") from None


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


def _labels(values: Any) -> set[str]:
    names = (v.get("name") if isinstance(v, dict) else v for v in values or [])
    return {n for n in names if isinstance(n, str)}


def iso_time(value: Any) -> datetime | None:
    """An ISO 8601 time from a remote's payload (UTC when it names no zone), else None."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def github_changes(
    headers: Mapping[str, str], body: bytes, secret: str, repo: str, self_user: str | None = None
) -> list[Change]:
    """An `issues` event of `repo` (closed / reopened / assigned by a person) or an
    `issue_comment` one (created: commented)."""
    lower = {k.lower(): v for k, v in headers.items()}
    verify_hub_signature(secret, body, lower.get("x-hub-signature-256"))
    event = lower.get("x-github-event")
    if event not in ("issues", "issue_comment"):
        return []  # ping and other events: nothing to report
    data = _load(body)
    issue = data.get("issue")
    if not isinstance(issue, dict) or not isinstance(issue.get("number"), int):
        raise ValueError("issue.number is missing")
    if str(field(data, "repository", "full_name")).lower() != repo.lower():
        return []
    if "autoticket" not in _labels(issue.get("labels")) or "pull_request" in issue:
        return []
    by = str(field(data, "sender", "login") or "")
    if self_user and by.lower() == self_user.lower():
        return []
    ref, action = str(issue["number"]), data.get("action")
    if event == "issue_comment":
        return _github_comment(data, ref, by) if action == "created" else []
    if action == "closed":
        reason = str(issue.get("state_reason") or "completed")
        return [Change(ref, "closed", by, iso_time(issue.get("closed_at")), reason)]
    if action == "reopened":
        return [Change(ref, "reopened", by, iso_time(issue.get("updated_at")))]
    if action == "assigned":
        who = str(field(data, "assignee", "login") or "")
        return [Change(ref, "reassigned", by, iso_time(issue.get("updated_at")), who)]
    return []


def _github_comment(data: dict[str, Any], ref: str, by: str) -> list[Change]:
    comment = data.get("comment")
    if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
        raise ValueError("comment.body is missing")
    return [
        Change(ref, "commented", by, iso_time(comment.get("created_at")), excerpt(comment["body"]))
    ]


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a comment, on one line, as the timeline shows it."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def jira_changes(body: bytes, project: str, self_user: str | None = None) -> list[Change]:
    """A `jira:issue_updated` event: done (closed), out of done (reopened), in progress
    (acknowledged), a new assignee (reassigned); a `comment_created` one (commented)."""
    data = _load(body)
    event = data.get("webhookEvent")
    if event not in ("jira:issue_updated", "comment_created"):
        return []
    key = field(data, "issue", "key")
    if not isinstance(key, str):
        raise ValueError("issue.key is missing")
    if not key.startswith(f"{project}-"):
        return []
    if event == "comment_created":
        # Its issue carries few fields (no labels): the ticket is known by its key.
        return _jira_comment(data, key, self_user)
    fields = field(data, "issue", "fields") or {}
    if "autoticket" not in _labels(fields.get("labels")):
        return []
    user = data.get("user") or {}
    if _is_self(user, self_user):
        return []
    by = str(user.get("displayName") or user.get("name") or "")
    stamp = data.get("timestamp")
    at = datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int | float) else None
    items = [i for i in field(data, "changelog", "items") or [] if isinstance(i, dict)]
    changed = {str(i.get("field")).lower(): i for i in items}
    changes: list[Change] = []
    if "status" in changed or "resolution" in changed:
        category = field(fields, "status", "statusCategory", "key")
        resolution = field(fields, "resolution", "name")
        if category == "done":
            changes.append(Change(key, "closed", by, at, str(resolution or "")))
        elif "resolution" in changed:
            changes.append(Change(key, "reopened", by, at))
        elif category == "indeterminate":
            changes.append(
                Change(key, "acknowledged", by, at, str(field(fields, "status", "name")))
            )
    if "assignee" in changed:
        who = changed["assignee"].get("toString") or ""
        changes.append(Change(key, "reassigned", by, at, str(who)))
    return changes


def _is_self(user: Any, self_user: str | None) -> bool:
    if not self_user or not isinstance(user, dict):
        return False
    ids = {str(user.get(k)) for k in ("accountId", "name", "emailAddress") if user.get(k)}
    return self_user in ids


def _jira_comment(data: dict[str, Any], key: str, self_user: str | None) -> list[Change]:
    """A `comment_created` event: the comment's author and text (wiki markup on Data
    Center, plain text in the webhook on Cloud as well)."""
    comment = data.get("comment")
    if not isinstance(comment, dict):
        raise ValueError("comment is missing")
    author = comment.get("author") or {}
    if _is_self(author, self_user):
        return []
    body = comment.get("body")
    text = body if isinstance(body, str) else ""
    by = (
        str(author.get("displayName") or author.get("name") or "")
        if isinstance(author, dict)
        else ""
    )
    return [Change(key, "commented", by, iso_time(comment.get("created")), excerpt(text))]
