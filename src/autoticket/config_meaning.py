"""What a config means, checked across its sections: a valid schema can still be wrong.

Errors are settings that cannot do what they say: a route priority no
severity maps to, a team the catalog does not know. Warnings are settings
that are probably wrong but may be right: a CEL condition on a label that
neither autoticket nor any matcher knows of (your alerts may still carry it),
a dependency on a service the catalog does not list. Each check reads only
the sections it names, and is skipped when one of them failed the schema, so
a broken section does not cause a second, false problem.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from autoticket.config import DEFAULT_GROUP_LABELS, Config, ConfigProblem, RouteConfig
from autoticket.oncall.checks import oncall_errors, oncall_warnings
from autoticket.policy import PolicyError, parse_matchers

__all__ = ["WELL_KNOWN_LABELS", "condition_labels", "meaning_problems"]

WELL_KNOWN_LABELS: frozenset[str] = frozenset(
    {
        # read by autoticket itself (sources, enrich, decide, the Event's service/environment)
        "alertname",
        "severity",
        "service",
        "job",
        "environment",
        "env",
        "team",
        # set by Prometheus on every target, and by the usual Kubernetes discovery
        "instance",
        "namespace",
        "pod",
        "container",
        "node",
        "cluster",
    }
)
"""Label keys a condition may use without a warning, besides those the config itself uses."""

_STRING = r"""(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')"""
# labels.x (not a method call such as labels.size()), labels["x"], "x" in labels
_DOTTED = re.compile(r"\blabels\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_INDEXED = re.compile(r"\blabels\s*\[\s*" + _STRING + r"\s*\]")
_IN = re.compile(_STRING + r"\s+in\s+labels\b")


def condition_labels(condition: str) -> list[str]:
    """The label keys a CEL condition reads, in order of first use."""
    found: list[str] = [m.group(1) for m in _DOTTED.finditer(condition)]
    for pattern in (_INDEXED, _IN):
        found += [m.group(1) if m.group(1) is not None else m.group(2) for m in
                  pattern.finditer(condition)]  # fmt: skip
    return list(dict.fromkeys(found))


# What the on-call checks read (oncall/checks.py).
_ONCALL = {"catalog", "schedules", "escalation_policies", "sinks"}


def meaning_problems(
    config: Config, failed: frozenset[str] = frozenset()
) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """(errors, warnings) of `config`; checks that read a section in `failed` are skipped."""
    errors: list[ConfigProblem] = []
    warnings: list[ConfigProblem] = []
    for reads, check, into in (
        ({"routes", "priorities"}, _priorities, errors),
        ({"routes", "catalog"}, _route_teams, errors),
        ({"catalog"}, _catalog_teams, errors),
        ({"catalog", "correlation"}, _ticket_cap_teams, warnings),
        ({"catalog"}, _dependencies, warnings),
        ({"catalog", "priority_matrix"}, _matrix_tiers, warnings),
        ({"catalog"}, _catalog_names, errors),
        ({"routes"}, _last_continue, warnings),
        ({"routes"}, _condition_labels, warnings),
        (_ONCALL, oncall_errors, errors),
        (_ONCALL, oncall_warnings, warnings),
    ):
        if not reads & failed:
            into.extend(check(config))
    return errors, warnings


def _configured_priorities(config: Config) -> list[str]:
    """What the top-level `priorities:` map gives, defaults included for severities it omits."""
    severities = ("critical", "high", "warning", "info")
    given = [config.priority_for(None, s) for s in severities]
    given += [p for row in config.priority_matrix.values() for p in row.values()]
    return list(dict.fromkeys(given))


def _last_continue(config: Config) -> Iterable[ConfigProblem]:
    """`continue` on the last route has nothing to continue to."""
    if config.routes and config.routes[-1].continue_:
        yield config.problem(
            ("routes", len(config.routes) - 1, "continue"), "no route after it to continue to"
        )
    for entry in config.route_entries:
        children = entry.written.routes
        if children and children[-1].continue_ and not entry.route.continue_:
            yield config.problem(
                (*entry.loc, "routes", len(children) - 1, "continue"),
                f"the last child of route {entry.route.name!r} continues to nothing: "
                "its parent does not continue",
            )


def _catalog_names(config: Config) -> Iterable[ConfigProblem]:
    """An alias names one service and is no service's own name; a dashboard is an
    absolute http(s) URL; a Kubernetes workload belongs to one service."""
    services = config.catalog.services
    owner: dict[str, str] = {}
    workloads: dict[tuple[str, str], str] = {}
    for name, entry in services.items():
        for i, alias in enumerate(entry.aliases):
            where = ("catalog", "services", name, "aliases", i)
            if alias in services:
                yield config.problem(where, f"{alias!r} is a service of its own")
            elif alias in owner and owner[alias] != name:
                yield config.problem(where, f"{alias!r} is already an alias of {owner[alias]!r}")
            owner.setdefault(alias, name)
        for board, url in entry.dashboards.items():
            if not re.fullmatch(r"https?://[^\s]+", url):
                where = ("catalog", "services", name, "dashboards", board)
                yield config.problem(where, f"{url!r} is not an absolute http(s) URL")
        if entry.kubernetes is not None:
            key = (entry.kubernetes.namespace, entry.kubernetes.workload)
            if key in workloads:
                where = ("catalog", "services", name, "kubernetes")
                yield config.problem(where, f"{key[0]}/{key[1]} is already {workloads[key]!r}")
            workloads.setdefault(key, name)


def _matrix_tiers(config: Config) -> Iterable[ConfigProblem]:
    """A priority_matrix row for a tier no catalog service has is never used."""
    tiers = {s.tier for s in config.catalog.services.values() if s.tier is not None}
    for tier in config.priority_matrix:
        if tier not in tiers:
            yield config.problem(
                ("priority_matrix", tier),
                f"no catalog service has tier {tier!r} "
                f"(tiers in the catalog: {', '.join(sorted(tiers)) or 'none'})",
            )


def _priorities(config: Config) -> Iterable[ConfigProblem]:
    known = _configured_priorities(config)
    for entry in config.route_entries:
        for severity, priority in entry.written.priorities.items():
            if priority not in known:
                yield config.problem(
                    (*entry.loc, "priorities", severity),
                    f"priority {priority!r} is not among the configured priorities "
                    f"({', '.join(known)}, from the top-level priorities: and "
                    "priority_matrix: maps); "
                    "add it there or use one of them",
                )


def _catalog_team_names(config: Config) -> set[str]:
    catalog = config.catalog
    names = set(catalog.teams) | {s.team for s in catalog.services.values()}
    return names | ({catalog.default_team} if catalog.default_team else set())


def _route_teams(config: Config) -> Iterable[ConfigProblem]:
    """A route's team must be one the catalog knows (when the catalog names any team)."""
    known = _catalog_team_names(config)
    if not known:
        return
    for entry in config.route_entries:
        team = entry.written.team
        if team is not None and team not in known:
            yield config.problem(
                (*entry.loc, "team"),
                f"team {team!r} is not in the catalog{_hint(team, known)}; "
                f"known teams: {', '.join(sorted(known))}",
            )


def _ticket_cap_teams(config: Config) -> Iterable[ConfigProblem]:
    """A team's own ticket cap names a team the catalog knows (when it names any)."""
    known = _catalog_team_names(config)
    if not known:
        return
    for team in config.correlation.ticket_cap.teams:
        if team not in known:
            yield config.problem(
                ("correlation", "ticket_cap", "teams", team),
                f"team {team!r} is not in the catalog{_hint(team, known)}: its cap never "
                f"applies; known teams: {', '.join(sorted(known))}",
            )


def _catalog_teams(config: Config) -> Iterable[ConfigProblem]:
    """When `catalog.teams` is declared, every team a service or the default names is in it."""
    teams = config.catalog.teams
    if not teams:
        return
    listed = ", ".join(sorted(teams))
    for name, service in config.catalog.services.items():
        if service.team not in teams:
            yield config.problem(
                ("catalog", "services", name, "team"),
                f"team {service.team!r} is not under catalog.teams"
                f"{_hint(service.team, teams)}; teams: {listed}",
            )
    default = config.catalog.default_team
    if default and default not in teams:
        yield config.problem(
            ("catalog", "default_team"),
            f"team {default!r} is not under catalog.teams{_hint(default, teams)}; teams: {listed}",
        )


def _dependencies(config: Config) -> Iterable[ConfigProblem]:
    services = config.catalog.services
    for name, service in services.items():
        for j, other in enumerate(service.depends_on):
            if other not in services:
                yield config.problem(
                    ("catalog", "services", name, "depends_on", j),
                    f"service {other!r} is not in the catalog{_hint(other, services)}: "
                    "its releases are still suspects, but it has no team or runbook",
                )


def _config_labels(config: Config) -> set[str]:
    """Label keys the config itself uses outside conditions: matchers and group_by."""
    used: set[str] = set()
    for route in config.all_routes:
        used.update(route.group_by or DEFAULT_GROUP_LABELS)
        try:
            used.update(m.name for m in parse_matchers(route.matchers))
        except PolicyError:  # reported as an error by the route check
            continue
    return used


def _condition_labels(config: Config) -> Iterable[ConfigProblem]:
    known = WELL_KNOWN_LABELS | _config_labels(config)
    for entry in config.route_entries:
        for label in _unknown_labels(entry.written, known):
            yield config.problem(
                (*entry.loc, "condition"),
                f"label {label!r} is set by no source adapter and used by no matcher or "
                f"group_by{_hint(label, known)}: unless your alerts carry it, this condition "
                "never sees it",
            )


def _unknown_labels(route: RouteConfig, known: set[str] | frozenset[str]) -> list[str]:
    if not route.condition:
        return []
    return [label for label in condition_labels(route.condition) if label not in known]


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.65)
    return f" (did you mean {close[0]!r}?)" if close else ""
