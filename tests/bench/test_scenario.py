"""The scenario lab's generator: determinism, truth consistency, Alertmanager's timing."""

from __future__ import annotations

import itertools
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from autoticket.replay.stream import LineError, ReplayLine, read_lines
from autoticket.sources import parse_delivery

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.alertmanager import AmSettings, Episode, deliver  # noqa: E402
from bench.scenario import (  # noqa: E402
    ACTIONABLE_KINDS,
    COMPOSITE_KINDS,
    FLEET,
    NOISE_KINDS,
    ScenarioSpec,
    build_scenario,
    load_scenario,
    write_scenario,
)

SPEC = ScenarioSpec(seed=7, span=timedelta(hours=12), scale=0.5)
T0 = datetime(2026, 11, 9, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    one, again = build_scenario(SPEC), build_scenario(SPEC)
    assert one.lines == again.lines
    assert orjson.dumps(one.truth()) == orjson.dumps(again.truth())
    other = build_scenario(ScenarioSpec(seed=8, span=SPEC.span, scale=SPEC.scale))
    assert other.lines != one.lines
    write_scenario(one, tmp_path / "a")
    write_scenario(again, tmp_path / "b")
    for name in ("stream.ndjson", "truth.json", "catalog.yaml", "config.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lines, truth = load_scenario(tmp_path / "a")
    assert lines == one.lines
    assert truth is not None and truth["deliveries"] == one.deliveries


def root_kind(episode: dict) -> str:
    return str(episode["kind"])


def test_every_delivered_alert_has_its_truth_and_parses() -> None:
    scenario = build_scenario(SPEC)
    truth = scenario.truth()
    incidents = {i["id"]: i for i in truth["incidents"]}
    parsed = list(read_lines(iter(scenario.lines)))
    assert not [p for p in parsed if isinstance(p, LineError)]
    times = []
    for item in parsed:
        assert isinstance(item, ReplayLine)
        body = orjson.loads(item.delivery.body)
        episodes = truth["deliveries"][item.delivery.id]
        assert len(episodes) == len(body["alerts"]) == len(parse_delivery(item.delivery))
        received = item.delivery.received_at
        times.append(received)
        for alert, ep_id in zip(body["alerts"], episodes, strict=True):
            episode = truth["episodes"][ep_id]
            assert alert["labels"] == episode["labels"]
            assert alert["annotations"]["description"].endswith(f"({root_kind(episode)})")
            spans = [(_time(a), _time(b)) for a, b in episode["intervals"]]
            start = _time(alert["startsAt"])
            assert start in [a for a, _ in spans]  # the span the alert is in
            if alert["status"] == "firing":  # sampled at the flush, sent just after it
                assert any(a <= received <= b + MIN for a, b in spans)
            else:
                assert _time(alert["endsAt"]) <= received
            root = incidents[episode["incident"]]
            assert root["parent"] is None
            assert (episode["actionable"], episode["team"]) == (root["actionable"], root["team"])
            assert episode["parent"] == (None if episode["component"] == root["id"] else root["id"])
            part = incidents[episode["component"]]
            assert part["parent"] in (None, root["id"])
            assert (part["parent"] is None) == (part["id"] == root["id"])
    assert times == sorted(times)
    # Incidents span their alerts; parts exist only for the composite kinds.
    for inc in incidents.values():
        assert _time(inc["start"]) < _time(inc["end"])
        assert inc["actionable"] == (inc["kind"] in ACTIONABLE_KINDS)
        assert inc["kind"] in ACTIONABLE_KINDS + NOISE_KINDS
        if inc["parent"] is not None:
            assert inc["kind"] in COMPOSITE_KINDS
            assert incidents[inc["parent"]]["team"] == inc["team"]


def test_the_fault_kinds_have_their_shapes() -> None:
    scenario = build_scenario(ScenarioSpec(seed=3))
    truth = scenario.truth()
    roots = [i for i in truth["incidents"] if i["parent"] is None]
    kinds = {i["kind"] for i in roots}
    assert kinds == set(ACTIONABLE_KINDS + NOISE_KINDS)
    parts: dict[str, list[dict]] = {}
    for inc in truth["incidents"]:
        if inc["parent"]:
            parts.setdefault(inc["parent"], []).append(inc)
    alertnames: dict[str, set[str]] = {}
    for ep in truth["episodes"].values():
        alertnames.setdefault(ep["incident"], set()).add(ep["labels"]["alertname"])
    services = {s.name: s for s in FLEET}
    for root in roots:
        if root["kind"] == "storm":
            assert 8 <= len(parts[root["id"]]) <= 14
            assert len({p["cluster"] for p in parts[root["id"]]}) == 1
        if root["kind"] == "db-exhaustion":
            for part in parts[root["id"]]:  # symptoms on services that depend on the database
                assert root["service"] in services[part["service"]].depends_on
        if root["kind"] == "deploy-regression":
            assert len(alertnames[root["id"]]) >= 2
    envs = {i["environment"] for i in roots if i["kind"] == "env-split"}
    assert envs == {"prod", "staging"}
    recurrences = sorted(
        (i for i in roots if i["kind"] == "recurrence"), key=lambda i: (i["service"], i["start"])
    )
    gaps = [
        _time(b["start"]) - _time(a["end"])
        for a, b in itertools.pairwise(recurrences)
        if a["service"] == b["service"] and a["cluster"] == b["cluster"]
    ]
    assert gaps and all(g >= timedelta(hours=2) for g in gaps)
    assert scenario.stats["ha_copies"] > 0 and scenario.stats["retries"] > 0


def _episode(eid: str, *spans: tuple[timedelta, timedelta], pod: str = "p1") -> Episode:
    labels = {"alertname": "A", "cluster": "prod-eu-west", "service": "s", "pod": pod}
    return Episode(eid, "i1", "i1", labels, {"summary": "a"}, [(T0 + a, T0 + b) for a, b in spans])


def _sent(
    episodes: list[Episode], am: AmSettings | None = None
) -> list[tuple[timedelta, str, list[str]]]:
    quiet = am or AmSettings(ha_duplicate_share=0, retry_share=0)
    out = deliver(episodes, quiet, random.Random(1), 1)
    rows = []
    for raw in out.lines:
        line = orjson.loads(raw)
        at = _time(line["received_at"]) - T0
        rows.append((at, line["body"]["status"], [a["status"] for a in line["body"]["alerts"]]))
    return rows


def _near(at: timedelta, want: timedelta) -> bool:
    return want <= at < want + timedelta(seconds=1)


def test_alertmanager_waits_groups_repeats_and_resolves() -> None:
    # One alert for 150 minutes, a second joining at 7 minutes and leaving at 20.
    sent = _sent(
        [_episode("e1", (0 * MIN, 150 * MIN)), _episode("e2", (7 * MIN, 20 * MIN), pod="p2")]
    )
    at = [s[0] for s in sent]
    assert _near(at[0], timedelta(seconds=30))  # group_wait
    assert sent[0][2] == ["firing"]
    assert _near(at[1], timedelta(seconds=30) + 10 * MIN)  # joined: the next group_interval tick
    assert sent[1][2] == ["firing", "firing"]
    assert _near(at[2], timedelta(seconds=30) + 20 * MIN)  # e2 resolved
    assert sorted(sent[2][2]) == ["firing", "resolved"]
    assert _near(at[3], timedelta(seconds=30) + 80 * MIN)  # unchanged: repeat_interval
    assert sent[3][2] == ["firing"]
    assert sent[-1][1] == "resolved" and _near(at[-1], timedelta(seconds=30) + 150 * MIN)
    assert len(sent) == 6  # 30s, 10m, 20m, 1h20m and 2h20m repeats, the resolution


def test_an_alert_joining_right_after_a_notification_is_sent_at_the_next_tick() -> None:
    sent = _sent([_episode("e1", (0 * MIN, 60 * MIN)), _episode("e2", (MIN, 60 * MIN), pod="p2")])
    assert _near(sent[1][0], timedelta(seconds=30) + 5 * MIN)
    assert sent[1][2] == ["firing", "firing"]


def test_a_blip_before_group_wait_is_never_sent_and_a_later_one_starts_a_new_group() -> None:
    assert _sent([_episode("e1", (0 * MIN, timedelta(seconds=20)))]) == []
    sent = _sent([_episode("e1", (0 * MIN, 2 * MIN), (30 * MIN, 40 * MIN))])
    assert [s[1] for s in sent] == ["firing", "resolved", "firing", "resolved"]
    assert _near(sent[2][0], 30 * MIN + timedelta(seconds=30))  # group_wait again


def test_ha_copies_and_retries_repeat_a_body() -> None:
    am = AmSettings(ha_duplicate_share=1.0, ha_fast_share=0.0, retry_share=1.0)
    out = deliver([_episode("e1", (0 * MIN, 3 * MIN))], am, random.Random(1), 1)
    bodies = [orjson.loads(raw)["body"] for raw in out.lines]
    assert len(bodies) == 6  # firing and resolved, each three times
    urls = sorted({b["externalURL"] for b in bodies})
    assert urls == ["http://alertmanager-0.example:9093", "http://alertmanager-1.example:9093"]
    assert out.stats == {"notifications": 2, "ha_copies": 2, "retries": 2}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_catalog_and_config_load(seed: int, tmp_path: Path) -> None:
    from autoticket.config import load_config

    write_scenario(build_scenario(ScenarioSpec(seed=seed, scale=0.2)), tmp_path)
    config = load_config(tmp_path / "config.yaml")
    assert set(config.catalog.services) == {s.name for s in FLEET}
    assert config.catalog.services["checkout"].depends_on == [
        "payments-api",
        "orders-db",
        "users-db",
    ]
    assert {r.name for r in config.routes} >= {"team-payments", "team-data", "security", "default"}
