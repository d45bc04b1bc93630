"""From the config's `sinks:` map to sink objects: each type checks its own settings.

`config.py` only knows that a sink has a type; here each type's `Settings`
validates the rest, and the environment variables the settings name are read
once. Problems come back line-numbered, like the config's own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from autoticket.config import Config, ConfigError, ConfigProblem, SinkSpec
from autoticket.sinks.base import Sink, TransactionalSink
from autoticket.sinks.builtin import BuiltinSink
from autoticket.sinks.registry import SINK_TYPES

__all__ = ["build_sinks", "check_sinks", "external_sinks", "transactional_sinks"]

AnySink = Sink | BuiltinSink


def _problem(name: str, spec: SinkSpec, loc: tuple[Any, ...], message: str) -> ConfigProblem:
    path = ".".join(map(str, ("sinks", name, *loc)))
    return ConfigProblem(path, spec.line_of(*loc), message)


def _check_one(
    name: str, spec: SinkSpec, env: Mapping[str, str]
) -> tuple[Any, dict[str, str], list[ConfigProblem]]:
    """(validated settings, secrets, problems) of one entry."""
    kind = SINK_TYPES.get(spec.type)
    if kind is None:
        known = ", ".join(sorted(SINK_TYPES))
        return (
            None,
            {},
            [_problem(name, spec, ("type",), f"unknown sink type {spec.type!r}; known: {known}")],
        )
    try:
        settings = kind.Settings.model_validate(spec.settings)
    except ValidationError as exc:
        return (
            None,
            {},
            [_problem(name, spec, tuple(err["loc"]), err["msg"]) for err in exc.errors()],
        )
    secrets: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    if issubclass(kind, Sink):
        for field, var in Sink.secret_fields(settings).items():
            value = env.get(var)
            if not value:
                message = f"sink {name!r}: environment variable {var} is not set"
                problems.append(_problem(name, spec, (field,), message))
            else:
                secrets[var] = value
    return settings, secrets, problems


def check_sinks(config: Config, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Every problem of the `sinks:` map: unknown types, bad settings, unset variables."""
    env = os.environ if env is None else env
    specs = config.sink_specs  # with the release action webhook's sink, when configured
    return [p for name, spec in specs.items() for p in _check_one(name, spec, env)[2]]


def build_sinks(
    config: Config, client: httpx.Client, env: Mapping[str, str] | None = None
) -> dict[str, AnySink]:
    """One sink object per entry of `config.sink_specs`; ConfigError lists all problems.

    Also quiets httpx's own per-request log line (INFO): it quotes the full URL
    (some webhook URLs carry a token) and the remote's reason phrase verbatim.
    The lanes log each outcome themselves.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    env = os.environ if env is None else env
    built: dict[str, AnySink] = {}
    problems: list[ConfigProblem] = []
    source = "<config>"
    for name, spec in config.sink_specs.items():
        source = spec.source if spec.source != "<config>" else source
        settings, secrets, found = _check_one(name, spec, env)
        problems.extend(found)
        if found:
            continue
        kind = SINK_TYPES[spec.type]
        if issubclass(kind, Sink):
            sink = kind(name, settings, client, secrets)
            sink.use_config(config)
            built[name] = sink
        else:
            built[name] = kind()
    if problems:
        raise ConfigError(source, problems)
    return built


def transactional_sinks(sinks: Mapping[str, Any]) -> dict[str, TransactionalSink]:
    return {name: s for name, s in sinks.items() if not isinstance(s, Sink)}


def external_sinks(sinks: Mapping[str, Any]) -> dict[str, Sink]:
    return {name: s for name, s in sinks.items() if isinstance(s, Sink)}
