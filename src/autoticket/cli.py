"""The `autoticket` command line."""

from __future__ import annotations

import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from autoticket.checks import ConfigReport, check_config_file
from autoticket.config import Config, ConfigError, Settings, format_duration, parse_duration

app = typer.Typer(
    help="autoticket: alerts in, accountable tickets out.",
    no_args_is_help=True,
    add_completion=False,
)
# Log lines stay whole when stderr is a file or pipe: no wrapping at 80 columns.
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config (default: $AUTOTICKET_CONFIG or bundled)"),
]


# The demo fills its store with example incidents: a file of its own, so
# `make demo` never mixes them into the database `make run` serves.
DEMO_DATABASE_URL = "sqlite:///autoticket-demo.db"


def _config(path: Path | None, secrets: bool = True) -> Config:
    """The checked config; its warnings printed, its errors printed and exit 2."""
    report = check_config_file(path or Settings.from_env().config_path, secrets=secrets)
    _print_warnings(report)
    try:
        return report.checked()
    except ConfigError as exc:
        err.print(f"config error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _print_warnings(report: ConfigReport) -> None:
    for problem in report.warnings:
        err.print(
            f"config warning: {report.source}: {problem}",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )


def _duration_option(value: str) -> timedelta:
    """A timer flag's value, read like the config's durations (30s, 5m, 1h30m, 7d)."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _timer_option(key: str) -> object:
    return typer.Option(
        parser=_duration_option,
        metavar="DURATION",
        help=f"override {key} of the config (e.g. 30s, 5m), for quick trials",
        show_default=False,
    )


ResolveAfterOpt = Annotated[timedelta | None, _timer_option("timers.resolve_after")]
ReopenWithinOpt = Annotated[timedelta | None, _timer_option("timers.reopen_within")]
UpdateIntervalOpt = Annotated[timedelta | None, _timer_option("tickets.update_interval")]


def _with_timers(
    config: Config,
    resolve_after: timedelta | None,
    reopen_within: timedelta | None,
    update_interval: timedelta | None,
) -> tuple[Config, str]:
    """The config with the timer flags applied, and how to say so in the start-up line.

    The text lists the three timers as they will run, marking those a flag set;
    empty when no flag was given (the config's values are in the file)."""
    timers = {
        k: v
        for k, v in (("resolve_after", resolve_after), ("reopen_within", reopen_within))
        if v is not None
    }
    tickets = {"update_interval": update_interval} if update_interval is not None else {}
    if not timers and not tickets:
        return config, ""
    config = config.model_copy(
        update={
            "timers": config.timers.model_copy(update=timers),
            "tickets": config.tickets.model_copy(update=tickets),
        }
    )
    shown = [
        ("resolve_after", config.timers.resolve_after, "resolve_after" in timers),
        ("reopen_within", config.timers.reopen_within, "reopen_within" in timers),
        ("update_interval", config.tickets.update_interval, bool(tickets)),
    ]
    parts = [f"{k} {format_duration(v)}{' (flag)' if flagged else ''}" for k, v, flagged in shown]
    return config, "timers: " + ", ".join(parts)


PortOpt = Annotated[int, typer.Option(min=0, max=65535, help="port to listen on (0: any free)")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(help="default: $AUTOTICKET_DATABASE_URL or sqlite:///autoticket.db"),
]
MigrateOpt = Annotated[
    bool | None,
    typer.Option(
        "--migrate/--no-migrate",
        envvar="AUTOTICKET_MIGRATE",
        help="apply pending schema migrations at start; default: yes on SQLite, and on "
        "PostgreSQL only check the schema and refuse to start when it is behind "
        "(run `autoticket migrate`)",
        show_default=False,
    ),
]


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: PortOpt = 8080,
    database_url: Annotated[
        str | None,
        typer.Option(help="default: $AUTOTICKET_DATABASE_URL or sqlite:///autoticket.db"),
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="also run the worker in this process")
    ] = True,
    migrate: MigrateOpt = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="serve a non-loopback address although no API token exists"
        ),
    ] = False,
    resolve_after: ResolveAfterOpt = None,
    reopen_within: ReopenWithinOpt = None,
    update_interval: UpdateIntervalOpt = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="a log line per request; default: the config's server.access_log (on)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the HTTP API, the UI and (unless --no-worker) the worker in one process."""
    import uvicorn

    from autoticket.api.app import create_app
    from autoticket.service.http_protocol import with_header_deadline
    from autoticket.service.listen import bound_port
    from autoticket.service.logs import configure_logging

    configure_logging()
    cfg, timers = _with_timers(_config(config), resolve_after, reopen_within, update_interval)
    if access_log is not None:
        server_cfg = cfg.server.model_copy(update={"access_log": access_log})
        cfg = cfg.model_copy(update={"server": server_cfg})
    limits = cfg.server
    sock = _listen(host, port, limits.backlog)
    url = database_url or Settings.from_env().database_url
    runtime = _runtime(cfg, url, migrate, start_worker=worker)
    note = _check_exposure(runtime, host, insecure)
    where = f"http://{_url_host(host)}:{bound_port(sock)}/"
    extra = f"; {timers}" if timers else ""
    err.print(f"autoticket serving on [bold]{where}[/bold] (database {_safe(url)}{extra})")
    if note:
        err.print(note, markup=False, soft_wrap=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, extra_hosts=[host]),
            log_level="warning",
            access_log=False,  # ours is one line per request, with who made it
            # h11, with a deadline on headers: its limits hold whatever else is installed.
            http=with_header_deadline(limits.header_timeout.total_seconds()),
            timeout_keep_alive=max(1, round(limits.keep_alive_timeout.total_seconds())),
            limit_concurrency=limits.max_connections,
            backlog=limits.backlog,
            h11_max_incomplete_event_size=limits.max_header_bytes,
        )
    )
    server.run(sockets=[sock])


