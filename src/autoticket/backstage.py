"""Backstage catalog import: `catalog-info.yaml` entities become catalog entries.

`catalog.backstage` lists files (globs, relative to the config) and http(s)
URLs; they are read when the config is loaded (start, `check-config`) and by
`autoticket catalog import` on demand. Per entity kind:

- Component and Resource: a service. `spec.owner` is its team (the owning
  System's when it has none), `spec.dependsOn` its `depends_on`; from
  `metadata.links`, one titled or typed `runbook` is its runbook and those
  typed or iconed `dashboard` its dashboards; `backstage.io/kubernetes-id`
  with `backstage.io/kubernetes-namespace` its Kubernetes keys;
  `github.com/project-slug` its repo; `autoticket.io/tier` (or the label
  `tier`) its tier; `autoticket.io/aliases` (comma separated) its aliases.
- Group: a team (`spec.profile.displayName`, `email`; `autoticket.io/slack`).
- System: the owner its components fall back to. Other kinds are skipped.

Entity references (`group:default/payments`) keep their name. The YAML's own
`catalog:` entries win over imported ones of the same name. A source that
cannot be read, or an entity that makes no valid entry, is a problem to
report, never a reason not to start: the rest is imported.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from autoticket.config import CatalogConfig, Config, KubernetesKeys, ServiceEntry, TeamEntry

__all__ = ["Imported", "import_backstage", "with_backstage"]

FETCH_TIMEOUT = 10.0  # seconds per URL
MAX_SOURCE_BYTES = 16 * 1024 * 1024
_SERVICE_KINDS = frozenset({"component", "resource"})


@dataclass(slots=True)
class Imported:
    services: dict[str, ServiceEntry] = field(default_factory=dict)
    teams: dict[str, TeamEntry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0  # entities of other kinds
    sources: int = 0  # sources read


def _name(ref: Any) -> str:
    """`[kind:][namespace/]name` -> name."""
    text = str(ref or "").strip()
    return text.split(":", 1)[-1].split("/")[-1]


def _read(source: str, base: Path, client: httpx.Client | None) -> list[tuple[str, str]]:
    """(where, text) of each file or URL a source names."""
    if source.startswith(("http://", "https://")):
        with httpx.Client(timeout=FETCH_TIMEOUT) if client is None else _keep(client) as http:
            response = http.get(source, follow_redirects=True)
            response.raise_for_status()
            if len(response.content) > MAX_SOURCE_BYTES:
                raise ValueError(f"larger than {MAX_SOURCE_BYTES} bytes")
            return [(source, response.text)]
    pattern = str(base / source) if not Path(source).is_absolute() else source
    paths = sorted(glob.glob(pattern, recursive=True))
    if not paths:
        raise FileNotFoundError(f"no file matches {source!r}")
    return [(path, Path(path).read_text(encoding="utf-8")) for path in paths]


class _keep:
    """A caller's client as a context manager that does not close it."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __enter__(self) -> httpx.Client:
        return self.client

    def __exit__(self, *_: object) -> None:
        return None


def _entities(text: str, where: str, out: Imported) -> Iterable[tuple[str, dict[str, Any]]]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        out.problems.append(f"{where}: not YAML: {exc}")
        return
    for n, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
            out.problems.append(f"{where}: document {n}: not a Backstage entity (no metadata)")
            continue
        yield f"{where}: document {n} ({doc.get('kind')} {doc['metadata'].get('name')!r})", doc


def _links(metadata: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    runbook: str | None = None
    dashboards: dict[str, str] = {}
    for link in metadata.get("links") or []:
        if not isinstance(link, dict) or not isinstance(link.get("url"), str):
            continue
        title = str(link.get("title") or "")
        kinds = {str(link.get("type") or "").lower(), str(link.get("icon") or "").lower()}
        if "runbook" in kinds or "runbook" in title.lower():
            runbook = runbook or link["url"]
        elif "dashboard" in kinds:
            dashboards[title or f"dashboard {len(dashboards) + 1}"] = link["url"]
    return runbook, dashboards


def _service(doc: dict[str, Any], system_owners: dict[str, str]) -> dict[str, Any]:
    metadata, spec = doc["metadata"], doc.get("spec") or {}
    annotations = metadata.get("annotations") or {}
    labels = metadata.get("labels") or {}
    owner = _name(spec.get("owner")) or system_owners.get(_name(spec.get("system")), "")
    runbook, dashboards = _links(metadata)
    entry: dict[str, Any] = {
        "team": owner,
        "depends_on": [_name(ref) for ref in spec.get("dependsOn") or []],
        "runbook": annotations.get("autoticket.io/runbook") or runbook,
        "dashboards": dashboards,
        "repo": annotations.get("github.com/project-slug"),
        "tier": annotations.get("autoticket.io/tier") or labels.get("tier"),
        "aliases": [
            a.strip()
            for a in str(annotations.get("autoticket.io/aliases", "")).split(",")
            if a.strip()
        ],
    }
    workload = annotations.get("backstage.io/kubernetes-id")
    namespace = annotations.get("backstage.io/kubernetes-namespace")
    if workload and namespace:
        entry["kubernetes"] = KubernetesKeys(namespace=namespace, workload=workload)
    return entry


def _team(doc: dict[str, Any]) -> dict[str, Any]:
    profile = (doc.get("spec") or {}).get("profile") or {}
    annotations = doc["metadata"].get("annotations") or {}
    return {
        "name": profile.get("displayName"),
        "email": profile.get("email"),
        "slack": annotations.get("autoticket.io/slack"),
    }


def import_backstage(
    sources: list[str], base: Path, client: httpx.Client | None = None
) -> Imported:
    """Read every source and turn its entities into catalog entries."""
    out = Imported()
    docs: list[tuple[str, dict[str, Any]]] = []
    for source in sources:
        try:
            texts = _read(source, base, client)
        except (OSError, ValueError, httpx.HTTPError) as exc:
            out.problems.append(f"{source}: cannot be read: {exc}")
            continue
        out.sources += len(texts)
        for where, text in texts:
            docs.extend(_entities(text, where, out))
    system_owners = {
        doc["metadata"].get("name", ""): _name((doc.get("spec") or {}).get("owner"))
        for _, doc in docs
        if str(doc.get("kind", "")).lower() == "system"
    }
    for where, doc in docs:
        kind = str(doc.get("kind", "")).lower()
        name = str(doc["metadata"].get("name") or "")
        try:
            if kind in _SERVICE_KINDS:
                entry = _service(doc, system_owners)
                if not entry["team"]:
                    out.problems.append(f"{where}: spec.owner: none, nor an owning System's")
                    continue
                out.services[name] = ServiceEntry.model_validate(entry)
            elif kind == "group":
                out.teams[name] = TeamEntry.model_validate(_team(doc))
            elif kind != "system":
                out.skipped += 1
        except ValidationError as exc:
            first = exc.errors()[0]
            field_path = ".".join(str(p) for p in first["loc"])
            out.problems.append(f"{where}: {field_path}: {first['msg']}")
    return out


def with_backstage(
    config: Config, base: Path, client: httpx.Client | None = None
) -> tuple[Config, Imported]:
    """`config` with the catalog its `catalog.backstage` sources give added (its own
    entries win), and what was imported."""
    catalog = config.catalog
    imported = import_backstage(list(catalog.backstage), base, client)
    merged = CatalogConfig.model_validate(
        {
            **catalog.model_dump(),
            "services": {**imported.services, **catalog.services},
            "teams": {**imported.teams, **catalog.teams},
        }
    )
    return config.model_copy(update={"catalog": merged}), imported
