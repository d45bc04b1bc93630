"""GitHub Actions `workflow_run` webhooks: failed runs fire, the next success resolves.

A run is identified by repository + workflow + branch, so a green run of the
same workflow on the same branch resolves the failure. Runs that are not
completed, and completed runs that say nothing about health (cancelled,
skipped, neutral, ...), produce no event. Mapping: docs/sources/github-actions.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, optional_str, parse_optional_time
from autoticket.sources.signature import HmacScheme

__all__ = ["GitHubActionsSource"]

_FAILED = frozenset({"failure", "timed_out", "startup_failure"})
_PASSED = frozenset({"success"})
_SILENT = frozenset({"cancelled", "skipped", "neutral", "action_required", "stale"})
_ACTIONS = frozenset({"requested", "in_progress", "completed"})


class GitHubActionsSource(Source):
    """`X-GitHub-Event: workflow_run` deliveries (the body alone is enough)."""

    name: ClassVar[str] = "github-actions"
    # GitHub signs with the webhook secret: `sha256=` + hex HMAC-SHA256 of the body.
    signature: ClassVar[HmacScheme | None] = HmacScheme("X-Hub-Signature-256", prefix="sha256=")

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload)
        if "zen" in payload and "hook_id" in payload:
            return []  # GitHub's ping when the webhook is created
        action = _required(payload, "action", "action")
        if action not in _ACTIONS:
            raise PayloadError(
                "action", f"expected requested, in_progress or completed, got {action[:64]!r}"
            )
        run = payload.get("workflow_run")
        if type(run) is not dict:
            reason = "required field is missing (is this a workflow_run webhook?)"
            if run is not None:
                reason = f"expected an object, got {json_type(run)}"
            raise PayloadError("workflow_run", reason)
        repo = payload.get("repository")
        if type(repo) is not dict:
            shown = "required field is missing" if repo is None else json_type(repo)
            raise PayloadError(
                "repository", shown if repo is None else f"expected an object, got {shown}"
            )
        repository = _required(repo, "full_name", "repository.full_name")
        workflow = _required(run, "name", "workflow_run.name")
        conclusion = optional_str(run, "conclusion", "workflow_run.conclusion")
        known = _FAILED | _PASSED | _SILENT
        if conclusion is not None and conclusion not in known:
            raise PayloadError(
                "workflow_run.conclusion",
                f"expected one of {', '.join(sorted(known))}, got {conclusion[:64]!r}",
            )
        branch = optional_str(run, "head_branch", "workflow_run.head_branch") or ""
        updated = parse_optional_time(run.get("updated_at"), "workflow_run.updated_at")
        if action != "completed" or conclusion is None or conclusion in _SILENT:
            return []
        failed = conclusion in _FAILED
        identity = {"repository": repository, "workflow": workflow, "branch": branch}
        path = optional_str(run, "path", "workflow_run.path")
        labels = {"alertname": f"workflow {workflow}", **identity}
        labels["service"] = repository.rsplit("/", 1)[-1]
        meta = {"conclusion": conclusion}
        for key in ("head_sha", "event", "display_title"):
            if value := optional_str(run, key, f"workflow_run.{key}"):
                meta[key] = value
        if path:
            meta["path"] = path
        for key in ("id", "run_number", "run_attempt"):
            value = run.get(key)
            if type(value) is int:
                meta[f"run_{key}" if key == "id" else key] = str(value)
        links = {}
        if url := optional_str(run, "html_url", "workflow_run.html_url"):
            links["run"] = url
        occurred_at = updated or received_at
        verb = "failed" if failed else "passed"
        return [
            Event(
                id=f"{delivery_id}-0",
                source=self.name,
                kind=EventKind.ALERT,
                status=AlertStatus.FIRING if failed else AlertStatus.RESOLVED,
                occurred_at=occurred_at,
                received_at=received_at,
                title=f"{workflow} {verb} on {branch or '(no branch)'} in {repository}",
                severity=Severity.WARNING,
                fingerprint=fingerprint_of(self.name, identity),
                raw_ref=delivery_id,
                description=meta.get("display_title", ""),
                labels=labels,
                links=links,
                source_meta=meta,
                ends_at=None if failed else occurred_at,
            )
        ]


def _required(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        raise PayloadError(path, "required field is missing")
    if type(value) is not str or not value:
        raise PayloadError(path, f"expected a non-empty string, got {json_type(value)}")
    return value
