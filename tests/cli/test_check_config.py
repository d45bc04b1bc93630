"""check-config: ok for the bundled config, line-numbered problems otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoticket.cli import app
from conftest import EXAMPLES

BAD = [
    ("timers:\n  resolve_after: soon\n", 2, "timers.resolve_after", "not a duration"),
    (
        "routes:\n  - name: a\n    matchers: ['sev==\"x\"']\n",
        3,
        "routes.0.matchers.0",
        "invalid matcher",
    ),
    ("routes:\n  - name: a\n  - name: a\n", 3, "routes.1.name", "duplicate route name"),
    ("routes:\n  - name: a\n    action: page\n", 3, "routes.0.action", "ticket"),
    ("routes:\n  - name: a\n    condition: 'labels.env =='\n", 3, "routes.0.condition", ""),
    ("catalog:\n  services:\n    web: {tier: 1}\n", 3, "catalog.services.web.team", "required"),
    ("ingest: {max_body_bytes: 1}\nbogus: 1\n", 2, "bogus", "Extra inputs"),
    ("routes: [\n", 2, "<yaml>", ""),
    ("timers:\n  resolve_after: -5\n", 2, "timers.resolve_after", "cannot be negative"),
    ("routes: [{name: a}]\nroutes: [{name: b}]\n", 2, "routes", "duplicate key"),
    ("priorities: {criticl: P1}\n", 1, "priorities.criticl.[key]", "'critical'"),
    ("redaction: {disable: [nope]}\n", 1, "redaction", "unknown kind(s) ['nope']"),
    ("timers:\n  resolve_after: .inf\n", 2, "timers.resolve_after", "too large"),
    ("timers:\n  reopen_within: 99999999999d\n", 2, "timers.reopen_within", "too large"),
    (
        "routes:\n  - name: a\n    sinks: [builtin, jira]\n",
        3,
        "routes.0.sinks.1",
        "unknown sink 'jira'",
    ),
    (
        "priorities:\n  critical: P1-most-urgent-of-all\n",
        2,
        "priorities.critical",
        "at most 16 characters",
    ),
]


def test_numeric_tier_is_read_as_a_name() -> None:
    from autoticket.config import parse_config_text

    config = parse_config_text("catalog: {services: {x: {team: t, tier: 1}}}")
    assert config.catalog.services["x"].tier == "1"


def test_bundled_config_is_ok() -> None:
    result = CliRunner().invoke(app, ["check-config", str(EXAMPLES / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


@pytest.mark.parametrize(("text", "line", "path", "fragment"), BAD)
def test_problems_name_line_and_path(
    tmp_path: Path, text: str, line: int, path: str, fragment: str
) -> None:
    target = tmp_path / "bad.yaml"
    target.write_text(text)
    result = CliRunner().invoke(app, ["check-config", str(target)])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert f"line {line}: {path}:" in flat
    assert fragment in flat
