"""`autoticket token create|list|revoke`: people's API tokens (docs/security.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from autoticket.config import Settings

__all__ = ["token_app"]

token_app = typer.Typer(help="Create, list and revoke API tokens of people.", no_args_is_help=True)
# Log lines stay whole when stderr is a file or pipe: no wrapping at 80 columns.
err = Console(stderr=True, soft_wrap=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(help="default: $AUTOTICKET_DATABASE_URL or sqlite:///autoticket.db"),
]


def _engine(database_url: str | None) -> Engine:
    from autoticket.store import make_engine, migrate

    engine = make_engine(database_url or Settings.from_env().database_url)
    migrate(engine)
    return engine


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="whose token: shown on the timeline for their actions")],
    role: Annotated[str, typer.Option(help="viewer, responder or admin")] = "viewer",
    database_url: DatabaseOpt = None,
) -> None:
    """Create a token and print its secret, once: only its hash is stored."""
    from autoticket.store.tokens import create_token

    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            token, secret = create_token(conn, name, role, datetime.now(UTC))
    except ValueError as exc:
        err.print(f"token: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    err.print(f"token {token.id} for {token.name} ({token.role}); it is shown only now:")
    typer.echo(secret)


@token_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="also revoked tokens")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """List tokens (never their secrets)."""
    from autoticket.store.tokens import list_tokens

    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            tokens = list_tokens(conn, include_revoked=all_)
    finally:
        engine.dispose()
    typer.echo(f"{'id':>4}  {'name':<24} {'role':<10} {'created':<19}  {'last used':<19}  revoked")
    for t in tokens:
        typer.echo(
            f"{t.id:>4}  {t.name:<24} {t.role:<10} {_when(t.created_at):<19}  "
            f"{_when(t.last_used_at):<19}  {_when(t.revoked_at)}"
        )


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="the id `token list` shows")],
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a token: its API calls and UI sessions stop working at once."""
    from autoticket.store.tokens import revoke_token

    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            revoked = revoke_token(conn, token_id, datetime.now(UTC))
    finally:
        engine.dispose()
    if not revoked:
        err.print(f"token: no active token {token_id}", style="red", markup=False)
        raise typer.Exit(1)
    err.print(f"token {token_id} revoked")
