"""`autoticket token create|list|revoke`, tokens in the store, and serve's bind rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from autoticket.cli import _check_exposure, app
from autoticket.service.listen import is_loopback
from autoticket.store import make_engine
from autoticket.store.tables import api_tokens
from autoticket.store.tokens import (
    create_token,
    find_token,
    hash_token,
    list_tokens,
    revoke_token,
    touch_token,
)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_secret_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out, err = _run("token", "create", "--name", "alice", "--role", "responder",
                          "--database-url", url)  # fmt: skip
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("at_") and len(secret) > 40
    assert "alice (responder)" in err
    code, listed, _ = _run("token", "list", "--database-url", url)
    assert code == 0
    assert "alice" in listed and "responder" in listed and secret not in listed
    engine = make_engine(url)
    with engine.connect() as conn:
        [row] = conn.execute(select(api_tokens)).all()
    engine.dispose()
    assert row.token_hash == hash_token(secret) and secret not in row
    code, _, err = _run("token", "revoke", str(row.id), "--database-url", url)
    assert code == 0, err
    assert "alice" not in _run("token", "list", "--database-url", url)[1]
    assert "alice" in _run("token", "list", "--all", "--database-url", url)[1]
    code, _, err = _run("token", "revoke", str(row.id), "--database-url", url)
    assert code == 1 and f"no active token {row.id}" in err


def test_create_refuses_an_unknown_role(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out, err = _run("token", "create", "--name", "x", "--role", "root", "--database-url", url)
    assert code == 2
    assert "role must be one of viewer, responder, admin" in err
    assert out == ""


def test_tokens_in_the_store(engine: Engine) -> None:
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        token, secret = create_token(conn, " bob ", "admin", t0)
        _, other = create_token(conn, "carol", "viewer", t0)
    assert token.name == "bob" and secret != other
    with engine.begin() as conn:
        found = find_token(conn, secret)
        assert found is not None and (found.name, found.role) == ("bob", "admin")
        touch_token(conn, found, t0 + timedelta(seconds=5))
        touched = find_token(conn, secret)
        assert touched is not None and touched.last_used_at == t0 + timedelta(seconds=5)
        touch_token(conn, touched, t0 + timedelta(seconds=30))  # within a minute: no write
        again = find_token(conn, secret)
        assert again is not None and again.last_used_at == t0 + timedelta(seconds=5)
        assert find_token(conn, secret + "x") is None
        assert revoke_token(conn, token.id, t0)
        assert not revoke_token(conn, token.id, t0)
        assert find_token(conn, secret) is None
        assert [t.name for t in list_tokens(conn)] == ["carol"]
        assert [t.name for t in list_tokens(conn, include_revoked=True)] == ["bob", "carol"]
    with engine.begin() as conn, pytest.raises(ValueError, match="name must be"):
        create_token(conn, "  ", "viewer", t0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


class _Runtime:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def test_serve_refuses_a_public_address_without_tokens_unless_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoticket.store import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    runtime = _Runtime(engine)
    note = _check_exposure(runtime, "127.0.0.1", insecure=False)
    assert note is not None and "serving on loopback only" in note
    with pytest.raises(typer.Exit) as refused:
        _check_exposure(runtime, "0.0.0.0", insecure=False)
    assert refused.value.exit_code == 2
    assert "refusing to serve 0.0.0.0 without authentication" in capsys.readouterr().err
    assert _check_exposure(runtime, "0.0.0.0", insecure=True) is None
    assert "WARNING: --insecure" in capsys.readouterr().err
    with engine.begin() as conn:
        create_token(conn, "ops", "admin", datetime.now(UTC))
    assert _check_exposure(runtime, "0.0.0.0", insecure=False) is None
    assert _check_exposure(runtime, "127.0.0.1", insecure=False) is None
    assert capsys.readouterr().err == ""
    engine.dispose()


def test_serve_on_all_addresses_without_a_token_exits_before_serving(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out, err = _run("serve", "--host", "0.0.0.0", "--port", "0", "--database-url", url)
    assert code == 2
    assert "refusing to serve 0.0.0.0 without authentication" in err
    assert "serving on" not in err + out
