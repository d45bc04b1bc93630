"""Routing policy: Alertmanager-style matchers, CEL conditions, ordered routes."""

from autoticket.policy.cel_condition import (
    CONDITION_VARIABLES,
    CelCondition,
    ConditionResult,
    effective_team,
    event_variables,
)
from autoticket.policy.matchers import (
    Matcher,
    MatchOp,
    PolicyError,
    parse_matcher,
    parse_matchers,
)
from autoticket.policy.routes import (
    DERIVED_FIELDS,
    CompiledRoute,
    RouteMatch,
    RouteTable,
    compile_route,
)

__all__ = [
    "CONDITION_VARIABLES",
    "DERIVED_FIELDS",
    "CelCondition",
    "CompiledRoute",
    "ConditionResult",
    "MatchOp",
    "Matcher",
    "PolicyError",
    "RouteMatch",
    "RouteTable",
    "compile_route",
    "effective_team",
    "event_variables",
    "parse_matcher",
    "parse_matchers",
]
