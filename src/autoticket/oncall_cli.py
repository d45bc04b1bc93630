"""`autoticket oncall TEAM [--at T]`: who is on call for a team now or at any instant."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from autoticket.api.oncall import on_call_view, parse_instant
from autoticket.checks import check_config_file
from autoticket.config import ConfigError, Settings
from autoticket.oncall import UnknownTeam, refresh_feeds

__all__ = ["oncall"]

err = Console(stderr=True, soft_wrap=True)


def oncall(
    team: Annotated[str, typer.Argument(help="a team of the catalog (catalog.teams)")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="RFC 3339 time with an offset, e.g. 2026-03-29T09:00:00+02:00"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config (default: $AUTOTICKET_CONFIG or bundled)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the answer as JSON")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="fetch the iCalendar feeds' URLs first")
    ] = False,
) -> None:
    """Who is on call for TEAM now (or --at T), and which override or layer decided it.

    Exit 2 for an unknown team, a bad time or a bad config; 1 when nobody is on call."""
    report = check_config_file(config or Settings.from_env().config_path)
    try:
        cfg = report.checked()
    except ConfigError as exc:
        err.print(f"config error: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    try:
        instant = parse_instant(at) if at is not None else datetime.now(UTC)
    except ValueError as exc:
        err.print(f"--at: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    if refresh:
        for name, error in refresh_feeds(cfg).items():
            if error:
                err.print(f"feed {name}: {error} (using the last copy)", style="yellow")
    try:
        view = on_call_view(cfg, team, instant)
    except UnknownTeam as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(_text(view))
    if view["user"] is None:
        raise typer.Exit(1)


def _text(view: dict[str, object]) -> str:
    if view["user"] is None:
        return f"nobody is on call for {view['team']} at {view['at']}: {view['reason']}"
    shift = ""
    if view.get("shift_start"):
        shift = f", shift {view['shift_start']} to {view['shift_end']}"
    decided = "an override" if view["source"] == "override" else f"layer {view['layer']!r}"
    return (
        f"{view['user']} is on call for {view['team']} at {view['at']} "
        f"(schedule {view['schedule']}, {decided}{shift})"
    )
