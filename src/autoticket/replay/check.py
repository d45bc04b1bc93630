"""`replay --dry-run`: check a stream without running the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from autoticket.config import Config, load_config
from autoticket.errors import PayloadError
from autoticket.releases.events import parse_release
from autoticket.releases.hooks import HOOKS, release_of_hook
from autoticket.releases.samples import parse_samples
from autoticket.replay.stream import RELEASE_SOURCES, LineError, read_lines
from autoticket.sources import parse_delivery
from autoticket.sources.base import decode_json

__all__ = ["check_stream"]


def check_stream(lines: Iterator[bytes], config: Config | None = None) -> dict[str, Any]:
    config = config or load_config(None)
    errors: list[dict[str, str]] = []
    by_source: dict[str, int] = {}
    events = 0
    for item in read_lines(lines):
        if isinstance(item, LineError):
            errors.append({"line_id": item.line_id, "error": item.error})
            continue
        d = item.delivery
        by_source[d.source] = by_source.get(d.source, 0) + 1
        try:
            if d.source == "release":
                parse_release(decode_json(d.body), source="replay")
            elif d.source == "metrics":
                parse_samples(decode_json(d.body))
            elif d.source in HOOKS:
                release_of_hook(d.source, decode_json(d.body), d.headers, config)
            elif d.source not in RELEASE_SOURCES:
                events += len(parse_delivery(d, None, config.adapter_settings))
        except PayloadError as exc:
            errors.append({"line_id": d.id, "error": f"{exc.field}: {exc.reason}"})
    return {"lines_by_source": by_source, "events": events, "errors": errors}
