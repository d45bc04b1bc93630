"""Mask secrets in a raw request body the way the redact stage masks an event.

A JSON body is walked: every string is masked as a field is, a value under a
secret-named key whole (under `labels`, with the label rule). Anything else is
masked as text. A body with nothing to mask is returned as it came, byte for
byte, so clean deliveries replay exactly; a masked JSON body is re-serialised.
"""

from __future__ import annotations

import json
from typing import Any

from autoticket.model import Delivery
from autoticket.pipeline.redact import Redactor

__all__ = ["as_stored", "redact_body", "redact_body_text", "redact_document", "redact_headers"]


def as_stored(delivery: Delivery, redactor: Redactor | None) -> Delivery:
    """The delivery as the inbox and dead letters keep it: as received when
    `redactor` is None (`retention.raw_bodies: keep`), else body and headers masked."""
    if redactor is None:
        return delivery
    body, _ = redact_body(delivery.body, redactor)
    return Delivery(
        delivery.id,
        delivery.source,
        delivery.received_at,
        body,
        redact_headers(delivery.headers, redactor),
        delivery.inbox_id,
    )


def redact_body(body: bytes, redactor: Redactor) -> tuple[bytes, dict[str, int]]:
    """The body with its secrets masked, and the count per kind.

    A body that is not UTF-8 is read as Latin-1 (every byte one character), so
    ASCII secrets in it are still found and the other bytes come back unchanged.
    """
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = body.decode("latin-1"), "latin-1"
    masked, counts = redact_body_text(text, redactor)
    if not counts:
        return body, counts
    return masked.encode(encoding, errors="replace"), counts


def redact_body_text(text: str, redactor: Redactor) -> tuple[str, dict[str, int]]:
    """`text` with its secrets masked (JSON walked, else as text), and the counts."""
    counts: dict[str, int] = {}
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return redactor.redact(text)
    try:
        masked = _walk(doc, None, redactor, counts)
    except RecursionError:  # nested deeper than the walk goes: mask it as text
        return redactor.redact(text)
    if not counts:
        return text, counts
    return json.dumps(masked, ensure_ascii=False), counts


def redact_document(doc: Any, redactor: Redactor) -> tuple[Any, dict[str, int]]:
    """A parsed JSON document (an outbox payload) with its strings masked, and the counts."""
    counts: dict[str, int] = {}
    try:
        return _walk(doc, None, redactor, counts), counts
    except RecursionError:
        masked, counts = redact_body_text(json.dumps(doc), redactor)
        return json.loads(masked), counts


def redact_headers(headers: dict[str, str], redactor: Redactor) -> dict[str, str]:
    """Header values masked, secret-named headers whole (`Authorization`, `Cookie`)."""
    return {k: redactor.redact_keyed(k, str(v))[0] for k, v in headers.items()}


def _walk(node: Any, parent: str | None, redactor: Redactor, counts: dict[str, int]) -> Any:
    if isinstance(node, str):
        return _add(redactor.redact(node), counts)
    if isinstance(node, list):
        return [_walk(item, parent, redactor, counts) for item in node]
    if not isinstance(node, dict):
        return node
    label = parent == "labels"
    out: dict[str, Any] = {}
    for key, value in node.items():
        new_key = _add(redactor.redact(key), counts)
        if isinstance(value, str):
            out[new_key] = _add(redactor.redact_keyed(key, value, label=label), counts)
        else:
            out[new_key] = _walk(value, key, redactor, counts)
    return out


def _add(result: tuple[str, dict[str, int]], counts: dict[str, int]) -> str:
    text, found = result
    for kind, n in found.items():
        counts[kind] = counts.get(kind, 0) + n
    return text
