"""Dead letters: what could not be processed, why, and a way to try again.

The views never show a stored payload as it came: text bodies go through the
redactor (secrets masked, counts in `redacted`), binary bodies are described
by their size only, and credential headers are left out. The raw body stays
stored, for replay.

The list shows metadata and a short preview of each body, read from the
database as a prefix (a page of 1 MiB bodies must not be loaded, redacted and
sent whole); `GET /{id}` shows the whole body, redacted.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection

from autoticket.api.auth import Principal, as_admin, as_viewer
from autoticket.api.deps import (
    MAX_DB_INT,
    DbId,
    Offset,
    body_preview,
    raw_body_redactor,
    read_conn,
    redactor_of,
    runtime_of,
    write_conn,
)
from autoticket.api.errors import ApiError
from autoticket.api.releases import record_release
from autoticket.errors import PayloadError
from autoticket.model import Delivery
from autoticket.pipeline.redact import Redactor
from autoticket.pipeline.redact_body import as_stored
from autoticket.releases.hooks import HOOKS, release_of_hook
from autoticket.service.runtime import Runtime
from autoticket.sources import parse_delivery
from autoticket.sources.base import decode_json
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import (
    accepted_result,
    earlier_replay_id,
    failed_result,
    get_dead_letter,
    list_dead_letters,
    mark_replayed,
    replay_delivery_id,
)

__all__ = ["dead_letter_summaries", "replay_dead_letter", "router"]

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead-letters"])
log = logging.getLogger("autoticket.api")

# The list's preview of a body: its first PREVIEW_CHARS characters. Redaction
# runs over the first _HEAD_BYTES, so a secret that starts inside the preview
# and ends after it is still recognized whole before the preview is cut.
PREVIEW_CHARS = 512
_HEAD_BYTES = 2048
_ERROR_CHARS = 1024
MAX_PAGE = 1000

# Header names that carry credentials or session state: never shown.
_SECRET_HEADER = re.compile(
    r"(?i)auth|cookie|key$|api[-_]?key|token|secret|passw|session|signature|credential"
)


def _merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        into[kind] = into.get(kind, 0) + n


def _shown_headers(headers: Any, redactor: Redactor, counts: dict[str, int]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for name, value in dict(headers or {}).items():
        if _SECRET_HEADER.search(str(name)):
            continue
        masked, found = redactor.redact(str(value))
        _merge(counts, found)
        shown[str(name)] = masked
    return shown


def _view(row: Any, redactor: Redactor) -> dict[str, Any]:
    redacted: dict[str, int] = {}
    error, found = redactor.redact(row.error or "")
    _merge(redacted, found)
    headers = _shown_headers(row.headers, redactor, redacted)
    body, found = body_preview(bytes(row.body), redactor)
    _merge(redacted, found)
    return {
        "id": row.id,
        "delivery_id": row.delivery_id,
        "source": row.source,
        "received_at": row.received_at,
        "stage": row.stage,
        "field": row.field,
        "error": error,
        "status_code": row.status_code,
        "size": len(row.body),
        "replay_count": row.replay_count,
        "replayed_at": row.replayed_at,
        "replay_result": row.replay_result,
        "headers": headers,
        "body": body,
        "redacted": redacted,
    }


def _summary(row: Any, redactor: Redactor) -> dict[str, Any]:
    """A list item: metadata and a preview of the body (`row.head`, `row.size`)."""
    redacted: dict[str, int] = {}
    error = row.error or ""
    if len(error) > _ERROR_CHARS:
        error = error[:_ERROR_CHARS] + "…"
    error, found = redactor.redact(error)
    _merge(redacted, found)
    headers = _shown_headers(row.headers, redactor, redacted)
    preview, found = _preview(bytes(row.head or b""), int(row.size or 0), redactor)
    _merge(redacted, found)
    return {
        "id": row.id,
        "delivery_id": row.delivery_id,
        "source": row.source,
        "received_at": row.received_at,
        "stage": row.stage,
        "field": row.field,
        "error": error,
        "status_code": row.status_code,
        "size": int(row.size or 0),
        "replay_count": row.replay_count,
        "replayed_at": row.replayed_at,
        "replay_result": row.replay_result,
        "headers": headers,
        "preview": preview,
        "redacted": redacted,
    }


def _preview(head: bytes, size: int, redactor: Redactor) -> tuple[dict[str, Any], dict[str, int]]:
    """The first PREVIEW_CHARS characters of a body whose first bytes are `head`."""
    text = _decode_head(head, whole=len(head) >= size)
    if text is None:
        return {"encoding": "binary", "size": size, "text": None, "truncated": False}, {}
    if text.lstrip()[:1] in ("{", "["):
        # A cut JSON body cannot be parsed and redacted value by value as the
        # body view is; its string escapes are undone instead, so that a secret
        # after an escaped newline (`\nglpat-...`) starts a word as it would.
        text = _JSON_ESCAPE.sub(_unescape, text)
    masked, counts = redactor.redact(text)
    truncated = len(head) < size or len(masked) > PREVIEW_CHARS
    shown = {"encoding": "utf-8", "size": size, "text": masked[:PREVIEW_CHARS]}
    return {**shown, "truncated": truncated}, counts


_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_ESCAPED = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] != "u":
        return _ESCAPED[code]
    point = int(code[1:], 16)
    # A surrogate alone cannot be sent as UTF-8 (the answer was a 500): keep it escaped.
    return match.group(0) if 0xD800 <= point <= 0xDFFF else chr(point)


def _decode_head(head: bytes, whole: bool) -> str | None:
    """UTF-8 text of `head`, dropping a character cut at its end; None if not UTF-8."""
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_at_end = exc.reason == "unexpected end of data" and exc.start >= len(head) - 3
        if whole or not cut_at_end:
            return None
        return head[: exc.start].decode("utf-8")


def dead_letter_summaries(
    request: Request, limit: int, offset: int = 0, before_id: int | None = None
) -> list[dict[str, Any]]:
    """A page of list items, newest first, redacted (the API's list and the UI's page)."""
    with read_conn(request) as conn:
        rows = list_dead_letters(
            conn, limit, max(0, offset), before_id=before_id, head_bytes=_HEAD_BYTES
        )
    redactor = redactor_of(request)
    return [_summary(r, redactor) for r in rows]


@router.get("", dependencies=[Depends(as_viewer)])
def get_dead_letters(
    request: Request,
    limit: int = 100,
    offset: Offset = 0,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
) -> dict[str, Any]:
    """Newest first, PREVIEW_CHARS of each body; page on with `before_id=next_before_id`."""
    limit = max(1, min(limit, MAX_PAGE))
    items = dead_letter_summaries(request, limit, offset, before_id)
    return {"items": items, "next_before_id": items[-1]["id"] if len(items) == limit else None}


@router.get("/{dead_letter_id}", dependencies=[Depends(as_viewer)])
def get_one(request: Request, dead_letter_id: DbId) -> dict[str, Any]:
    with read_conn(request) as conn:
        row = get_dead_letter(conn, dead_letter_id)
    if row is None:
        raise ApiError(404, "not_found", f"no dead letter {dead_letter_id}", "dead_letter_id")
    return _view(row, redactor_of(request))


@router.post("/{dead_letter_id}/replay")
def replay(
    request: Request,
    dead_letter_id: DbId,
    principal: Annotated[Principal, Depends(as_admin)],
    force: bool = False,
) -> dict[str, Any]:
    """Parse the kept payload again (after a fix or a config change) and feed it in.

    Once a replay was accepted, another one is refused (409 `already_replayed`)
    unless `force=true`: its events would go in twice.
    """
    return replay_dead_letter(request, dead_letter_id, principal.name, force)


def replay_dead_letter(
    request: Request, dead_letter_id: int, who: str, force: bool = False
) -> dict[str, Any]:
    """The replay itself, for the API and the UI's button; ApiError says why not.

    The row is locked for the whole replay, so concurrent replays of one dead
    letter take turns and the replay number (hence the delivery id) comes from
    what the lock read. The caller has checked that `who` is an admin.
    """
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with write_conn(request) as conn:
        row = get_dead_letter(conn, dead_letter_id, lock=True)
        if row is None:
            raise ApiError(404, "not_found", f"no dead letter {dead_letter_id}", "dead_letter_id")
        earlier = earlier_replay_id(row)
        if earlier is not None and not force:
            raise ApiError(
                409,
                "already_replayed",
                f"dead letter {dead_letter_id} was already replayed and accepted as delivery "
                f"{earlier}; replay with ?force=true to feed its events in again",
                "dead_letter_id",
                delivery_id=earlier,
            )
        delivery = Delivery(
            replay_delivery_id(row.delivery_id, row.replay_count + 1),
            row.source,
            now,
            bytes(row.body),
            dict(row.headers),
        )
        delivery = as_stored(delivery, raw_body_redactor(request))  # kept raw before a switch
        try:
            release_id: int | None = None
            if delivery.source in HOOKS:  # a deploy webhook: a release, not events
                release_id = _replay_hook(conn, runtime, delivery)
                ids = []
            else:
                config = runtime.config
                events = parse_delivery(
                    delivery, config.ingest.max_events_per_delivery, config.adapter_settings
                )
                ids = [e.id for e in events]
        except PayloadError as exc:
            reason = f"{exc.field}: {exc.reason}"
            mark_replayed(conn, dead_letter_id, now, failed_result(reason, earlier))
            error = ApiError(422, "replay_failed", f"still failing: {reason}", exc.field)
        else:
            if delivery.source not in HOOKS:
                inbox_store.append(conn, [(delivery, len(ids))])
            accepted = len(ids) if delivery.source not in HOOKS else int(release_id is not None)
            mark_replayed(conn, dead_letter_id, now, accepted_result(accepted, delivery.id))
            error = None
    if error is not None:
        raise error
    runtime.worker.wake()
    log.info("dead letter %s replayed by %s as %s", dead_letter_id, who, delivery.id)
    shown = {"release_id": release_id} if delivery.source in HOOKS else {}
    return {
        "accepted": accepted,
        "ids": ids,
        "delivery_id": delivery.id,
        "replayed_by": who,
    } | shown


def _replay_hook(conn: Connection, runtime: Runtime, delivery: Delivery) -> int | None:
    """Record a deploy hook's release; its id (None for a ping). Raises PayloadError."""
    release = release_of_hook(
        delivery.source, decode_json(delivery.body), delivery.headers, runtime.config
    )
    if release is None:
        return None
    row, _ = record_release(conn, release, delivery.received_at)
    inbox_store.append(conn, [(delivery, 0)], processed_at=delivery.received_at)
    return int(row.id)
