"""GitHub deployment_status and Argo CD notifications as releases: the parsers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.config import Config, load_config
from autoticket.errors import PayloadError
from autoticket.releases.argocd import parse_argocd
from autoticket.releases.github_deployment import parse_github_deployment
from autoticket.releases.hook_settings import ArgoCDSettings, GithubDeploymentSettings
from autoticket.releases.hooks import release_of_hook
from hook_payloads import SHA, argocd, github_ping, github_status

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EVENT = {"X-GitHub-Event": "deployment_status"}
GITHUB = GithubDeploymentSettings()


def test_a_successful_deployment_status_is_a_finished_release() -> None:
    release = parse_github_deployment(github_status("success"), EVENT, GITHUB)
    assert release is not None
    assert (release.service, release.environment, release.version) == (
        "checkout",
        "production",
        "v1.4.2",
    )
    assert release.started_at == T0  # the deployment's creation, the same for every status
    assert release.finished_at == T0 + timedelta(minutes=12)
    assert (release.commit, release.deployer) == (SHA, "octocat")
    assert release.flags == {"deploy_state": "success"}
    assert release.source == "github-deployment"


@pytest.mark.parametrize("state", ["pending", "queued", "in_progress", "inactive"])
def test_a_status_that_is_not_final_leaves_the_release_running(state: str) -> None:
    release = parse_github_deployment(github_status(state), EVENT, GITHUB)
    assert release is not None
    assert release.finished_at is None
    assert release.flags == {"deploy_state": state}


@pytest.mark.parametrize("state", ["failure", "error"])
def test_a_failed_deployment_is_recorded_on_the_release(state: str) -> None:
    release = parse_github_deployment(github_status(state), EVENT, GITHUB)
    assert release is not None
    assert release.flags["deploy_state"] == state
    assert release.finished_at == T0 + timedelta(minutes=12)


@pytest.mark.parametrize(
    ("deployment", "version"),
    [
        ({"ref": "v1.4.2"}, "v1.4.2"),
        ({"ref": "refs/tags/release-2026.11"}, "release-2026.11"),
        ({"ref": "2.0.1"}, "2.0.1"),
        ({"ref": "main"}, SHA[:12]),  # a branch names many releases: the commit names one
        ({"ref": SHA}, SHA[:12]),
        ({"ref": "main", "payload": {"version": "2026.11.20-3"}}, "2026.11.20-3"),
    ],
)
def test_the_version_is_the_tag_else_the_commit(deployment: dict[str, Any], version: str) -> None:
    release = parse_github_deployment(github_status(**deployment), EVENT, GITHUB)
    assert release is not None and release.version == version


def test_services_and_environments_come_from_the_mapping_then_the_catalog() -> None:
    body = github_status()
    mapped = GithubDeploymentSettings(
        services={"acme/checkout": "checkout-api"}, environments={"production": "prod"}
    )
    release = parse_github_deployment(body, EVENT, mapped)
    assert release is not None and (release.service, release.environment) == (
        "checkout-api",
        "prod",
    )
    config = load_config(None).model_copy(deep=True)
    catalog = config.catalog.model_copy(
        update={
            "services": {
                "shop": config.catalog.services["checkout"].model_copy(
                    update={"repo": "https://github.com/Acme/checkout.git"}
                )
            }
        }
    )
    config = config.model_copy(update={"catalog": catalog})
    by_catalog = release_of_hook("github-deployment", body, EVENT, config)
    assert by_catalog is not None and by_catalog.service == "shop"
    payload_says = github_status(payload={"service": "cart", "rollout_percent": 25})
    release = parse_github_deployment(payload_says, EVENT, mapped)
    assert release is not None and (release.service, release.rollout_percent) == ("cart", 25.0)


def test_a_ping_is_ignored_and_other_events_are_refused() -> None:
    assert parse_github_deployment(github_ping(), {"x-github-event": "ping"}, GITHUB) is None
    assert parse_github_deployment(github_ping(), {}, GITHUB) is None  # a replay line
    with pytest.raises(PayloadError) as caught:
        parse_github_deployment(github_status(), {"X-GitHub-Event": "push"}, GITHUB)
    assert caught.value.field == "x-github-event"
    assert "Deployment statuses" in caught.value.reason
    created = github_status()
    del created["deployment_status"]
    release = parse_github_deployment(created, {"X-GitHub-Event": "deployment"}, GITHUB)
    assert release is not None and release.flags == {"deploy_state": "pending"}


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


def _with(body: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "expected a JSON object, got array"),
        (_without(github_status(), "deployment"), "deployment", "expected an object, got null"),
        (_with(github_status(), "done", "deployment_status", "state"), "deployment_status.state",
         "expected one of pending, queued"),
        (_without(github_status(), "deployment", "sha"), "deployment.sha", "is required"),
        (_with(github_status(), 7, "deployment", "environment"), "deployment.environment",
         "expected a string, got number"),
        (_with(github_status(), "", "repository", "full_name"), "repository.full_name",
         "is required"),
        (_with(github_status(), "yesterday", "deployment", "created_at"), "deployment.created_at",
         "invalid RFC 3339 timestamp"),
        (_with(github_status(at="2026-11-20T08:00:00Z"), "2026-11-20T09:00:00Z", "deployment",
               "created_at"), "deployment_status.created_at", "is before started_at"),
        (github_status(payload={"rollout_percent": 101}), "deployment.payload.rollout_percent",
         "must be between 0 and 100"),
        (_with(github_status(), "e" * 200, "deployment", "environment"), "deployment.environment",
         "at most 128 characters"),
    ],
)  # fmt: skip
def test_a_bad_github_payload_names_its_field(body: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_github_deployment(body, EVENT, GITHUB)
    assert (caught.value.field, caught.value.status) == (field, 422)
    assert reason in caught.value.reason


def test_an_argocd_sync_is_a_release() -> None:
    settings = ArgoCDSettings(
        services={"checkout-prod": "checkout"}, environments={"checkout": "prod"}
    )
    release = parse_argocd(argocd("Succeeded"), settings)
    assert (release.service, release.environment, release.version) == ("checkout", "prod", SHA[:12])
    assert release.started_at == T0
    assert release.finished_at == T0 + timedelta(minutes=3, seconds=30)
    assert (release.commit, release.deployer) == (SHA, "alice@acme.example")
    assert release.flags == {
        "deploy_state": "succeeded",
        "sync_status": "Synced",
        "health": "Healthy",
    }
    running = parse_argocd(argocd("Running"), ArgoCDSettings())
    assert (running.service, running.environment, running.finished_at) == (
        "checkout-prod",
        "checkout",
        None,
    )
    failed = parse_argocd(argocd("Failed", version="1.8.0", environment="staging"), settings)
    assert (failed.version, failed.environment, failed.flags["deploy_state"]) == (
        "1.8.0",
        "staging",
        "failed",
    )
    assert failed.finished_at is not None
    helm = parse_argocd(argocd(revision="4.2.0"), settings)  # a chart version: no commit
    assert (helm.version, helm.commit) == ("4.2.0", None)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("x", "body", "expected a JSON object, got string"),
        (argocd(app="<no value>"), "app", "is required"),
        (argocd(revision="<no value>"), "revision", "is required (or give version)"),
        (argocd(namespace=""), "environment", "or give the destination namespace"),
        (argocd(phase="Done"), "phase", "expected one of Running"),
        (argocd(started_at="<no value>"), "started_at", "expected an RFC 3339 timestamp"),
        (argocd(finished_at="2026-11-20T08:00:00Z"), "finished_at", "is before started_at"),
        (argocd(revison="x"), "revison", "did you mean 'revison' -> 'revision'?"),
        (argocd(health=3), "health", "expected a string, got number"),
    ],
)
def test_a_bad_argocd_body_names_its_field(body: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_argocd(body, ArgoCDSettings())
    assert caught.value.field == field
    assert reason in caught.value.reason


# Fuzzing: whatever arrives, the parsers return a release, None, or a PayloadError.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(1, 4))):
        node: Any = body
        while isinstance(node, dict) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(_json)
    return body


def _holds(parse: Any, body: Any) -> None:
    try:
        release = parse(body)
    except PayloadError as exc:
        assert exc.field and exc.reason and exc.status in (400, 422)
        return
    if release is not None:
        assert release.service and release.environment and release.version
        assert release.finished_at is None or release.finished_at >= release.started_at


@settings(max_examples=120, deadline=None)
@given(data=st.data(), state=st.sampled_from(["success", "failure", "pending"]))
def test_mutated_github_payloads_never_crash(data: st.DataObject, state: str) -> None:
    body = _mutate(github_status(state), data)
    _holds(lambda b: parse_github_deployment(b, EVENT, GITHUB), body)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), phase=st.sampled_from(["Succeeded", "Running", "Failed"]))
def test_mutated_argocd_bodies_never_crash(data: st.DataObject, phase: str) -> None:
    body = _mutate(argocd(phase), data)
    _holds(lambda b: parse_argocd(b, ArgoCDSettings()), body)


@settings(max_examples=60, deadline=None)
@given(body=_json)
def test_arbitrary_json_never_crashes_either_parser(body: Any) -> None:
    config: Config = load_config(None)
    for source in ("github-deployment", "argocd"):
        _holds(lambda b, s=source: release_of_hook(s, b, {}, config), body)


def test_an_unset_webhook_secret_is_a_config_error_with_its_line() -> None:
    from autoticket.checks import check_config_text

    text = "releases:\n  sources:\n    github_deployment:\n      secret_env: HOOK_SECRET_X\n"
    [problem] = check_config_text(text, "c.yaml", env={}).errors
    assert problem.path == "releases.sources.github_deployment.secret_env"
    assert problem.line == 4
    assert "HOOK_SECRET_X is not set" in problem.message
    assert check_config_text(text, "c.yaml", env={"HOOK_SECRET_X": "s3cret"}).errors == []
