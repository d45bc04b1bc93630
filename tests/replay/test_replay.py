"""Replay follows DESIGN.md: same pipeline, virtual clock, deterministic output."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.config import Config
from autoticket.replay import replay
from conftest import EXAMPLES, am_alert, am_payload

DEMO = EXAMPLES / "streams" / "demo.ndjson"


def _line(line_id: str, at: str, body: object, source: str = "alertmanager") -> bytes:
    return orjson.dumps(
        {
            "id": line_id,
            "source": source,
            "received_at": at,
            "headers": {"content-type": "application/json"},
            "body": body,
        }
    )


def _run(lines: list[bytes], config: Config, batch_size: int = 200) -> dict:
    return replay(iter(lines), config, batch_size=batch_size).output


def test_output_shape(config: Config) -> None:
    out = _run(DEMO.read_bytes().splitlines(), config)
    assert set(out) == {"tickets", "errors", "releases", "stats"}
    ticket = out["tickets"][0]
    assert {
        "id",
        "incident_id",
        "title",
        "team",
        "priority",
        "status",
        "opened_at",
        "resolved_at",
        "line_ids",
    } <= set(ticket)
    assert out["errors"] == [{"line_id": "L-bad", "error": "alerts: expected an array, got string"}]
    assert out["stats"]["tickets"] == len(out["tickets"]) == 5


def test_identical_across_runs_and_batch_sizes(config: Config) -> None:
    lines = DEMO.read_bytes().splitlines()
    outputs = [json.dumps(_run(lines, config, b), sort_keys=True) for b in (200, 200, 1, 3, 7)]
    assert len(set(outputs)) == 1


def test_virtual_clock_resolves_and_reopens(config: Config) -> None:
    firing = am_payload(am_alert())
    resolved = am_payload(am_alert(status="resolved"))
    lines = [
        _line("a", "2026-01-05T10:00:00Z", firing),
        _line("b", "2026-01-05T10:00:00.010Z", firing),  # the HA twin
        _line("c", "2026-01-05T10:10:00Z", resolved),
        # 15 min after the auto-resolve: the same ticket reopens
        _line("d", "2026-01-05T10:30:00Z", am_payload(am_alert(starts_at="2026-01-05T10:29:00Z"))),
        _line(
            "e",
            "2026-01-05T10:40:00Z",
            am_payload(
                am_alert(
                    status="resolved",
                    starts_at="2026-01-05T10:29:00Z",
                    ends_at="2026-01-05T10:39:00Z",
                )
            ),
        ),
        # hours later: a new ticket
        _line("f", "2026-01-05T13:00:00Z", am_payload(am_alert(starts_at="2026-01-05T12:59:00Z"))),
    ]
    out = _run(lines, config)
    first, second = out["tickets"]
    assert first["status"] == "resolved"
    assert first["reopen_count"] == 1
    assert first["resolved_at"] == "2026-01-05T10:45:00Z"  # e + resolve_after (5m)
    assert first["line_ids"] == ["a", "b", "c", "d", "e"]
    assert second["status"] == "open"
    assert second["line_ids"] == ["f"]
    assert first["opened_at"] == "2026-01-05T10:00:00Z"


def test_pending_timers_fire_at_the_end(config: Config) -> None:
    lines = [
        _line("a", "2026-01-05T10:00:00Z", am_payload(am_alert())),
        _line("b", "2026-01-05T10:01:00Z", am_payload(am_alert(status="resolved"))),
    ]
    [ticket] = _run(lines, config)["tickets"]
    assert ticket["status"] == "resolved"
    assert ticket["resolved_at"] == "2026-01-05T10:06:00Z"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", "unexpected character"),
        (
            b'{"id": "x", "source": "alertmanager", "received_at": "2026-01-05T10:00:00",'
            b' "body": {}}',
            "no time zone",
        ),
        (b'{"id": "x", "received_at": "2026-01-05T10:00:00Z", "body": {}}', "source"),
        (
            b'{"id": "x", "source": "alertmanager", "received_at": "2026-01-05T10:00:00Z"}',
            "body is missing",
        ),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_bad_lines_are_reported_not_fatal(config: Config, raw: bytes, error: str) -> None:
    good = _line("ok", "2026-01-05T10:00:00Z", am_payload(am_alert()))
    out = _run([raw, good], config)
    assert len(out["errors"]) == 1
    assert error in out["errors"][0]["error"]
    assert len(out["tickets"]) == 1


def test_bodies_over_the_ingest_limit_are_refused_as_live(config: Config) -> None:
    big = am_payload(am_alert(alertname="Big", summary="x" * 4000))
    small = am_payload(am_alert(alertname="Small"))
    ingest = config.ingest.model_copy(update={"max_body_bytes": 3000})
    config = config.model_copy(update={"ingest": ingest})
    out = _run(
        [_line("big", "2026-01-05T10:00:00Z", big), _line("ok", "2026-01-05T10:00:01Z", small)],
        config,
    )
    assert [e["line_id"] for e in out["errors"]] == ["big"]
    assert "exceed ingest.max_body_bytes (3000)" in out["errors"][0]["error"]
    assert [t["line_ids"] for t in out["tickets"]] == [["ok"]]


def test_duplicate_line_ids_are_errors(config: Config) -> None:
    line = _line("same", "2026-01-05T10:00:00Z", am_payload(am_alert()))
    out = _run([line, line], config)
    assert out["errors"] == [{"line_id": "same", "error": "duplicate line id 'same'"}]


def test_cli_replay_writes_output_and_dry_run_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "out.json"
    result = runner.invoke(app, ["replay", str(DEMO), "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(target.read_text())["tickets"]) == 5
    result = runner.invoke(app, ["replay", str(DEMO), "--dry-run"])
    assert result.exit_code == 1  # the demo stream holds one bad line on purpose
    summary = json.loads(result.stdout)
    assert summary["errors"][0]["line_id"] == "L-bad"
    assert summary["lines_by_source"]["generic"] == 1


def test_opened_at_does_not_depend_on_batching(config: Config) -> None:
    """Two alerts of one group a minute apart: the ticket opened with the first."""
    lines = [
        _line("a", "2026-01-05T10:00:00Z", am_payload(am_alert(instance="1"))),
        _line("b", "2026-01-05T10:01:00Z", am_payload(am_alert(instance="2"))),
    ]
    for batch_size in (1, 200):
        [ticket] = _run(lines, config, batch_size)["tickets"]
        assert ticket["opened_at"] == "2026-01-05T10:00:00Z", batch_size


def test_late_resolve_of_a_previous_episode_is_stale(config: Config) -> None:
    """Peer B announces a new episode before peer A's retried resolve of the old one."""
    lines = [
        _line("a", "2026-01-05T00:00:00Z", am_payload(am_alert(starts_at="2026-01-05T00:00:00Z"))),
        _line("b", "2026-01-05T00:10:00Z", am_payload(am_alert(starts_at="2026-01-05T00:09:00Z"))),
        _line(
            "c",
            "2026-01-05T00:10:01Z",
            am_payload(
                am_alert(
                    status="resolved",
                    starts_at="2026-01-05T00:00:00Z",
                    ends_at="2026-01-05T00:08:00Z",
                )
            ),
        ),
        _line("d", "2026-01-05T00:50:00Z", am_payload(am_alert(starts_at="2026-01-05T00:09:00Z"))),
    ]
    [ticket] = _run(lines, config)["tickets"]
    assert ticket["status"] == "open"
    assert ticket["resolved_at"] is None
    assert ticket["reopen_count"] == 0


