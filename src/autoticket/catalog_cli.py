"""`autoticket catalog import SOURCE...`: what Backstage entities give, on demand.

Prints the services and teams as the `catalog:` YAML autoticket would use (to
review, or to paste), and every problem; exit 1 when a source gave problems.
The running service imports `catalog.backstage` when it starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

__all__ = ["catalog_app"]

catalog_app = typer.Typer(help="The service catalog: import from Backstage.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


@catalog_app.command("import")
def import_command(
    sources: Annotated[list[str], typer.Argument(help="catalog-info.yaml files, globs or URLs")],
) -> None:
    """Read Backstage entities and print the catalog they make."""
    from autoticket.backstage import import_backstage

    imported = import_backstage(sources, Path.cwd())
    services = {
        name: entry.model_dump(mode="json", exclude_defaults=True)
        for name, entry in sorted(imported.services.items())
    }
    teams = {
        name: entry.model_dump(mode="json", exclude_defaults=True)
        for name, entry in sorted(imported.teams.items())
    }
    typer.echo(yaml.safe_dump({"catalog": {"services": services, "teams": teams}}, sort_keys=False))
    err.print(
        f"{imported.sources} source(s): {len(services)} service(s), {len(teams)} team(s), "
        f"{imported.skipped} entit(ies) of other kinds skipped"
    )
    for problem in imported.problems:
        err.print(f"problem: {problem}", markup=False, highlight=False)
    if imported.problems:
        raise typer.Exit(1)
