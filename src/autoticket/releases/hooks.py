"""Deploy webhooks by name: the one way their payloads become releases.

The HTTP adapters (`POST /api/v1/ingest/github-deployment`, `.../argocd`),
replay lines with those sources, `replay --dry-run` and dead-letter replay
all call `release_of_hook`, so they agree on what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoticket.config import Config
from autoticket.model import Release
from autoticket.releases.argocd import parse_argocd
from autoticket.releases.github_deployment import parse_github_deployment

__all__ = ["HOOKS", "release_of_hook"]

HOOKS = ("github-deployment", "argocd")


def release_of_hook(
    source: str, payload: Any, headers: Mapping[str, str], config: Config
) -> Release | None:
    """The release a hook's payload reports (None: an event to ignore, a ping)."""
    sources = config.releases.sources
    if source == "github-deployment":
        return parse_github_deployment(payload, headers, sources.github_deployment, _repos(config))
    if source == "argocd":
        return parse_argocd(payload, sources.argocd)
    raise ValueError(f"not a deploy hook: {source!r}")


def _repos(config: Config) -> dict[str, str]:
    """Catalog services by the `owner/name` of their `repo` (a URL or owner/name)."""
    found: dict[str, str] = {}
    for name, entry in sorted(config.catalog.services.items()):
        if entry.repo:
            path = entry.repo.lower().removesuffix(".git").rstrip("/")
            found.setdefault("/".join(path.rsplit("/", 2)[-2:]), name)
    return found
