"""The scenario lab's scorer on hand-built cases (each figure can fail) and the jiralert
baseline's semantics."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.jiralert import JiralertSettings, jiralert_tickets  # noqa: E402
from bench.scenario_score import Ticket, pool, score, targets  # noqa: E402

T0 = datetime(2026, 11, 9, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _incident(iid: str, kind: str, actionable: bool, team: str, parent: str | None = None) -> dict:
    return {
        "id": iid,
        "kind": kind,
        "actionable": actionable,
        "team": team,
        "parent": parent,
        "service": "s",
        "environment": "prod",
        "cluster": "prod-eu-west",
        "start": _iso(T0),
        "end": _iso(T0 + 60 * MIN),
        "summary": iid,
    }


def _truth() -> dict[str, Any]:
    """A deploy regression A (two alerts), a storm S (two services), a transient N."""
    incidents = [
        _incident("A", "deploy-regression", True, "payments"),
        _incident("S", "storm", True, "platform"),
        _incident("S1", "storm", True, "platform", parent="S"),
        _incident("S2", "storm", True, "platform", parent="S"),
        _incident("N", "transient", False, "payments"),
    ]
    episodes = {
        "a1": {"incident": "A", "component": "A"},
        "a2": {"incident": "A", "component": "A"},
        "s1": {"incident": "S", "component": "S1"},
        "s2": {"incident": "S", "component": "S2"},
        "n1": {"incident": "N", "component": "N"},
    }
    deliveries = {"l1": ["a1", "a2"], "l2": ["s1"], "l3": ["s2"], "l4": ["n1"]}
    received = {k: _iso(T0 + timedelta(seconds=30)) for k in deliveries}
    return {
        "incidents": incidents,
        "episodes": episodes,
        "deliveries": deliveries,
        "received": received,
    }


def _ticket(
    tid: str, *refs: tuple[str, int], team: str = "payments", at: timedelta = timedelta(seconds=30)
) -> Ticket:
    return Ticket(tid, team, T0 + at, [], set(refs))


def _ideal() -> list[Ticket]:
    return [_ticket("1", ("l1", 0), ("l1", 1)), _ticket("2", ("l2", 0), ("l3", 0), team="platform")]


def test_the_ideal_tickets_score_perfectly() -> None:
    s = score(_ideal(), _truth())
    assert (s["tickets"], s["ideal_tickets"]) == (2, 2)
    assert s["duplicate_rate"] == 0.0
    assert s["extra_per_composite_max"] == 0
    assert (s["noise_tickets"], s["noise_groups"], s["noise_ticket_rate"]) == (0, 1, 0.0)
    assert s["missed_actionable"] == 0
    assert s["purity"] == 1.0
    assert s["team_accuracy"] == 1.0
    assert s["time_to_ticket_seconds"]["p50"] == 30.0
    assert s["premature_resolutions"] == 0
    assert all(targets(s).values())


def test_a_second_ticket_for_one_incident_is_a_duplicate() -> None:
    tickets = [_ticket("1", ("l1", 0)), _ticket("1b", ("l1", 1)), _ideal()[1]]
    s = score(tickets, _truth())
    assert s["duplicate_tickets"] == 1
    assert s["duplicate_rate"] == 0.5  # one of the two tickets of plain incidents
    assert s["purity"] == 1.0  # each ticket is pure: the split is counted, not the mix


def test_a_storm_split_per_service_counts_extra_tickets() -> None:
    tickets = [_ideal()[0], _ticket("2", ("l2", 0), team="platform"), _ticket("3", ("l3", 0))]
    s = score(tickets, _truth())
    assert s["extra_per_composite"]["storm"] == {"incidents": 1, "max": 1, "mean": 1.0}
    assert s["duplicate_tickets"] == 0  # storms are counted apart
    assert s["team_accuracy"] == pytest.approx(2 / 3)  # the storm's owner is platform


def test_noise_tickets_missed_incidents_and_impurity() -> None:
    noisy = score([*_ideal(), _ticket("3", ("l4", 0))], _truth())
    assert noisy["noise_tickets"] == 1 and noisy["noise_ticket_rate"] == 1.0
    missed = score([_ideal()[1]], _truth())
    assert missed["missed_actionable"] == 1 and missed["missed"] == ["A"]
    mixed = score([_ticket("1", ("l1", 0), ("l1", 1), ("l4", 0)), _ideal()[1]], _truth())
    assert mixed["purity"] == pytest.approx(4 / 5)  # 2 of 3 in the first, 2 of 2 in the second
    assert mixed["noise_tickets"] == 0 and mixed["missed_actionable"] == 0


def test_late_tickets_wrong_teams_and_early_resolutions() -> None:
    late = score([_ticket("1", ("l1", 0), at=10 * MIN), _ideal()[1]], _truth())
    assert late["time_to_ticket_seconds"]["max"] == 600.0
    wrong = score([_ticket("1", ("l1", 0), team="data"), _ideal()[1]], _truth())
    assert wrong["team_accuracy"] == 0.5
    early = _ideal()
    early[0].resolutions = [T0 + 10 * MIN, T0 + 70 * MIN]  # the second is after the end: fine
    s = score(early, _truth())
    assert (s["premature_resolutions"], s["premature_tickets"]) == (1, 1)
    assert s["premature"][0]["incident"] == "A"
    assert [k for k, ok in targets(s).items() if not ok] == ["premature_resolutions"]


def test_tickets_of_unknown_lines_are_unattributed_and_pooling_adds_counts() -> None:
    s = score([*_ideal(), _ticket("x", ("elsewhere", 0))], _truth())
    assert s["unattributed_tickets"] == 1 and s["purity"] == 1.0
    dup = score([_ticket("1", ("l1", 0)), _ticket("1b", ("l1", 1)), _ideal()[1]], _truth())
    pooled = pool([score(_ideal(), _truth()), dup])
    assert pooled["duplicate_tickets"] == 1
    assert pooled["duplicate_rate"] == pytest.approx(1 / 3)  # counts, not a mean of rates
    assert pooled["ideal_tickets"] == 4


# -- the jiralert baseline -----------------------------------------------------


def _line(lid: str, at: timedelta, status: str = "firing", **group: str) -> bytes:
    labels = {"alertname": "A", "service": "s", **group}
    alert = {"status": status, "labels": labels, "startsAt": _iso(T0)}
    body = {
        "groupLabels": {"alertname": labels["alertname"], "service": labels["service"]},
        "commonLabels": labels,
        "status": status,
        "alerts": [alert],
    }
    line = {"id": lid, "source": "alertmanager", "received_at": _iso(T0 + at), "body": body}
    return orjson.dumps(line)


def test_jiralert_reopens_within_reopen_duration_and_files_anew_after() -> None:
    lines = [_line("1", 0 * MIN), _line("2", 10 * MIN, "resolved"), _line("3", 40 * MIN)]
    [ticket] = jiralert_tickets(lines)
    assert ticket.resolutions == [T0 + 10 * MIN]
    assert ticket.alerts == {("1", 0), ("2", 0), ("3", 0)}
    lines[2] = _line("3", 3 * 60 * MIN)
    first, second = jiralert_tickets(lines)
    assert first.alerts == {("1", 0), ("2", 0)}
    assert second.opened_at == T0 + 3 * 60 * MIN and second.alerts == {("3", 0)}
    always = JiralertSettings(reopen_duration=timedelta(0))  # 0: reuse whatever its age
    assert len(jiralert_tickets(lines, always)) == 1


def test_jiralert_races_an_ha_copy_inside_the_index_lag() -> None:
    copy_fast = [_line("1", 0 * MIN), _line("1b", timedelta(milliseconds=30))]
    assert len(jiralert_tickets(copy_fast)) == 2
    copy_late = [_line("1", 0 * MIN), _line("1b", timedelta(seconds=15))]
    [ticket] = jiralert_tickets(copy_late)
    assert ticket.alerts == {("1", 0), ("1b", 0)}


def test_jiralert_keys_on_group_labels_and_ignores_lone_resolutions() -> None:
    assert jiralert_tickets([_line("1", 0 * MIN, "resolved")]) == []
    lines = [_line("1", 0 * MIN, team="payments"), _line("2", 0 * MIN, service="t")]
    one, two = jiralert_tickets(lines)
    assert (one.team, two.team) == ("payments", "platform")  # the default receiver's
    # A label outside the group labels changes nothing: the same issue.
    same = [_line("1", 0 * MIN, pod="a"), _line("2", 5 * MIN, pod="b")]
    assert len(jiralert_tickets(same)) == 1
    no_resolve = JiralertSettings(auto_resolve=False)
    [kept] = jiralert_tickets([_line("1", 0 * MIN), _line("2", MIN, "resolved")], no_resolve)
    assert kept.resolutions == []
