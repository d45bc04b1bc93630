"""What the deploy webhook adapters share: reading their fields, building the release.

An adapter gathers the fields of a release from its payload, each with the
path it came from, and `build_release` checks them exactly as
`POST /api/v1/releases` does; an error names the payload's path, not the
release's field, so the sender knows what to fix.
"""

from __future__ import annotations

import re
from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import Release
from autoticket.releases.events import parse_release
from autoticket.sources.base import json_type

__all__ = ["MISSING", "build_release", "is_commit", "obj", "short_version", "text"]

# Go's text/template prints a missing map key as "<no value>" (Argo CD templates).
MISSING = frozenset({"", "<no value>"})
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def obj(parent: dict[str, Any], key: str, path: str, required: bool = True) -> dict[str, Any]:
    """`parent[key]` as an object; {} when absent and not `required`."""
    value = parent.get(key)
    if value is None and not required:
        return {}
    if type(value) is not dict:
        raise PayloadError(path, f"expected an object, got {json_type(value)}")
    return value


def text(parent: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
    """`parent[key]` as a string; None when absent or empty (`<no value>` too)."""
    value = parent.get(key)
    if value is not None and type(value) is not str:
        raise PayloadError(path, f"expected a string, got {json_type(value)}")
    if value is None or value.strip() in MISSING:
        if required:
            raise PayloadError(path, "is required (a non-empty string)")
        return None
    return value


def short_version(revision: str) -> str:
    """A commit hash as a version: its first 12 characters, as git shows it."""
    return revision[:12] if _SHA.match(revision) else revision


def is_commit(value: str | None) -> bool:
    return value is not None and _SHA.match(value) is not None


def build_release(fields: dict[str, tuple[Any, str]], source: str) -> Release:
    """A Release from `{release field: (value, payload path)}`, checked as the API checks it."""
    body = {name: value for name, (value, _) in fields.items() if value is not None}
    try:
        return parse_release(body, source=source)
    except PayloadError as exc:
        path = fields.get(exc.field.split(".", 1)[0], (None, exc.field))[1]
        raise PayloadError(path, exc.reason, exc.status) from None
