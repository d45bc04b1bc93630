"""Start-up and status lines stay on one line when stderr is not a terminal (issue 12)."""

from __future__ import annotations

import pytest

from autoticket import cli, token_cli


@pytest.mark.parametrize("console", [cli.err, token_cli.err])
def test_a_long_line_is_not_wrapped_off_a_terminal(
    console: object, capsys: pytest.CaptureFixture[str]
) -> None:
    where = "http://127.0.0.1:8080/ (database sqlite:///" + "/very/long/path" * 12 + "/a.db)"
    console.print(f"autoticket serving on [bold]{where}[/bold]")  # type: ignore[attr-defined]
    written = capsys.readouterr().err
    assert written == f"autoticket serving on {where}\n"
