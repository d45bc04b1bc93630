"""Ordered routes: matchers plus an optional CEL condition; the first match wins.

Matchers see the event's labels overridden by derived fields (`severity`,
`source`, `kind`, `status`, `team`). Everything that can be is precomputed at
compile time: per event the table builds one small tuple of derived values and
formats explanation strings only for routes it actually checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from autoticket.config import Config, RouteConfig
from autoticket.model import Event, Severity
from autoticket.policy.cel_condition import CelCondition
from autoticket.policy.matchers import Matcher, MatchOp, PolicyError, parse_matchers

__all__ = [
    "DERIVED_FIELDS",
    "CompiledRoute",
    "PolicyError",
    "RouteMatch",
    "RouteTable",
    "compile_route",
]

DERIVED_FIELDS: tuple[str, ...] = ("severity", "source", "kind", "status", "team")
"""Names whose matcher value comes from the event, not from its labels."""

_DERIVED_INDEX: dict[str, int] = {name: i for i, name in enumerate(DERIVED_FIELDS)}
_SEVERITY_LABEL: dict[Severity, str] = {s: s.label for s in Severity}

Derived = tuple[str, str, str, str, str]


def _derived(event: Event) -> Derived:
    """Values of DERIVED_FIELDS, in that order."""
    labels = event.labels
    return (
        _SEVERITY_LABEL[event.severity],
        event.source,
        str(event.kind),
        str(event.status),
        event.team or labels.get("team") or "",
    )


def _got(value: str) -> str:
    return f'got "{value}"' if value else "label absent or empty"


class CompiledRoute:
    """A RouteConfig with parsed matchers and compiled condition."""

    __slots__ = ("_plan", "condition", "matchers", "route")

    def __init__(
        self, route: RouteConfig, matchers: Iterable[Matcher], condition: CelCondition | None
    ) -> None:
        self.route = route
        self.matchers: tuple[Matcher, ...] = tuple(matchers)
        self.condition = condition
        # (matcher, index into the derived tuple or -1 for a plain label, the
        # start of the miss explanation: formatting matchers per event is costly)
        self._plan: tuple[tuple[Matcher, int, str], ...] = tuple(
            (m, _DERIVED_INDEX.get(m.name, -1), f"{route.name}: {m} did not match (")
            for m in self.matchers
        )

    @property
    def name(self) -> str:
        return self.route.name

    def __repr__(self) -> str:
        return f"CompiledRoute({self.route.name!r})"

    def miss(self, labels: Mapping[str, str], derived: Derived) -> str | None:
        """Why the first failing matcher failed; None if all matchers pass."""
        for matcher, idx, prefix in self._plan:
            value = derived[idx] if idx >= 0 else labels.get(matcher.name, "")
            if not matcher.matches_value(value):
                return f"{prefix}{_got(value)})"
        return None

    def seen_values(self, labels: Mapping[str, str], derived: Derived) -> Iterator[str]:
        """The value each matcher saw, in matcher order."""
        for matcher, idx, _ in self._plan:
            yield derived[idx] if idx >= 0 else labels.get(matcher.name, "")


def compile_route(route: RouteConfig) -> CompiledRoute:
    """Parse matchers and compile the condition; PolicyError names the bad field."""
    matchers = parse_matchers(route.matchers)
    condition = CelCondition(route.condition) if route.condition is not None else None
    return CompiledRoute(route, matchers, condition)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The winning route, why it matched, and why each earlier route did not."""

    route: RouteConfig
    reason: str
    checked: list[str] = field(default_factory=list)
    # The later routes that matched too, through `continue` (in order).
    also: list[RouteConfig] = field(default_factory=list)


