"""`autoticket scenario generate|score` and `autoticket simulate`: the scenario lab (issue 15).

The lab itself lives in the repository's `bench/` (bench/README.md), not in
the package: these commands import it when they run, from the current
directory, as `autoticket bench` does.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["scenario_app", "simulate"]

scenario_app = typer.Typer(
    help="Seeded fleets with faults, noise and ground truth; score tickets against them.",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config (default: the scenario's config.yaml)"),
]


def _bench() -> None:
    """Make `bench` importable, or exit 2 saying why."""
    sys.path.insert(0, str(Path.cwd()))  # bench/ lives in the repository, not the package
    try:
        import bench.scenario  # noqa: F401
    except ImportError:
        err.print("[red]bench/ is not importable: run from the repository root[/red]")
        raise typer.Exit(2) from None


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None


def _duration(value: str) -> timedelta:
    from autoticket.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _checked_config(path: Path) -> Any:
    from autoticket.cli import _config

    return _config(path, secrets=False)


@scenario_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory to write the scenario to")],
    seed: Annotated[int, typer.Option(help="the same seed gives the same bytes")] = 1,
    hours: Annotated[float, typer.Option(min=1, help="virtual span of the scenario")] = 24.0,
    scale: Annotated[
        float, typer.Option(min=0.01, help="multiplies every fault and noise count")
    ] = 1.0,
) -> None:
    """Write stream.ndjson, truth.json, catalog.yaml and config.yaml for one seed."""
    _bench()
    from bench.scenario import ScenarioSpec, build_scenario, write_scenario

    scenario = build_scenario(ScenarioSpec(seed=seed, span=timedelta(hours=hours), scale=scale))
    paths = write_scenario(scenario, out)
    stats = scenario.stats
    err.print(
        f"seed {seed}: {stats['lines']} lines, {stats['alerts_in_bodies']} alerts, "
        f"{stats['actionable_delivered']} actionable incidents, {stats['noise_delivered']} noise "
        f"groups -> {', '.join(str(p) for p in paths.values())}",
        markup=False,
    )


@scenario_app.command("score")
def score(
    scenarios: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True, file_okay=False, help="scenario directories (generate's output)"
        ),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="instead of directories: generate these seeds (1,2,3)")
    ] = None,
    scale: Annotated[float, typer.Option(min=0.01, help="with --seeds: the counts' factor")] = 1.0,
    config: ConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write JSON here")] = None,
    reopen_duration: Annotated[
        str, typer.Option(help="the jiralert baseline's reopen_duration (0s: always reopen)")
    ] = "1h",
) -> None:
    """Replay scenarios through the pipeline and the jiralert baseline; print both, scored."""
    if not scenarios and not seeds:
        raise typer.BadParameter("give scenario directories or --seeds")
    _bench()
    from bench.jiralert import JiralertSettings
    from bench.scenario_run import default_config, generated, run_scenario_bench

    runs: list[tuple[str, list[bytes], dict[str, Any]]] = []
    for path in scenarios or []:
        lines, truth = _load(path)
        if truth is None:
            raise typer.BadParameter(f"{path}: no truth.json; scoring needs the truth")
        runs.append((str(path), lines, truth))
    if seeds:
        runs += generated(_seeds(seeds), scale)
    own = scenarios[0] / "config.yaml" if scenarios else None
    if config is not None:
        cfg = _checked_config(config)
    elif own is not None and own.exists():
        cfg = _checked_config(own)
    else:
        cfg = default_config()
    settings = JiralertSettings(reopen_duration=_duration(reopen_duration))
    results = run_scenario_bench(runs, cfg, output, settings)
    if output is None:
        import json

        typer.echo(json.dumps(_headline(results), indent=2, default=str))


def _load(path: Path) -> tuple[list[bytes], dict[str, Any] | None]:
    from bench.scenario import load_scenario

    try:
        return load_scenario(path)
    except ValueError as exc:
        err.print(f"scenario error: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    """The JSON printed when no --output is given: the figures, without per-ticket detail."""
    keep = ("raw", "premature", "missed")

    def slim(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k not in keep}

    out: dict[str, Any] = {
        "per_scenario": [
            {
                "scenario": r["scenario"],
                "autoticket": slim(r["autoticket"]),
                "jiralert": slim(r["jiralert"]),
            }
            for r in results["per_scenario"]
        ]
    }
    if "pooled" in results:
        out["pooled"] = results["pooled"]
    out["targets"] = results["targets"]
    return out


def simulate(
    scenario: Annotated[
        Path,
        typer.Argument(
            exists=True, help="scenario directory (with truth: scored) or NDJSON stream"
        ),
    ],
    config: ConfigOpt = None,
    url: Annotated[
        str | None,
        typer.Option(help="play it against this live server (a game day) instead of replaying"),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="with --url: scenario seconds per wall second")
    ] = 60.0,
    settle: Annotated[
        str, typer.Option(help="with --url: wait this long after the last line before reading back")
    ] = "10s",
    token: Annotated[
        str | None,
        typer.Option(envvar="AUTOTICKET_TOKEN", help="with --url: API token for the read-back"),
    ] = None,
    ingest_token: Annotated[
        str | None,
        typer.Option(envvar="AUTOTICKET_INGEST_TOKEN", help="with --url: token for ingest"),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write JSON here")] = None,
) -> None:
    """Run a scenario and print the tickets it would file; with --url, play it live and score it."""
    if url is None:
        _replay_summary(scenario, config)
        return
    _bench()
    import httpx
    from bench.gameday import WallPace, play, read_back

    lines, truth = _load(scenario)
    pace = WallPace()
    reads = {"authorization": f"Bearer {token}"} if token else None
    writes = {"authorization": f"Bearer {ingest_token}"} if ingest_token else None
    every = max(1, len(lines) // 20)

    def progress(n: int, total: int, at: object) -> None:
        if n % every == 0 or n == total:
            err.print(f"… {n}/{total} lines posted (scenario time {at})", markup=False)

    err.print(
        f"playing {len(lines)} lines against {url} at x{speed:g}; run the server with its "
        f"timers divided by {speed:g} (serve --resolve-after, --reopen-within)",
        markup=False,
    )
    wait = _duration(settle)
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            record = play(lines, client, pace, speed, writes, progress)
            pace.wait_until(pace.now() + wait)
            tickets = read_back(client, record, reads)
    except (httpx.HTTPError, ValueError) as exc:
        err.print(f"game day failed: {type(exc).__name__}: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    err.print(
        f"posted {record.posted} lines ({len(record.errors)} refused), "
        f"{len(tickets)} tickets hold their events",
        markup=False,
    )
    if record.unseen_events:
        err.print(
            f"note: {record.unseen_events} events of large incidents were past what the API "
            "lists per incident (explain.events); their alerts are not scored",
            style="yellow",
            markup=False,
        )
    result: dict[str, Any] = {"posted": record.posted, "errors": record.errors[:20]}
    if truth is not None:
        from bench.jiralert import jiralert_tickets
        from bench.scenario_run import print_table
        from bench.scenario_score import score as score_tickets

        ours, baseline = (
            score_tickets(tickets, truth),
            score_tickets(jiralert_tickets(lines), truth),
        )
        print_table(f"game day {scenario} at x{speed:g}", ours, baseline)
        result |= {"autoticket": ours, "jiralert": baseline}
    if output is not None:
        import json

        output.write_text(json.dumps(result, indent=2, default=str) + "\n")


def _replay_summary(scenario: Path, config: Path | None) -> None:
    """Replay the stream and print one line per ticket (what `simulate` always did)."""
    from autoticket.replay import replay as run_replay

    cfg = _checked_config(config) if config is not None else None
    stream = scenario / "stream.ndjson" if scenario.is_dir() else scenario
    if cfg is None:
        own = scenario / "config.yaml" if scenario.is_dir() else None
        cfg = _checked_config(own) if own is not None and own.exists() else _default_config()
    with stream.open("rb") as fh:
        result = run_replay(iter(fh), cfg)
    for t in result.output["tickets"]:
        typer.echo(
            f"#{t['id']} {t['priority']} [{t['status']}] {t['title']} "
            f"-> {t['team']} ({len(t['line_ids'])} line{'' if len(t['line_ids']) == 1 else 's'})"
        )
    for e in result.output["errors"]:
        typer.echo(f"error {e['line_id']}: {e['error']}")


def _default_config() -> Any:
    from autoticket.cli import _config

    return _config(None, secrets=False)
