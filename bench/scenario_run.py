"""Run scenarios through the real pipeline (replay, virtual clock) and the jiralert
baseline, score both, print them side by side (`autoticket scenario score`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from bench.jiralert import JiralertSettings, jiralert_tickets
from bench.scenario import Scenario, ScenarioSpec, build_scenario, config_yaml
from bench.scenario_score import Ticket, pool, score, targets

__all__ = [
    "PARENT_COLUMNS",
    "ROWS",
    "alert_ref",
    "cell",
    "default_config",
    "generated",
    "pipeline_tickets",
    "print_table",
    "run_scenario_bench",
    "score_lines",
    "tickets_of_store",
]

# Columns of the incidents table that name a parent incident (topology, storms),
# whichever name the correlation work gives it; none today.
PARENT_COLUMNS = ("parent_id", "parent_incident_id", "root_id")


def pipeline_tickets(lines: Sequence[bytes], config: Any) -> tuple[list[Ticket], dict[str, Any]]:
    """The tickets `autoticket replay` files for `lines` with `config`, and replay's stats."""
    from autoticket.replay import replay
    from autoticket.store import make_engine

    engine = make_engine("sqlite://")
    result = replay(iter(lines), config, engine=engine)
    tickets = tickets_of_store(engine)
    engine.dispose()
    return tickets, result.output["stats"]


def tickets_of_store(engine: Engine) -> list[Ticket]:
    """Every ticket in a store, with the alerts of its incident and of the incidents
    under it (a parent column, once there is one), and every resolution on its timeline."""
    from autoticket.store.tables import events, incidents, outbox, tickets, timeline

    with engine.connect() as conn:
        parent_col = next((incidents.c[n] for n in PARENT_COLUMNS if n in incidents.c), None)
        parents: dict[int, int | None] = {}
        cols = [incidents.c.id] + ([parent_col] if parent_col is not None else [])
        for row in conn.execute(select(*cols)):
            parents[row[0]] = row[1] if parent_col is not None else None
        # When the ticket was filed: its open action's time. The ticket row keeps the
        # incident's opening time, which a pause (or an info hold) comes after.
        filed: dict[int, datetime] = {}
        oncall: dict[int, str] = {}
        opens = select(outbox.c.incident_id, outbox.c.payload).where(
            outbox.c.sink == "builtin", outbox.c.action == "open"
        )
        for incident_id, payload in conn.execute(opens):
            at = payload.get("at") if isinstance(payload, dict) else None
            if isinstance(at, str) and incident_id not in filed:
                filed[incident_id] = datetime.fromisoformat(at)
            if isinstance(payload, dict) and payload.get("oncall"):
                oncall.setdefault(incident_id, str(payload["oncall"]))
        by_incident: dict[int, Ticket] = {}
        for t in conn.execute(select(tickets).order_by(tickets.c.id)):
            at = filed.get(t.incident_id, t.opened_at)
            by_incident[t.incident_id] = Ticket(
                str(t.id), t.team, _utc(at), oncall=oncall.get(t.incident_id)
            )
        for incident_id, at in conn.execute(
            select(timeline.c.incident_id, timeline.c.at)
            .where(timeline.c.kind == "resolved")
            .order_by(timeline.c.at, timeline.c.id)
        ):
            if incident_id in by_incident:
                by_incident[incident_id].resolutions.append(_utc(at))
        for event_id, incident_id in conn.execute(
            select(events.c.id, events.c.incident_id).where(events.c.incident_id.isnot(None))
        ):
            ticket = _ticket_above(incident_id, by_incident, parents)
            if ticket is not None:
                ticket.alerts.add(alert_ref(event_id))
    return list(by_incident.values())


def alert_ref(event_id: str) -> tuple[str, int]:
    """An event's id is its delivery's id and the alert's index in the body."""
    line, _, index = event_id.rpartition("-")
    return line, int(index) if index.isdigit() else -1


def _ticket_above(
    incident_id: int, by_incident: dict[int, Ticket], parents: dict[int, int | None]
) -> Ticket | None:
    seen: set[int] = set()
    current: int | None = incident_id
    while current is not None and current not in seen:
        if current in by_incident:
            return by_incident[current]
        seen.add(current)
        current = parents.get(current)
    return None


