"""GitHub Actions workflow_run: failure fires, success on the same workflow+branch resolves."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import AlertStatus


def test_failure_fires_and_success_resolves_it() -> None:
    (failed,) = parse("github-actions", sample("github-actions", "failure"))
    (passed,) = parse("github-actions", sample("github-actions", "success"))
    assert failed.status is AlertStatus.FIRING
    assert passed.status is AlertStatus.RESOLVED
    assert passed.fingerprint == failed.fingerprint
    assert failed.labels["service"] == "checkout"
    assert failed.links["run"] == "https://github.com/acme/checkout/actions/runs/9123456789"
    assert failed.source_meta["run_number"] == "412"
    assert passed.ends_at == passed.occurred_at


@pytest.mark.parametrize(("key", "value"), [("head_branch", "release/2.x"), ("name", "Nightly")])
def test_another_branch_or_workflow_is_another_alert(key: str, value: str) -> None:
    (failed,) = parse("github-actions", sample("github-actions", "failure"))
    payload = sample("github-actions", "success")
    payload["workflow_run"][key] = value
    assert parse("github-actions", payload)[0].fingerprint != failed.fingerprint


@pytest.mark.parametrize(
    ("action", "conclusion"),
    [
        ("requested", None),
        ("in_progress", None),
        ("completed", "cancelled"),
        ("completed", "skipped"),
        ("completed", None),
    ],
)
def test_runs_that_say_nothing_give_no_event(action: str, conclusion: str | None) -> None:
    payload = sample("github-actions", "failure") | {"action": action}
    payload["workflow_run"]["conclusion"] = conclusion
    assert parse("github-actions", payload) == []


def test_ping_gives_no_event() -> None:
    assert parse("github-actions", {"zen": "Keep it logically awesome.", "hook_id": 1}) == []


def _run(**changes: Any) -> dict[str, Any]:
    payload = sample("github-actions", "failure")
    payload["workflow_run"].update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ("x", "body", "JSON object"),
        ({"action": "completed"}, "workflow_run", "workflow_run webhook"),
        (sample("github-actions", "failure") | {"action": "deleted"}, "action", "expected"),
        (sample("github-actions", "failure") | {"repository": None}, "repository", "required"),
        (_run(name=None), "workflow_run.name", "required"),
        (_run(conclusion="exploded"), "workflow_run.conclusion", "expected one of"),
        (_run(updated_at="now"), "workflow_run.updated_at", "RFC 3339"),
        (_run(html_url=5), "workflow_run.html_url", "string"),
    ],
)
def test_malformed_names_the_field(payload: Any, field: str, fragment: str) -> None:
    exc = refusal("github-actions", payload)
    assert exc.field == field
    assert fragment in exc.reason
