"""Argo CD notifications as releases.

Argo CD's webhook service sends whatever body its template renders, so this
adapter reads the body of the template docs/sources/deploy-webhooks.md gives:
one Application's sync as flat fields. Go's `<no value>` (a field the
Application does not have yet, such as `finishedAt` while it syncs) counts as
absent. The operation phase is kept in the `deploy_state` flag; a finished
phase (Succeeded, Failed, Error) finishes the release at `finished_at`.
"""

from __future__ import annotations

from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import Release
from autoticket.releases.hook_fields import build_release, is_commit, short_version, text
from autoticket.releases.hook_settings import ArgoCDSettings
from autoticket.sources.base import json_type, reject_unknown_fields

__all__ = ["FIELDS", "PHASES", "parse_argocd"]

PHASES = ("Running", "Terminating", "Succeeded", "Failed", "Error")
_FINISHED = frozenset({"Succeeded", "Failed", "Error"})
FIELDS = frozenset(
    {
        "app",
        "project",
        "revision",
        "version",
        "sync_status",
        "health",
        "phase",
        "started_at",
        "finished_at",
        "namespace",
        "environment",
        "deployer",
    }
)


def parse_argocd(payload: Any, settings: ArgoCDSettings, source: str = "argocd") -> Release:
    if type(payload) is not dict:
        raise PayloadError("body", f"expected a JSON object, got {json_type(payload)}")
    reject_unknown_fields(payload, FIELDS, "")
    app = text(payload, "app", "app", required=True)
    assert app is not None
    revision = text(payload, "revision", "revision")
    version = text(payload, "version", "version")
    if version is None and revision is None:
        raise PayloadError("revision", "is required (or give version)")
    namespace = text(payload, "namespace", "namespace")
    environment = text(payload, "environment", "environment")
    if environment is None and namespace is None:
        raise PayloadError("environment", "is required (or give the destination namespace)")
    phase = _phase(payload)
    flags = {"deploy_state": (phase or "unknown").lower()}
    for key in ("sync_status", "health"):
        if (value := text(payload, key, key)) is not None:
            flags[key] = value
    finished = text(payload, "finished_at", "finished_at")
    return build_release(
        {
            "service": (settings.services.get(app, app), "app"),
            "environment": (
                environment or settings.environment(namespace or ""),
                "environment" if environment else "namespace",
            ),
            "version": (
                version or short_version(revision or ""),
                "version" if version else "revision",
            ),
            "started_at": (text(payload, "started_at", "started_at"), "started_at"),
            "finished_at": (
                finished if phase is None or phase in _FINISHED else None,
                "finished_at",
            ),
            "commit": (revision if is_commit(revision) else None, "revision"),
            "deployer": (text(payload, "deployer", "deployer"), "deployer"),
            "flags": (flags, "phase"),
        },
        source,
    )


def _phase(payload: dict[str, Any]) -> str | None:
    phase = text(payload, "phase", "phase")
    if phase is not None and phase not in PHASES:
        raise PayloadError("phase", f"expected one of {', '.join(PHASES)}, got {phase[:64]!r}")
    return phase
