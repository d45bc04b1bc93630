"""GET /api/v1/sources: what can send to autoticket, and how."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request

from autoticket.api.auth import as_viewer
from autoticket.api.source_auth import auth_mode
from autoticket.sources import SOURCES, known_sources

__all__ = ["router"]

router = APIRouter(tags=["sources"])

# Where each source's requests go, when not /api/v1/ingest/{name}.
_PATHS = {"prometheus": ["/api/v2/alerts", "/api/v1/ingest/prometheus"]}


@cache
def example_payload(name: str) -> Any:
    """The registered example body of `name` (examples/payloads/<name>.json), or None."""
    path = resources.files("autoticket") / "examples" / "payloads" / f"{name}.json"
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


@router.get("/api/v1/sources", dependencies=[Depends(as_viewer)])
def list_sources(request: Request) -> dict[str, Any]:
    """Every registered source adapter: paths, content types, auth (no secrets), an example."""
    config = request.app.state.runtime.config
    items = []
    for name in known_sources():
        cls = SOURCES[name]
        items.append(
            {
                "name": name,
                "summary": cls.summary or (cls.__doc__ or "").strip().splitlines()[0],
                "paths": _PATHS.get(name, [f"/api/v1/ingest/{name}"]),
                "content_types": list(cls.content_types),
                "auth": auth_mode(config, name),
                "example": example_payload(name),
            }
        )
    return {"items": items}
