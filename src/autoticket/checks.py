"""A config checked against the code it configures.

`config.py` validates the schema and the names without importing what it
configures. This module adds what only that code can tell: routes compile
(matchers, CEL), the redaction settings and patterns are valid, and each
sink's settings and secrets are there. Every command loads its config
through `load_checked`, so such a problem is a line-numbered error at
start-up (and in `check-config`), not a failure later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from autoticket.config import Config, ConfigError, ConfigProblem, load_config, parse_config_text
from autoticket.pipeline.redact import Redactor
from autoticket.policy import PolicyError, compile_route
from autoticket.regex import RegexError, compile_config_regex
from autoticket.sinks import check_sinks

__all__ = ["config_problems", "load_checked", "parse_checked"]


def config_problems(config: Config, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    return [*_route_problems(config), *_redaction_problems(config), *check_sinks(config, env)]


def load_checked(path: str | Path | None = None, secrets: bool = True) -> Config:
    """`load_config`, then every check; ConfigError lists all problems found.

    `secrets=False` skips checking that the variables sinks name are set: a
    backtest (replay, simulate) never calls a sink.
    """
    return _checked(load_config(path), None if secrets else _EveryVariable())


def parse_checked(text: str, source: str = "<config>") -> Config:
    return _checked(parse_config_text(text, source))


class _EveryVariable(Mapping[str, str]):
    """An environment in which every variable is set (to a placeholder)."""

    def __getitem__(self, key: str) -> str:
        return "<not checked>"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _checked(config: Config, env: Mapping[str, str] | None = None) -> Config:
    problems = config_problems(config, env)
    if problems:
        raise ConfigError(config.source, problems)
    return config


def _route_problems(config: Config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for i, route in enumerate(config.routes):
        try:
            compile_route(route)
        except PolicyError as exc:
            where = (int(p) if p.isdigit() else p for p in (exc.field or "").split(".") if p)
            problems.append(config.problem(("routes", i, *where), exc.reason))
    return problems


def _redaction_problems(config: Config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for i, pattern in enumerate(config.redaction.patterns):
        try:
            compile_config_regex(pattern.regex)  # RE2: what the redactor will run
        except RegexError as exc:
            loc = ("redaction", "patterns", i, "regex")
            problems.append(config.problem(loc, f"invalid regular expression: {exc.reason}"))
    if problems:
        return problems
    try:
        Redactor(config.redaction)
    except ValueError as exc:
        problem = config.problem(("redaction", "disable"), str(exc))
        problems.append(ConfigProblem("redaction", problem.line, problem.message))
    if config.retention.raw_bodies == "redact" and not config.redaction.enabled:
        loc = ("retention", "raw_bodies")
        problems.append(config.problem(loc, "redact needs redaction.enabled: true"))
    return problems