def test_unrelated_generic_events_are_separate_incidents(config: Config) -> None:
    titles = ["Nightly backup failed", "Certificate expires in 6 days", "CI runner disk full"]
    lines = [
        _line(
            f"g{i}", f"2026-01-05T10:0{i}:00Z", {"title": t, "service": "payments-api"}, "generic"
        )
        for i, t in enumerate(titles)
    ]
    out = _run(lines, config)
    assert sorted(t["title"] for t in out["tickets"]) == sorted(titles)


def test_the_virtual_clock_never_runs_backwards(config: Config) -> None:
    """A resolve and a refire filed behind a later line: same result for every batch size."""
    lines = [
        _line("a", "2026-01-05T09:00:00Z", am_payload(am_alert(starts_at="2026-01-05T08:59:00Z"))),
        _line("late", "2026-01-05T10:00:00Z", am_payload(am_alert(alertname="Other"))),
        _line(
            "r",
            "2026-01-05T09:50:00Z",
            am_payload(
                am_alert(
                    status="resolved",
                    starts_at="2026-01-05T08:59:00Z",
                    ends_at="2026-01-05T09:49:00Z",
                )
            ),
        ),
        _line("f", "2026-01-05T09:58:00Z", am_payload(am_alert(starts_at="2026-01-05T09:57:00Z"))),
    ]
    outputs = {json.dumps(_run(lines, config, b), sort_keys=True) for b in (1, 2, 200)}
    assert len(outputs) == 1
    out = json.loads(outputs.pop())
    assert out["stats"]["out_of_order_lines"] == 2
    for ticket in out["tickets"]:
        assert ticket["resolved_at"] is None or ticket["resolved_at"] >= ticket["opened_at"]


def test_external_sinks_are_never_called_and_their_actions_are_counted() -> None:
    """A backtest calls no remote: the webhook's actions stay queued, one per built-in one."""
    from autoticket.config import parse_config_text

    routes = "routes: [{name: default, group_by: [alertname, service], sinks: %s}]\n"
    hook = "sinks: {hook: {type: webhook, url: 'http://127.0.0.1:9/x', secret_env: UNSET}}\n"
    lines = DEMO.read_bytes().splitlines()
    plain = _run(lines, parse_config_text(routes % "[builtin]"))
    both = _run(lines, parse_config_text(hook + routes % "[builtin, hook]"))
    assert plain["stats"]["external_actions"] == {}
    assert both["tickets"] == plain["tickets"]
    external = both["stats"].pop("external_actions")
    plain["stats"].pop("external_actions")
    assert both["stats"] == plain["stats"]
    assert external["hook"] >= len(both["tickets"]) > 0  # at least each ticket's open


def test_demo_output_is_unchanged_across_refactors(config: Config) -> None:
    """The bundled stream's output, recorded before the engine round replaced the
    worker's and replay's own loops: a behaviour change shows up here first."""
    expected = json.loads((Path(__file__).parent / "demo.expected.json").read_text())
    for batch_size in (1, 7, 200):
        out = _run(DEMO.read_bytes().splitlines(), config, batch_size)
        out["stats"].pop("external_actions")
        assert out == expected, f"batch size {batch_size}"


def test_batches_stay_full_when_timers_fall_due_inside_them(config: Config) -> None:
    """Timers fire between the events of a batch, so replay does not cut batches short:
    the demo stream (timers due all along it) is one batch at size 200."""
    lines = DEMO.read_bytes().splitlines()
    result = replay(iter(lines), config, batch_size=200)
    assert result.batches == 1
    assert result.deliveries == 24
    small = replay(iter(lines), config, batch_size=7)
    assert (small.batches, small.deliveries) == (4, 24)
