"""check-config judges what a config means, not only its shape: every error and
warning in one run, errors exit 2, warnings alone exit 0; serve agrees."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoticket.checks import check_config_text
from autoticket.cli import app
from autoticket.config_meaning import condition_labels

CATALOG = (
    "catalog:\n"  # 1
    "  default_team: ops\n"  # 2
    "  services:\n"  # 3
    "    web: {team: web, depends_on: [db]}\n"  # 4
    "    db: {team: ops}\n"  # 5
    "  teams:\n"  # 6
    "    ops: {name: Ops}\n"  # 7
    "    web: {name: Web}\n"  # 8
)

ERRORS = [
    (
        "routes:\n  - name: a\n    priorities: {warning: P9}\n",
        3,
        "routes.0.priorities.warning",
        "priority 'P9' is not among the configured priorities (P1, P2, P3, P4",
    ),
    (
        CATALOG + "routes:\n  - name: a\n    team: paymnts\n",
        11,
        "routes.0.team",
        "team 'paymnts' is not in the catalog; known teams: ops, web",
    ),
    (
        CATALOG.replace("{team: ops}", "{team: dba}"),
        5,
        "catalog.services.db.team",
        "team 'dba' is not under catalog.teams",
    ),
    (
        CATALOG.replace("default_team: ops", "default_team: opz"),
        2,
        "catalog.default_team",
        "team 'opz' is not under catalog.teams (did you mean 'ops'?)",
    ),
    (
        "routes:\n  - name: a\n    sinks: [builtin, jira-ops]\n",
        3,
        "routes.0.sinks.1",
        "unknown sink 'jira-ops'",
    ),
]


def _run(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    target = tmp_path / "config.yaml"
    target.write_text(text)
    result = CliRunner().invoke(app, [*args] if args else ["check-config", str(target)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(("text", "line", "path", "fragment"), ERRORS)
def test_a_config_wrong_in_meaning_is_an_error(
    tmp_path: Path, text: str, line: int, path: str, fragment: str
) -> None:
    code, out = _run(tmp_path, text)
    assert code == 2, out
    assert f"line {line}: {path}: {fragment}" in out
    assert "1 error(s)" in out


def test_the_catalog_and_priorities_it_declares_are_ok(tmp_path: Path) -> None:
    text = CATALOG + (
        "priorities: {critical: P0}\n"
        "routes:\n  - name: a\n    team: web\n    priorities: {critical: P0, warning: P2}\n"
    )
    code, out = _run(tmp_path, text)
    assert code == 0, out
    assert "warning" not in out


def test_a_route_team_is_not_checked_against_an_empty_catalog(tmp_path: Path) -> None:
    """Without a catalog the team comes from the route or the alert's `team` label."""
    code, out = _run(tmp_path, "routes:\n  - name: a\n    team: payments\n")
    assert code == 0, out


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    code, out = _run(tmp_path, text)
    assert code == 2
    assert "the file is empty (no settings)" in out
    assert "Traceback" not in out


def test_a_condition_on_a_label_no_one_sets_is_a_warning(tmp_path: Path) -> None:
    text = "routes:\n  - name: a\n    condition: 'labels.regoin == \"eu\"'\n"
    code, out = _run(tmp_path, text)
    assert code == 0, out
    assert "0 error(s), 1 warning(s)" in out
    assert "line 3: routes.0.condition: warning: label 'regoin' is set by no source" in out
    assert "ok (1 routes, 0 services, 1 warning(s))" in out


def test_labels_the_config_or_the_sources_use_are_not_warned(tmp_path: Path) -> None:
    text = (
        "routes:\n"
        "  - name: a\n"
        "    matchers: ['region=\"eu\"']\n"
        "    group_by: [alertname, shard]\n"
        "  - name: b\n"
        "    condition: >-\n"
        "      labels.region == 'eu' && labels['shard'] != '' && 'namespace' in labels\n"
        "      && labels.service == 'x' && labels.size() > 0\n"
    )
    code, out = _run(tmp_path, text)
    assert code == 0, out
    assert "warning" not in out


def test_a_dependency_on_an_unknown_service_is_a_warning(tmp_path: Path) -> None:
    code, out = _run(tmp_path, CATALOG.replace("depends_on: [db]", "depends_on: [dbb]"))
    assert code == 0, out
    assert "line 4: catalog.services.web.depends_on.0: warning: service 'dbb' is not in" in out


