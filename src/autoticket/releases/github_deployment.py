"""GitHub `deployment_status` (and `deployment`) webhooks as releases.

docs/sources/deploy-webhooks.md documents the mapping: the repository
names the service, `deployment.environment` the environment, the ref (when
it is a version tag) or the commit the version; a status's state is kept in
the release's `deploy_state` flag, and a final one (success, failure, error)
finishes the release at the status's time. `ping` is answered and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import Release
from autoticket.releases.hook_fields import build_release, obj, short_version, text
from autoticket.releases.hook_settings import GithubDeploymentSettings
from autoticket.sources.base import json_type

__all__ = ["EVENT_HEADER", "FINAL_STATES", "STATES", "parse_github_deployment"]

EVENT_HEADER = "x-github-event"
STATES = ("pending", "queued", "in_progress", "success", "failure", "error", "inactive")
FINAL_STATES = frozenset({"success", "failure", "error"})
_EVENTS = ("deployment_status", "deployment", "ping")
_TAG = re.compile(r"^v?\d+([.\-_+][0-9A-Za-z.\-_+]*)?$")


def parse_github_deployment(
    payload: Any,
    headers: Mapping[str, str],
    settings: GithubDeploymentSettings,
    repo_services: Mapping[str, str] | None = None,
    source: str = "github-deployment",
) -> Release | None:
    """The release a delivery reports, or None for a `ping`.

    `repo_services` maps a repository (`owner/name`, lower case) to the
    catalog service whose `repo` it is.
    """
    if type(payload) is not dict:
        raise PayloadError("body", f"expected a JSON object, got {json_type(payload)}")
    event = _event(payload, headers)
    if event == "ping":
        return None
    deployment = obj(payload, "deployment", "deployment")
    status = obj(payload, "deployment_status", "deployment_status", event == "deployment_status")
    state = _state(status) if event == "deployment_status" else "pending"
    raw_extra = deployment.get("payload")  # free-form: an object, a string or nothing
    extra: dict[str, Any] = raw_extra if type(raw_extra) is dict else {}
    repository = obj(payload, "repository", "repository")
    full_name = text(repository, "full_name", "repository.full_name", required=True)
    assert full_name is not None
    sha = text(deployment, "sha", "deployment.sha", required=True)
    assert sha is not None
    environment = text(deployment, "environment", "deployment.environment", required=True)
    assert environment is not None
    version, version_path = _version(deployment, extra, sha)
    service, service_path = _service(extra, full_name, settings, repo_services or {})
    sender = obj(payload, "sender", "sender", required=False)
    creator = obj(deployment, "creator", "deployment.creator", required=False)
    deployer = text(sender, "login", "sender.login") or text(
        creator, "login", "deployment.creator.login"
    )
    finished = status.get("created_at") if state in FINAL_STATES else None
    return build_release(
        {
            "service": (service, service_path),
            "environment": (settings.environment(environment), "deployment.environment"),
            "version": (version, version_path),
            "started_at": (deployment.get("created_at"), "deployment.created_at"),
            "finished_at": (finished, "deployment_status.created_at"),
            "rollout_percent": (extra.get("rollout_percent"), "deployment.payload.rollout_percent"),
            "commit": (sha, "deployment.sha"),
            "deployer": (deployer, "sender.login"),
            "flags": ({"deploy_state": state}, "deployment_status.state"),
        },
        source,
    )


def _event(payload: dict[str, Any], headers: Mapping[str, str]) -> str:
    """The event the header names; without it (a replay line), what the payload holds."""
    event = next((v for k, v in headers.items() if k.lower() == EVENT_HEADER), None)
    if event is None:
        if "deployment_status" in payload:
            return "deployment_status"
        return "ping" if "zen" in payload and "deployment" not in payload else "deployment"
    if event not in _EVENTS:
        raise PayloadError(
            EVENT_HEADER,
            f"event {event[:64]!r} is not a deployment; subscribe this webhook to "
            "'Deployment statuses' (deployment_status) only",
        )
    return event


def _state(status: dict[str, Any]) -> str:
    state = status.get("state")
    if type(state) is not str or state not in STATES:
        shown = repr(state[:64]) if type(state) is str else json_type(state)
        raise PayloadError(
            "deployment_status.state", f"expected one of {', '.join(STATES)}, got {shown}"
        )
    return state


def _version(deployment: dict[str, Any], extra: dict[str, Any], sha: str) -> tuple[str, str]:
    """`payload.version`, else the ref when it is a version tag, else the commit."""
    given = text(extra, "version", "deployment.payload.version")
    if given is not None:
        return given, "deployment.payload.version"
    ref = text(deployment, "ref", "deployment.ref")
    if ref is not None:
        tag = ref.removeprefix("refs/tags/")
        if tag != ref or _TAG.match(tag):
            return tag, "deployment.ref"
    return short_version(sha), "deployment.sha"


def _service(
    extra: dict[str, Any],
    full_name: str,
    settings: GithubDeploymentSettings,
    repo_services: Mapping[str, str],
) -> tuple[str, str]:
    given = text(extra, "service", "deployment.payload.service")
    if given is not None:
        return given, "deployment.payload.service"
    short = full_name.rsplit("/", 1)[-1]
    name = (
        settings.services.get(full_name)
        or settings.services.get(short)
        or repo_services.get(full_name.lower())
    )
    return name or short, "repository.full_name"
