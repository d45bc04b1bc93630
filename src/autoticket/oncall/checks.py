"""check-config for on call: the names teams, schedules and escalation policies use."""

from __future__ import annotations

from pathlib import Path

from autoticket.config import Config, ConfigProblem
from autoticket.oncall.feeds import FeedError, parse_calendar

__all__ = ["oncall_errors", "oncall_warnings"]


def _known(names: object) -> str:
    found = sorted(names)  # type: ignore[call-overload]
    return ", ".join(found) if found else "none"


def oncall_errors(config: Config) -> list[ConfigProblem]:
    """Names that lead nowhere: a team's schedule, policy or notify sink; a step's target."""
    problems: list[ConfigProblem] = []
    for team, entry in config.catalog.teams.items():
        where = ("catalog", "teams", team)
        if entry.schedule is not None and entry.schedule not in config.schedules:
            problems.append(
                config.problem(
                    (*where, "schedule"),
                    f"unknown schedule {entry.schedule!r}; "
                    f"the schedules: map has {_known(config.schedules)}",
                )
            )
        policy = entry.escalation_policy
        if policy is not None and policy not in config.escalation_policies:
            problems.append(
                config.problem(
                    (*where, "escalation_policy"),
                    f"unknown escalation policy {policy!r}; "
                    f"escalation_policies: has {_known(config.escalation_policies)}",
                )
            )
        for i, sink in enumerate(entry.notify):
            if sink not in config.sink_specs:
                problems.append(
                    config.problem(
                        (*where, "notify", i),
                        f"unknown sink {sink!r}; the sinks: map has {_known(config.sink_specs)}",
                    )
                )
    for name, policy_entry in config.escalation_policies.items():
        for i, step in enumerate(policy_entry.steps):
            loc = ("escalation_policies", name, "steps", i, "notify", step.notify.kind)
            target = step.notify
            if target.schedule is not None and target.schedule not in config.schedules:
                problems.append(
                    config.problem(
                        loc,
                        f"unknown schedule {target.schedule!r}; "
                        f"the schedules: map has {_known(config.schedules)}",
                    )
                )
            if target.team is not None and target.team not in config.catalog.teams:
                problems.append(
                    config.problem(
                        loc,
                        f"unknown team {target.team!r}; "
                        f"catalog.teams has {_known(config.catalog.teams)}",
                    )
                )
    return problems


def oncall_warnings(config: Config) -> list[ConfigProblem]:
    """Probably wrong: a step naming a team without a schedule, an unreadable feed file,
    a policy for a team that notifies no sink (its steps reach the timeline only)."""
    problems: list[ConfigProblem] = []
    for name, policy in config.escalation_policies.items():
        for i, step in enumerate(policy.steps):
            team = config.catalog.teams.get(step.notify.team or "")
            if team is not None and team.schedule is None:
                problems.append(
                    config.problem(
                        ("escalation_policies", name, "steps", i, "notify", "team"),
                        f"team {step.notify.team!r} has no schedule: this step finds nobody",
                    )
                )
    for name, schedule in config.schedules.items():
        for i, layer in enumerate(schedule.layers):
            feed = layer.ical
            if feed is None or feed.path is None:
                continue
            loc = ("schedules", name, "layers", i, "ical", "path")
            try:
                parse_calendar(Path(feed.path).read_bytes(), feed.path)
            except OSError as exc:
                problems.append(config.problem(loc, f"cannot read {feed.path}: {exc.strerror}"))
            except FeedError as exc:
                problems.append(config.problem(loc, str(exc)))
    for team, entry in config.catalog.teams.items():
        if entry.escalation_policy is not None and not entry.notify:
            problems.append(
                config.problem(
                    ("catalog", "teams", team, "notify"),
                    "the team has an escalation policy but no notify sinks: "
                    "its steps are recorded on the timeline only",
                )
            )
    return problems