def test_condition_labels_reads_every_form() -> None:
    condition = (
        "labels.a == 'x' && labels[\"b\"] == 'y' && 'c' in labels && \"d\" in labels"
        " && labels.exists(k, k == 'z') && labels.a != ''"
    )
    assert condition_labels(condition) == ["a", "b", "c", "d"]


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    """Schema errors, meaning errors and warnings together, in file order."""
    text = (
        "timers:\n"  # 1
        "  resolve_after: soon\n"  # 2
        + CATALOG.replace("depends_on: [db]", "depends_on: [cache]")  # 3-10
        + "routes:\n"  # 11
        "  - name: a\n"  # 12
        "    team: paymnts\n"  # 13
        "    priorities: {warning: P9}\n"  # 14
        "    condition: 'labels.regoin == \"eu\"'\n"  # 15
        "    sinks: [builtin, jira]\n"  # 16
        "bogus: 1\n"  # 17
    )
    code, out = _run(tmp_path, text)
    assert code == 2, out
    assert "5 error(s), 2 warning(s)" in out
    expected = [
        "line 2: timers.resolve_after: Value error, not a duration",
        "line 6: catalog.services.web.depends_on.0: warning: service 'cache'",
        "line 13: routes.0.team: team 'paymnts'",
        "line 14: routes.0.priorities.warning: priority 'P9'",
        "line 15: routes.0.condition: warning: label 'regoin'",
        "line 16: routes.0.sinks.1: unknown sink 'jira'",
        "line 17: bogus: Extra inputs are not permitted",
    ]
    positions = [out.find(fragment) for fragment in expected]
    assert -1 not in positions, out
    assert positions == sorted(positions)


def test_a_failed_section_causes_no_second_false_problem() -> None:
    """The catalog fails the schema: its teams are unknown, so route teams are not judged."""
    text = "catalog:\n  services: {x: {tier: 1}}\nroutes:\n  - name: a\n    team: payments\n"
    report = check_config_text(text)
    assert [p.path for p in report.errors] == ["catalog.services.x.team"]


def test_a_catastrophic_regex_runs_in_linear_time_under_re2(tmp_path: Path) -> None:
    """(a+)+$ backtracks exponentially in Python's re; RE2 cannot backtrack at all."""
    text = (
        "redaction:\n  patterns:\n    - {name: runs, regex: '(a+)+$'}\n"
        "routes:\n  - name: a\n    matchers: ['job=~\"(a+)+$\"']\n"
    )
    code, out = _run(tmp_path, text)
    assert code == 0, out
    assert "2 regex(es) compiled by RE2, which runs in linear time" in out
    from autoticket.pipeline.redact import Redactor
    from autoticket.regex import ConfigRegex

    config = check_config_text(text).checked()
    redactor = Redactor(config.redaction)
    runs = [p for p in redactor.patterns if p.name == "runs"]
    assert len(runs) == 1 and isinstance(runs[0].regex, ConfigRegex)
    evil = "a" * 50_000 + "!"  # the input that makes a backtracking engine give up
    assert redactor.redact(evil) == (evil, {})
    masked, counts = redactor.redact("x-aaaa")
    assert counts == {"runs": 1} and "aaaa" not in masked


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_refuses_errors_with_the_same_messages(tmp_path: Path) -> None:
    text = "routes:\n  - name: a\n    priorities: {warning: P9}\n"
    database = tmp_path / "never.db"
    args = ["serve", "--config", str(tmp_path / "config.yaml"), "--port", "0"]
    code, out = _run(tmp_path, text, *args, "--database-url", f"sqlite:///{database}")
    assert code == 2
    assert "line 3: routes.0.priorities.warning: priority 'P9' is not among" in out
    assert not database.exists()


def test_serve_starts_on_warnings_and_prints_them(tmp_path: Path, taken: int) -> None:
    """Past the config check: the next step (the taken port) is what stops it."""
    text = "routes:\n  - name: a\n    condition: 'labels.regoin == \"eu\"'\n"
    args = ["serve", "--config", str(tmp_path / "config.yaml"), "--port", str(taken)]
    code, out = _run(tmp_path, text, *args)
    assert "config warning:" in out
    assert "line 3: routes.0.condition: label 'regoin' is set by no source" in out
    assert f"cannot listen on 127.0.0.1:{taken}" in out
    assert code == 2