def score_lines(
    lines: Sequence[bytes], truth: dict[str, Any], config: Any, jiralert: JiralertSettings
) -> dict[str, Any]:
    ours, stats = pipeline_tickets(lines, config)
    return {
        "autoticket": score(ours, truth),
        "jiralert": score(jiralert_tickets(lines, jiralert), truth),
        "replay_stats": stats,
        "scenario_stats": truth.get("stats", {}),
    }


def run_scenario_bench(
    scenarios: Sequence[tuple[str, list[bytes], dict[str, Any]]],
    config: Any,
    output: Path | None = None,
    jiralert: JiralertSettings | None = None,
) -> dict[str, Any]:
    """Score every (name, lines, truth); print a table per scenario and pooled; JSON out."""
    jiralert = jiralert or JiralertSettings()
    runs = []
    for name, lines, truth in scenarios:
        result = score_lines(lines, truth, config, jiralert) | {"scenario": name}
        runs.append(result)
        print_table(f"scenario {name}", result["autoticket"], result["jiralert"])
        result["targets"] = targets(result["autoticket"])
    results: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jiralert_settings": {
            "reopen_duration_s": jiralert.reopen_duration.total_seconds(),
            "auto_resolve": jiralert.auto_resolve,
            "index_lag_s": jiralert.index_lag.total_seconds(),
        },
        "per_scenario": runs,
    }
    if len(runs) > 1:
        results["pooled"] = {
            who: pool([r[who] for r in runs]) for who in ("autoticket", "jiralert")
        }
        print_table("all scenarios", results["pooled"]["autoticket"], results["pooled"]["jiralert"])
    final = results["pooled"]["autoticket"] if len(runs) > 1 else runs[0]["autoticket"]
    results["targets"] = met = targets(final)
    missing = [k for k, ok in met.items() if not ok]
    print(
        f"issue 15 targets met by autoticket: {len(met) - len(missing)}/{len(met)}"
        + (f" (not: {', '.join(missing)})" if missing else "")
    )
    if output is not None:
        output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def generated(
    seeds: Sequence[int], scale: float = 1.0
) -> list[tuple[str, list[bytes], dict[str, Any]]]:
    """(name, lines, truth) of each seed's scenario, built in memory."""
    out = []
    for seed in seeds:
        scenario: Scenario = build_scenario(ScenarioSpec(seed=seed, scale=scale))
        out.append((f"seed {seed}", scenario.lines, scenario.truth()))
    return out


def default_config() -> Any:
    """The lab's example config (bench/scenario.py `config_yaml`), parsed."""
    from autoticket.config import parse_config_text

    return parse_config_text(config_yaml(), "bench/scenario.py")


# (label, key, how to show it) of the table's rows.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("tickets / ideal", "tickets_per_ideal", "ratio"),
    ("tickets (ideal)", "tickets", "tickets"),
    ("duplicate ticket rate", "duplicate_rate", "pct"),
    ("max extra tickets per storm/topology incident", "extra_per_composite_max", "int"),
    ("noise tickets / noise groups", "noise_ticket_rate", "pct"),
    ("missed actionable incidents", "missed_actionable", "int"),
    ("purity", "purity", "ratio"),
    ("tickets naming an on-call responder", "oncall_named", "pct"),
    ("team accuracy", "team_accuracy", "pct"),
    ("time to ticket p50 / p95", "time_to_ticket_seconds", "wait"),
    ("premature resolutions (tickets)", "premature_resolutions", "premature"),
)


def cell(s: dict[str, Any], key: str, how: str) -> str:
    value = s.get(key)
    if how == "tickets":
        return f"{s['tickets']} ({s['ideal_tickets']})"
    if how == "wait":
        p50, p95 = value["p50"], value["p95"]
        return "n/a" if p50 is None else f"{p50:.0f} s / {p95:.0f} s"
    if how == "premature":
        return f"{s['premature_resolutions']} ({s['premature_tickets']})"
    if value is None:
        return "n/a"
    if how == "pct":
        return f"{100 * value:.1f} %"
    if how == "ratio":
        return f"{value:.3f}"
    return str(value)


def print_table(title: str, ours: dict[str, Any], baseline: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("autoticket", justify="right")
    table.add_column("jiralert baseline", justify="right")
    for label, key, how in ROWS:
        table.add_row(label, cell(ours, key, how), cell(baseline, key, how))
    Console(soft_wrap=True).print(table)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