class RouteTable:
    """Compiled routes in config order (the top level), and each route's compiled
    children by its name when the config has subtrees."""

    __slots__ = ("children", "routes")

    def __init__(
        self,
        routes: Iterable[CompiledRoute],
        children: Mapping[str, tuple[CompiledRoute, ...]] | None = None,
    ) -> None:
        self.routes: tuple[CompiledRoute, ...] = tuple(routes)
        self.children: dict[str, tuple[CompiledRoute, ...]] = dict(children or {})

    @classmethod
    def from_config(cls, config: Config) -> RouteTable:
        compiled: dict[str, CompiledRoute] = {}
        for entry in config.route_entries:
            route = entry.route
            try:
                compiled[route.name] = compile_route(route)
            except PolicyError as exc:
                where = ".".join(map(str, entry.loc)) + (f".{exc.field}" if exc.field else "")
                raise PolicyError(where, f"route {route.name!r}: {exc.reason}") from None
        children = {
            e.route.name: tuple(compiled[c.name] for c in e.route.routes)
            for e in config.route_entries
            if e.route.routes
        }
        return cls((compiled[r.name] for r in config.route_tree), children)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, event: Event) -> RouteMatch | None:
        """The first matching route, or None."""
        return self.evaluate(event)[0]

    def evaluate(self, event: Event) -> tuple[RouteMatch | None, list[str]]:
        """Like match(), but also returns why each checked route did not match.

        When a route matches, the list is the same object as `RouteMatch.checked`.
        """
        labels = event.labels
        derived = _derived(event)
        checked: list[str] = []
        if self.children:
            return self._evaluate_tree(event, labels, derived, checked)
        for i, compiled in enumerate(self.routes):
            # Inline, not _matches(): this loop runs for every event.
            miss = compiled.miss(labels, derived)
            if miss is not None:
                checked.append(miss)
                continue
            condition = compiled.condition
            if condition is not None:
                result = condition.evaluate(event)
                if not result.matched:
                    checked.append(f"{compiled.route.name}: {result.reason}")
                    continue
            reason = _explain(compiled, labels, derived)
            also = self._continued(i, event, labels, derived) if compiled.route.continue_ else []
            return RouteMatch(compiled.route, reason, checked, also), checked
        return None, checked

    def _evaluate_tree(
        self, event: Event, labels: Mapping[str, str], derived: Derived, checked: list[str]
    ) -> tuple[RouteMatch | None, list[str]]:
        found: list[CompiledRoute] = []
        self._walk(self.routes, event, labels, derived, checked, found)
        if not found:
            return None, checked
        first = found[0]
        reason = _explain(first, labels, derived)
        return RouteMatch(first.route, reason, checked, [c.route for c in found[1:]]), checked

    def _walk(
        self,
        level: tuple[CompiledRoute, ...],
        event: Event,
        labels: Mapping[str, str],
        derived: Derived,
        checked: list[str],
        found: list[CompiledRoute],
    ) -> None:
        """Alertmanager's walk: on a level, each route that matches hands the event
        to its first matching child (recursively), or takes it itself when none
        matches; the level goes on past it only if it has `continue`."""
        for compiled in level:
            if not self._matches(compiled, event, labels, derived, [] if found else checked):
                continue
            before = len(found)
            children = self.children.get(compiled.route.name)
            if children:
                self._walk(children, event, labels, derived, checked, found)
            if len(found) == before:
                found.append(compiled)
            if not compiled.route.continue_:
                return

    def _matches(
        self,
        compiled: CompiledRoute,
        event: Event,
        labels: Mapping[str, str],
        derived: Derived,
        checked: list[str],
    ) -> bool:
        miss = compiled.miss(labels, derived)
        if miss is not None:
            checked.append(miss)
            return False
        condition = compiled.condition
        if condition is not None:
            result = condition.evaluate(event)
            if not result.matched:
                checked.append(f"{compiled.route.name}: {result.reason}")
                return False
        return True

    def _continued(
        self, first: int, event: Event, labels: Mapping[str, str], derived: Derived
    ) -> list[RouteConfig]:
        """The routes after `first` that match, while each matched one continues."""
        also: list[RouteConfig] = []
        for compiled in self.routes[first + 1 :]:
            if self._matches(compiled, event, labels, derived, []):
                also.append(compiled.route)
                if not compiled.route.continue_:
                    break
        return also


def _explain(compiled: CompiledRoute, labels: Mapping[str, str], derived: Derived) -> str:
    parts = [
        str(m) if m.op is MatchOp.EQ else f"{m} ({_got(v)})"
        for m, v in zip(compiled.matchers, compiled.seen_values(labels, derived), strict=True)
    ]
    name = compiled.route.name
    cond = compiled.condition
    if not parts and cond is None:
        return f"route {name!r} matches every event (no matchers, no condition)"
    said = f"matchers {', '.join(parts)}" if parts else ""
    if cond is not None:
        said = f"{said} and " if said else ""
        said += f"condition `{cond.source}` is true"
    return f"route {name!r} matched: {said}"
