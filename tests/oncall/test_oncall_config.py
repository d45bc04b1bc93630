"""check-config on schedules and escalation policies: each error names its field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoticket.checks import check_config_text

BASE = """\
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        users: [ann, bob]
        rotation: weekly
        start: 2026-01-05T09:00
        restrictions:
          - {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    overrides:
      - {user: cat, start: 2026-02-01T00:00, end: 2026-02-02T00:00}
escalation_policies:
  payments:
    repeat: 2
    steps:
      - notify: {schedule: primary}
        wait: 15m
      - notify: {team: ops}
catalog:
  teams:
    ops: {name: Ops, schedule: primary, escalation_policy: payments, notify: [builtin]}
"""


def _problems(text: str) -> tuple[list[str], list[str]]:
    report = check_config_text(text)
    return [str(p) for p in report.errors], [str(p) for p in report.warnings]


def test_a_full_oncall_config_is_ok() -> None:
    assert _problems(BASE) == ([], [])


CASES = [
    (
        "Europe/Berlin",
        "Europe/Berlinn",
        "line 3: schedules.primary.time_zone: Value error, unknown time zone 'Europe/Berlinn'",
    ),
    (
        "rotation: weekly",
        "rotation: fortnightly",
        "line 7: schedules.primary.layers.0.rotation: Value error, not a rotation: 'fortnightly'",
    ),
    (
        'end: "17:00"',
        'end: "17:75"',
        "schedules.primary.layers.0.restrictions.0.end: Value error, not a time of day: '17:75'",
    ),
    ("days: [mon,", "days: [mo,", "not a weekday: 'mo'"),
    (
        "end: 2026-02-02T00:00}",
        "end: 2026-01-02T00:00}",
        "line 12: schedules.primary.overrides.0: Value error, end must be after start",
    ),
    (
        "        users: [ann, bob]\n",
        "",
        "a rotation layer needs at least one user (or an ical feed)",
    ),
    (
        "notify: {team: ops}",
        "notify: {team: ops, user: ann}",
        "notify needs exactly one of schedule, user or team",
    ),
    (
        "wait: 15m",
        "wait: soon",
        "escalation_policies.payments.steps.0.wait: Value error, not a duration: 'soon'",
    ),
    (
        "schedule: primary, escalation",
        "schedule: primry, escalation",
        "line 22: catalog.teams.ops.schedule: unknown schedule 'primry'; "
        "the schedules: map has primary",
    ),
    (
        "escalation_policy: payments",
        "escalation_policy: paymnts",
        "line 22: catalog.teams.ops.escalation_policy: unknown escalation policy "
        "'paymnts'; escalation_policies: has payments",
    ),
    (
        "notify: [builtin]",
        "notify: [slack]",
        "line 22: catalog.teams.ops.notify.0: unknown sink 'slack'; the sinks: map has builtin",
    ),
    (
        "{schedule: primary}",
        "{schedule: secondary}",
        "line 17: escalation_policies.payments.steps.0.notify.schedule: "
        "unknown schedule 'secondary'",
    ),
    (
        "{team: ops}",
        "{team: web}",
        "line 19: escalation_policies.payments.steps.1.notify.team: "
        "unknown team 'web'; catalog.teams has ops",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_each_mistake_is_a_clear_error(old: str, new: str, expected: str) -> None:
    assert old in BASE
    errors, _ = _problems(BASE.replace(old, new))
    assert any(expected in e for e in errors), errors


def test_probable_mistakes_are_warnings(tmp_path: Path) -> None:
    text = BASE.replace("notify: [builtin]", "notify: []") + ("    web: {name: Web}\n")
    text = text.replace("{team: ops}", "{team: web}")
    text = text.replace(
        "        users: [ann, bob]\n        rotation: weekly\n        start: 2026-01-05T09:00\n",
        f"        ical: {{path: {tmp_path / 'missing.ics'}}}\n",
    )
    errors, warnings = _problems(text)
    assert errors == []
    assert any("team 'web' has no schedule: this step finds nobody" in w for w in warnings)
    assert any("schedules.primary.layers.0.ical.path: cannot read" in w for w in warnings)
    assert any("an escalation policy but no notify sinks" in w for w in warnings)
