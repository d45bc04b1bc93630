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
from autoticket.sinks.dispatch import DISPATCH_FIELDS, DispatchSettings
from autoticket.sinks.registry import SINK_TYPES

__all__ = ["build_sinks", "check_sinks", "external_sinks", "transactional_sinks"]

AnySink = Sink | BuiltinSink


def _problem(name: str, spec: SinkSpec, loc: tuple[Any, ...], message: str) -> ConfigProblem:
    path = ".".join(map(str, ("sinks", name, *loc)))
    return ConfigProblem(path, spec.line_of(*loc), message)


def _dispatch(
    name: str, spec: SinkSpec, env: Mapping[str, str]
) -> tuple[DispatchSettings | None, dict[str, str], list[ConfigProblem]]:
    """The dispatcher's settings of one entry (`sinks/dispatch.py`), its secret, problems."""
    given = {k: v for k, v in spec.settings.items() if k in DISPATCH_FIELDS}
    try:
        settings = DispatchSettings.model_validate(given)
    except ValidationError as exc:
        return None, {}, [_problem(name, spec, tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    if settings.webhook_secret_file is not None:
        return _secret_file(name, spec, settings)
    var = settings.webhook_secret_env
    if var is None:
        return settings, {}, []
    if not env.get(var):
        message = f"sink {name!r}: environment variable {var} is not set"
        return settings, {}, [_problem(name, spec, ("webhook_secret_env",), message)]
    return settings, {var: env[var]}, []


def _secret_file(
    name: str, spec: SinkSpec, settings: DispatchSettings
) -> tuple[DispatchSettings, dict[str, str], list[ConfigProblem]]:
    """The webhook secret read from `webhook_secret_file` (trailing newline dropped)."""
    path = str(settings.webhook_secret_file)
    try:
        with open(path, encoding="utf-8") as handle:
            secret = handle.read().strip()
    except OSError as exc:
        message = f"sink {name!r}: cannot read {path}: {exc.strerror}"
        return settings, {}, [_problem(name, spec, ("webhook_secret_file",), message)]
    if not secret:
        message = f"sink {name!r}: {path} is empty"
        return settings, {}, [_problem(name, spec, ("webhook_secret_file",), message)]
    return settings, {f"file:{path}": secret}, []


def _check_one(
    name: str, spec: SinkSpec, env: Mapping[str, str]
) -> tuple[Any, dict[str, str], list[ConfigProblem]]:
    """(validated settings, secrets, problems) of one entry; the dispatcher's own
    settings are left out here (`_dispatch`)."""
    kind = SINK_TYPES.get(spec.type)
    if kind is None:
        known = ", ".join(sorted(SINK_TYPES))
        return (
            None,
            {},
            [_problem(name, spec, ("type",), f"unknown sink type {spec.type!r}; known: {known}")],
        )
    own = {k: v for k, v in spec.settings.items() if k not in DISPATCH_FIELDS}
    if not issubclass(kind, Sink) and len(own) != len(spec.settings):
        extra = sorted(set(spec.settings) - set(own))
        message = f"dispatcher settings {extra} apply to external sinks only"
        return None, {}, [_problem(name, spec, (extra[0],), message)]
    try:
        settings = kind.Settings.model_validate(own)
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
    return [
        p
        for name, spec in specs.items()
        for p in _check_one(name, spec, env)[2] + _external_dispatch(name, spec, env)[2]
    ]


def _external_dispatch(
    name: str, spec: SinkSpec, env: Mapping[str, str]
) -> tuple[DispatchSettings | None, dict[str, str], list[ConfigProblem]]:
    kind = SINK_TYPES.get(spec.type)
    if kind is None or not issubclass(kind, Sink):
        return None, {}, []
    return _dispatch(name, spec, env)


def build_sinks(
    config: Config, client: httpx.Client | None = None, env: Mapping[str, str] | None = None
) -> dict[str, AnySink]:
    """One sink object per entry of `config.sink_specs`; ConfigError lists all problems.

    Every external sink shares `client`; None: one is made, only when an external
    sink is configured (loading the CA bundle costs ~50 ms, paid by every test and
    mutant that starts a runtime with the built-in store alone).

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
        dispatch, hook_secret, more = _external_dispatch(name, spec, env)
        problems.extend(found + more)
        if found or more:
            continue
        kind = SINK_TYPES[spec.type]
        if issubclass(kind, Sink):
            if client is None:
                client = httpx.Client(follow_redirects=False)
            sink = kind(name, settings, client, secrets | hook_secret)
            sink.dispatch = dispatch or DispatchSettings()
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
