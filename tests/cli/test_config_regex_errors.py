"""A regex in the config that RE2 cannot run: exit 2 and the line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoticket.cli import app

BAD_REGEXES = [
    (
        "redaction:\n  patterns:\n    - name: session\n      regex: 'sess_[A-Za-z0-9{24,}'\n",
        4,
        "redaction.patterns.0.regex",
        "missing ]",
    ),
    (
        "redaction:\n  patterns:\n    - name: a\n      regex: 'x'\n"
        "    - name: b\n      regex: '(?<=key=)\\w+'\n",
        6,
        "redaction.patterns.1.regex",
        "lookahead and lookbehind are not supported",
    ),
    (
        "routes:\n  - name: a\n    matchers:\n      - 'env=\"x\"'\n      - 'job=~\"a(?!b)\"'\n",
        5,
        "routes.0.matchers.1",
        "lookahead and lookbehind are not supported",
    ),
]


@pytest.mark.parametrize("command", ["check-config", "serve"])
@pytest.mark.parametrize(("text", "line", "path", "fragment"), BAD_REGEXES)
def test_a_regex_re2_cannot_run_is_a_config_error(
    tmp_path: Path, command: str, text: str, line: int, path: str, fragment: str
) -> None:
    target = tmp_path / "bad.yaml"
    target.write_text(text)
    database = tmp_path / "never.db"
    args = [command, str(target)]
    if command == "serve":
        args = ["serve", "--config", str(target), "--port", "0"]
        args += ["--database-url", f"sqlite:///{database}"]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert f"line {line}: {path}:" in flat
    assert fragment in flat
    assert "Traceback" not in result.output
    assert not database.exists()