def _listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Bind the port first: a taken one is one clear line and exit 2, before any start-up."""
    from autoticket.service.listen import ListenError, listen

    try:
        return listen(host, port, backlog)
    except ListenError as exc:
        err.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _check_exposure(runtime: object, host: str, insecure: bool) -> str | None:
    """Without any API token the service is open to whoever reaches it: loopback only.

    Exits (2) on another address unless `insecure`; returns what to tell the
    operator once serving, if anything."""
    from autoticket.service.listen import is_loopback
    from autoticket.store import read_only
    from autoticket.store.tokens import active_token_count

    with read_only(runtime.engine) as conn:  # type: ignore[attr-defined]
        tokens = active_token_count(conn)
    if tokens:
        return None
    if is_loopback(host):
        return (
            "no API tokens exist: serving on loopback only, anonymous users may read, "
            "acknowledge and resolve (dead-letter replay needs an admin token); "
            "create one with `autoticket token create`"
        )
    if not insecure:
        err.print(
            f"refusing to serve {host} without authentication: no API token exists. "
            "Create one (`autoticket token create --name NAME --role admin`), bind "
            "127.0.0.1, or pass --insecure",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    err.print(
        f"WARNING: --insecure: serving {host} with no API token; anyone who reaches it "
        "may read, acknowledge and resolve",
        style="yellow",
        markup=False,
        soft_wrap=True,
    )
    return None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _runtime(config: object, url: str, migrate: bool | None = None, **kwargs: object) -> object:
    """Open the database and migrate it (or check its schema), or say clearly why not (exit 2).

    `migrate` None: migrate the embedded SQLite store; on a server database only
    check, so the runtime role needs no schema rights (`autoticket migrate` does it).
    """
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from autoticket.service.runtime import Runtime
    from autoticket.store.schema import SchemaNotReady

    migrate_schema = _is_sqlite(url) if migrate is None else migrate
    try:
        return Runtime.from_url(config, url, migrate_schema, **kwargs)  # type: ignore[arg-type]
    except ConfigError as exc:  # a sink's settings, or a secret it names, is missing
        err.print(f"config error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except SchemaNotReady as exc:
        err.print(
            f"database not ready ({_safe(url)}): {exc}", style="red", markup=False, soft_wrap=True
        )
        raise typer.Exit(2) from None
    except (SQLAlchemyError, ArgumentError, ImportError, OSError, ValueError) as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        err.print(
            f"database error ({_safe(url)}): {type(exc).__name__}: {first}",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _safe(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


@app.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(help="config YAML to validate")],
    probe: Annotated[
        bool,
        typer.Option(
            "--probe", help="also check each sink's reachability and credentials (harmless reads)"
        ),
    ] = False,
) -> None:
    """Validate a config file: every error and warning in one run, line-numbered.

    Exit 2 with any error, 0 with only warnings (printed). With --probe, each
    sink is then called with a harmless read; exit 3 when one failed."""
    report = check_config_file(file)
    if report.errors:
        err.print(_report_text(report), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2)
    cfg = report.checked()
    if report.warnings:
        err.print(_report_text(report), style="yellow", markup=False, soft_wrap=True)
    warned = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    typer.echo(
        f"{file}: ok ({len(cfg.all_routes)} routes, {len(cfg.catalog.services)} services{warned}); "
        f"{report.regexes} regex(es) compiled by RE2, which runs in linear time: "
        "no pattern can backtrack catastrophically"
    )
    if probe:
        _probe_sinks(cfg)


def _probe_sinks(cfg: Config) -> None:
    from autoticket.sinks.probe import probe_sinks

    outcomes = probe_sinks(cfg)
    for o in outcomes:
        line = f"sink {o.sink} ({o.type}): {o.outcome}: {o.detail}"
        if o.outcome == "failed":
            err.print(line, style="red", markup=False, soft_wrap=True)
        else:
            typer.echo(line)
    failed = [o.sink for o in outcomes if o.outcome == "failed"]
    if failed:
        err.print(f"probe failed for: {', '.join(failed)}", style="red", markup=False)
        raise typer.Exit(3)


def _report_text(report: ConfigReport) -> str:
    """Errors and warnings in file order, one per line; a warning says so after its path."""
    found = [(p, "") for p in report.errors] + [(p, "warning: ") for p in report.warnings]
    found.sort(key=lambda item: item[0].line if item[0].line is not None else 1 << 30)
    lines = [
        f"  {'line ' + str(p.line) + ': ' if p.line else ''}{p.path}: {tag}{p.message}"
        for p, tag in found
    ]
    head = f"{report.source}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    return "\n".join([head, *lines])


@app.command()
def replay(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="NDJSON stream, one delivery per line"),
    ],
    config: ConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write JSON here")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="deliveries per batch")] = 200,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only check the stream: parse every line")
    ] = False,
) -> None:
    """Backtest a config: run a recorded stream through the pipeline on a virtual clock."""
    from autoticket.replay import replay as run_replay
    from autoticket.replay.check import check_stream

    cfg = _config(config, secrets=False)
    started = time.perf_counter()
    with file.open("rb") as fh:
        if dry_run:
            summary = check_stream(iter(fh), cfg)
            text = orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode()
            if output:
                output.write_text(text + "\n")
            else:
                typer.echo(text)
            raise typer.Exit(1 if summary["errors"] else 0)
        result = run_replay(
            iter(fh),
            cfg,
            batch_size=batch_size,  # type: ignore[arg-type]
            progress=lambda n: err.print(f"… {n} lines"),
        )
    elapsed = time.perf_counter() - started
    data = orjson.dumps(result.output, option=orjson.OPT_INDENT_2)
    if output:
        output.write_bytes(data + b"\n")
    else:
        sys.stdout.buffer.write(data + b"\n")
    stats = result.output["stats"]
    err.print(
        f"replayed {result.lines} lines, {result.events} events in {elapsed:.2f}s "
        f"({result.events / elapsed if elapsed else 0:.0f} events/s): "
        f"{stats['tickets']} tickets, {stats['errors']} errors"
    )


@app.command()
def worker(
    config: ConfigOpt = None,
    database_url: DatabaseOpt = None,
    migrate: MigrateOpt = None,
    resolve_after: ResolveAfterOpt = None,
    reopen_within: ReopenWithinOpt = None,
    update_interval: UpdateIntervalOpt = None,
) -> None:
    """Run only the worker (inbox -> tickets -> external sinks), next to API processes
    sharing the database."""

    from autoticket.service.logs import configure_logging

    configure_logging()
    cfg, timers = _with_timers(_config(config), resolve_after, reopen_within, update_interval)
    url = database_url or Settings.from_env().database_url
    runtime = _runtime(cfg, url, migrate)
    runtime.worker.start()
    runtime.external.start()  # the lanes of external sinks run where the workers run
    err.print(f"worker running{f' ({timers})' if timers else ''}; Ctrl-C to stop")
    try:
        while runtime.worker.alive:
            time.sleep(1)
    except KeyboardInterrupt:
        runtime.worker.stop()
        runtime.external.stop()


@app.command("migrate")
def migrate_schema(
    database_url: DatabaseOpt = None,
    sql: Annotated[
        bool, typer.Option("--sql", help="print the SQL instead of running it (for review)")
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="with --sql: the revision to start from (default: the database's)"
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="only report; exit 1 when migrations are pending")
    ] = False,
) -> None:
    """Bring the database schema to this version's revision (a deploy step of its own)."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from autoticket.store import make_engine, migrate
    from autoticket.store.schema import migration_sql, schema_state

    url = database_url or Settings.from_env().database_url
    if sql and start is not None:
        dialect = "sqlite" if _is_sqlite(url) else "postgresql"
        sys.stdout.write(migration_sql(dialect, None if start == "base" else start))
        return
    try:
        engine = make_engine(url)
        state = schema_state(engine)
        where = (
            f"{_safe(url)}: schema at {state.current or '(none)'}, this version's is {state.head}"
        )
        if sql:
            sys.stdout.write(migration_sql(engine.dialect.name, state.current))
        elif state.pending and not check:
            err.print(f"{where}; applying {', '.join(state.pending)}", markup=False)
            migrate(engine)
            err.print(f"now at {schema_state(engine).current}", markup=False)
        else:
            err.print(
                f"{where}; " + (f"pending: {', '.join(state.pending)}" if state.pending
                                else "up to date" if state.known else "newer than this version"),
                markup=False,
            )  # fmt: skip
        engine.dispose()
    except (SQLAlchemyError, ArgumentError, ImportError, OSError, ValueError) as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        err.print(
            f"database error ({_safe(url)}): {type(exc).__name__}: {first}",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    if check and state.pending:
        raise typer.Exit(1)


@app.command()
def demo(
    config: ConfigOpt = None,
    port: PortOpt = 8080,
    database_url: Annotated[
        str,
        typer.Option(
            help="the demo's own store: never the one `make run` / `serve` use "
            "($AUTOTICKET_DATABASE_URL or sqlite:///autoticket.db)"
        ),
    ] = DEMO_DATABASE_URL,
) -> None:
    """Start the server and feed it the bundled example stream so the UI has content."""
    from autoticket.demo import run_demo
    from autoticket.service.logs import configure_logging

    configure_logging()
    cfg = _config(config)
    sock = _listen("127.0.0.1", port)
    runtime = _runtime(cfg, database_url)
    run_demo(cfg, sock, runtime)  # type: ignore[arg-type]


@app.command()
def bench(
    output: Annotated[Path, typer.Option(help="write JSON results here")] = Path(
        "bench/results.json"
    ),
    quick: Annotated[bool, typer.Option(help="small sizes, for a smoke run")] = False,
    live_only: Annotated[
        bool, typer.Option(help="skip replay: the live server part only (before/after pairs)")
    ] = False,
    rates: Annotated[
        str | None, typer.Option(help="steady rates in events/s, comma-separated (250,500,1000)")
    ] = None,
) -> None:
    """Measure replay and live throughput, event->ticket latency and peak memory."""
    try:
        rate_list = tuple(float(r) for r in rates.split(",") if r.strip()) if rates else None
    except ValueError:
        err.print(f"[red]--rates: expected comma-separated numbers, got {rates!r}[/red]")
        raise typer.Exit(2) from None
    if rate_list is not None and (not rate_list or min(rate_list) <= 0):
        err.print(f"[red]--rates: every rate must be more than 0, got {rates!r}[/red]")
        raise typer.Exit(2)
    sys.path.insert(0, str(Path.cwd()))  # bench/ lives in the repository, not the package
    try:
        from bench.harness import run_bench
    except ImportError:
        err.print("[red]bench/ is not importable: run from the repository root[/red]")
        raise typer.Exit(2) from None
    run_bench(output, quick=quick, live_only=live_only, rates=rate_list)


@app.command("bench-releases")
def bench_releases(
    seeds: Annotated[str, typer.Option(help="comma-separated corpus seeds")] = "1,2,3",
    output: Annotated[Path, typer.Option(help="write JSON results here")] = Path(
        "bench/release_results.json"
    ),
) -> None:
    """Score the release judge on the seeded corpus, beside a fixed-threshold baseline."""
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        err.print(f"[red]--seeds: expected comma-separated integers, got {seeds!r}[/red]")
        raise typer.Exit(2) from None
    sys.path.insert(0, str(Path.cwd()))  # bench/ lives in the repository, not the package
    try:
        from bench.release_score import run_release_bench
    except ImportError:
        err.print("[red]bench/ is not importable: run from the repository root[/red]")
        raise typer.Exit(2) from None
    run_release_bench(seed_list, output)


from autoticket.token_cli import token_app  # noqa: E402  (registers `autoticket token`)

app.add_typer(token_app, name="token")

from autoticket.oncall_cli import oncall  # noqa: E402  (registers `autoticket oncall`)

app.command("oncall")(oncall)

from autoticket.scenario_cli import scenario_app, simulate  # noqa: E402  (the scenario lab)

app.add_typer(scenario_app, name="scenario")
app.command()(simulate)

from autoticket.catalog_cli import catalog_app  # noqa: E402  (registers `autoticket catalog`)

app.add_typer(catalog_app, name="catalog")

if __name__ == "__main__":
    app()
