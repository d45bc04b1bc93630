"""Deploy webhook bodies as GitHub and Argo CD send them (written from their documented shapes)."""

from __future__ import annotations

import copy
from typing import Any

SHA = "7638417db6d59f3c431d3e1f261cc637155684cd"

_USER = {
    "login": "octocat",
    "id": 583231,
    "node_id": "MDQ6VXNlcjU4MzIzMQ==",
    "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": False,
}

_DEPLOYMENT: dict[str, Any] = {
    "url": "https://api.github.com/repos/acme/checkout/deployments/1208460923",
    "id": 1208460923,
    "node_id": "DE_kwDOJaGJ2c5IB8R7",
    "task": "deploy",
    "original_environment": "production",
    "environment": "production",
    "description": "Deploy request from hubot",
    "created_at": "2026-11-20T09:00:00Z",
    "updated_at": "2026-11-20T09:00:00Z",
    "statuses_url": "https://api.github.com/repos/acme/checkout/deployments/1208460923/statuses",
    "repository_url": "https://api.github.com/repos/acme/checkout",
    "creator": _USER,
    "sha": SHA,
    "ref": "v1.4.2",
    "payload": {},
    "transient_environment": False,
    "production_environment": True,
    "performed_via_github_app": None,
}

_REPOSITORY = {
    "id": 631474649,
    "node_id": "R_kgDOJaGJ2Q",
    "name": "checkout",
    "full_name": "acme/checkout",
    "private": True,
    "owner": {**_USER, "login": "acme", "type": "Organization"},
    "html_url": "https://github.com/acme/checkout",
    "default_branch": "main",
}


def github_status(
    state: str = "success", at: str = "2026-11-20T09:12:00Z", **deployment: Any
) -> dict[str, Any]:
    """A `deployment_status` webhook body (action `created`)."""
    dep = copy.deepcopy(_DEPLOYMENT) | deployment
    return {
        "action": "created",
        "deployment_status": {
            "url": f"{dep['url']}/statuses/2718281828",
            "id": 2718281828,
            "node_id": "DES_kwDOJaGJ2c6iBiKE",
            "state": state,
            "creator": _USER,
            "description": f"Deployment {state}",
            "environment": dep["environment"],
            "target_url": "https://github.com/acme/checkout/actions/runs/6642/job/1",
            "log_url": "https://github.com/acme/checkout/actions/runs/6642/job/1",
            "environment_url": "https://checkout.acme.example",
            "created_at": at,
            "updated_at": at,
            "deployment_url": dep["url"],
            "repository_url": dep["repository_url"],
            "performed_via_github_app": None,
        },
        "deployment": dep,
        "repository": copy.deepcopy(_REPOSITORY),
        "organization": {"login": "acme", "id": 9919},
        "sender": _USER,
    }


def github_ping() -> dict[str, Any]:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 450921,
        "hook": {"type": "Repository", "id": 450921, "events": ["deployment_status"]},
        "repository": copy.deepcopy(_REPOSITORY),
        "sender": _USER,
    }


def argocd(phase: str = "Succeeded", **fields: Any) -> dict[str, Any]:
    """The body of the documented Argo CD webhook template, as rendered for one sync."""
    body = {
        "app": "checkout-prod",
        "project": "payments",
        "revision": SHA,
        "version": "<no value>",
        "sync_status": "Synced",
        "health": "Healthy" if phase == "Succeeded" else "Progressing",
        "phase": phase,
        "started_at": "2026-11-20T09:00:00Z",
        "finished_at": "<no value>" if phase == "Running" else "2026-11-20T09:03:30Z",
        "namespace": "checkout",
        "environment": "<no value>",
        "deployer": "alice@acme.example",
    }
    return body | fields
