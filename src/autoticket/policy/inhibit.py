"""Inhibition rules (`inhibit_rules:`), as Alertmanager has them, compiled.

A firing alert that matches a rule's `source_matchers` inhibits the alerts
that match its `target_matchers` and carry the same values of its `equal`
labels (a missing label is the empty string on both sides). As in
Alertmanager, an alert matching both sides is not inhibited by an alert that
also matches both (itself included), so a rule cannot silence its own source.

In autoticket nothing is dropped: correlate relates the target's new incident
to the source's (pipeline/correlate.py), which keeps it open while the target
fires; the source alerts a rule may need are kept in `inhibit_sources`
(store/inhibit_sources.py), looked up by the rule and its `equal` values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from autoticket.policy.matchers import Matcher, PolicyError, parse_matchers
from autoticket.silence_settings import InhibitRule

__all__ = ["CompiledInhibitRule", "compile_inhibit_rules", "compile_rule"]


@dataclass(frozen=True, slots=True)
class CompiledInhibitRule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def is_source(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.source)

    def is_target(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.target)

    def scope(self, labels: Mapping[str, str]) -> str:
        """The `equal` labels' values, as a fixed-width key (sha256, hex)."""
        values = [labels.get(name, "") for name in self.equal]
        return hashlib.sha256(orjson.dumps(values)).hexdigest()


def compile_rule(rule: InhibitRule, index: int) -> CompiledInhibitRule:
    """Compile one rule; a bad matcher raises PolicyError naming
    `source_matchers.<i>` or `target_matchers.<i>`."""
    sides: list[tuple[Matcher, ...]] = []
    for side, texts in (
        ("source_matchers", rule.source_matchers),
        ("target_matchers", rule.target_matchers),
    ):
        try:
            sides.append(tuple(parse_matchers(texts)))
        except PolicyError as exc:
            field = (exc.field or "").replace("matchers", side, 1)
            raise PolicyError(field, exc.reason) from None
    return CompiledInhibitRule(
        rule.name or f"inhibit-{index}", sides[0], sides[1], tuple(rule.equal)
    )


def compile_inhibit_rules(rules: list[InhibitRule]) -> tuple[CompiledInhibitRule, ...]:
    return tuple(compile_rule(rule, i) for i, rule in enumerate(rules))
