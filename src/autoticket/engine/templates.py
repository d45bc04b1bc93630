"""Ticket templates: a route's or a sink's title and body as sandboxed Jinja2.

`templates:` names them; a route's `template` applies to all its sinks, a
sink's `template` overrides it for that sink. Templates run in Jinja2's
sandbox (no attribute access to internals, no imports) over plain data: the
variables are `TEMPLATE_VARIABLES`, all already redacted. A name the
context does not have is an error (StrictUndefined), not an empty string.

A template never drops a ticket: if it fails to compile or to render, the
default title and body are used and the failure is returned, so the caller
explains it and counts it. What renders is cut to the template's limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from autoticket.config import Config, TemplateSpec

__all__ = [
    "SAMPLE_CONTEXT",
    "TEMPLATE_VARIABLES",
    "Rendered",
    "TicketTemplates",
    "template_problems",
    "templates_for",
]

TEMPLATE_VARIABLES = (
    "title",  # the default title
    "body",  # the default body (a template may wrap it)
    "summary",
    "description",
    "service",
    "environment",
    "alertname",
    "severity",
    "priority",
    "team",
    "oncall",  # the responder on call now, or None
    "alert_count",
    "firing",
    "first_seen",  # ISO 8601, UTC
    "last_seen",
    "runbook",  # a safe http(s) link, or None
    "links",  # name -> safe link (generator, alertmanager, ...)
    "annotations",
    "labels",  # the ticket's labels (service, environment, alert, ...)
    "incident_id",
    "route",
    "changes",  # what changed in this action
)

SAMPLE_CONTEXT: dict[str, Any] = {
    "title": "HighErrorRate on checkout",
    "body": "Error rate above 5 %\n\nService: checkout (prod)",
    "summary": "Error rate above 5 %",
    "description": "5xx above 5 % for 10 minutes",
    "service": "checkout",
    "environment": "prod",
    "alertname": "HighErrorRate",
    "severity": "critical",
    "priority": "P1",
    "team": "payments",
    "oncall": "alice",
    "alert_count": 3,
    "firing": 2,
    "first_seen": "2026-01-05T10:00:00Z",
    "last_seen": "2026-01-05T10:05:00Z",
    "runbook": "https://runbooks.example/checkout",
    "links": {"generator": "https://prometheus.example/graph"},
    "annotations": {"summary": "Error rate above 5 %"},
    "labels": {"service": "checkout", "environment": "prod", "alert": "HighErrorRate"},
    "incident_id": 42,
    "route": "default",
    "changes": ["opened"],
}
"""What `check-config` renders each template with: every variable, plausible values."""

_CUT = " …[cut]"


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str | None = None
    body: str | None = None
    errors: list[str] = field(default_factory=list)


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # tickets are text; trackers escape what they show
        keep_trailing_newline=False,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


class TicketTemplates:
    """The config's templates, compiled once; a template that does not compile
    keeps its error and falls back whenever it is used."""

    def __init__(self, config: Config) -> None:
        env = _environment()
        self.specs = dict(config.templates)
        self.compiled: dict[tuple[str, str], jinja2.Template] = {}
        self.broken: dict[tuple[str, str], str] = {}
        for name, spec in self.specs.items():
            for part in ("title", "body"):
                source = getattr(spec, part)
                if source is None:
                    continue
                try:
                    self.compiled[(name, part)] = env.from_string(source)
                except jinja2.TemplateSyntaxError as exc:
                    self.broken[(name, part)] = f"line {exc.lineno}: {exc.message}"

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Title and body of template `name` (None where it has none, or failed)."""
        spec = self.specs.get(name)
        if spec is None:
            return Rendered(errors=[f"template {name!r}: no such template"])
        out: dict[str, str | None] = {"title": None, "body": None}
        errors: list[str] = []
        for part, limit in (("title", spec.title_limit), ("body", spec.body_limit)):
            text, error = self._part(name, part, context)
            if error is not None:
                errors.append(f"template {name!r} {part}: {error}")
            elif text is not None:
                if part == "title":
                    text = " ".join(text.split())  # one line
                out[part] = _cut(text, limit) if text else None
        return Rendered(out["title"], out["body"], errors)

    def _part(
        self, name: str, part: str, context: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        broken = self.broken.get((name, part))
        if broken is not None:
            return None, broken
        template = self.compiled.get((name, part))
        if template is None:
            return None, None
        try:
            return template.render(dict(context)), None
        except jinja2.TemplateError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a sandbox refusal, an arithmetic error: never fatal
            return None, f"{type(exc).__name__}: {exc}"


_CACHE: dict[int, tuple[Config, TicketTemplates]] = {}


def templates_for(config: Config) -> TicketTemplates:
    """The compiled templates of `config` (compiled once per config object)."""
    found = _CACHE.get(id(config))
    if found is None or found[0] is not config:
        if len(_CACHE) > 16:  # configs are few (one per reload); keep it small
            _CACHE.clear()
        found = (config, TicketTemplates(config))
        _CACHE[id(config)] = found
    return found[1]


def template_problems(name: str, spec: TemplateSpec) -> list[tuple[str, str]]:
    """(part, reason) for each part of a template that does not compile or does not
    render with every variable (`SAMPLE_CONTEXT`): for `check-config`."""
    env = _environment()
    problems: list[tuple[str, str]] = []
    for part in ("title", "body"):
        source = getattr(spec, part)
        if source is None:
            continue
        try:
            env.from_string(source).render(SAMPLE_CONTEXT)
        except jinja2.TemplateSyntaxError as exc:
            problems.append((part, f"line {exc.lineno} of the template: {exc.message}"))
        except jinja2.UndefinedError as exc:
            known = ", ".join(TEMPLATE_VARIABLES)
            problems.append((part, f"{exc.message} (the variables are: {known})"))
        except Exception as exc:
            problems.append((part, f"does not render: {type(exc).__name__}: {exc}"))
    return problems


def rendered_text(
    config: Config,
    context: Mapping[str, Any],
    route_template: str | None,
    sink_templates: Mapping[str, str],
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The payload fields templates give (`title`, `body`, and `per_sink` for the
    sinks with their own), and the failures as (template, error): each part that
    failed fell back to the default."""
    templates = templates_for(config)
    updates: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    if route_template is not None:
        done = templates.render(route_template, context)
        errors += [(route_template, e) for e in done.errors]
        updates.update(_fields(done))
    per_sink: dict[str, dict[str, str]] = {}
    for sink, name in sorted(sink_templates.items()):
        if name == route_template:
            continue
        done = templates.render(name, context)
        errors += [(name, e) for e in done.errors]
        if fields := _fields(done):
            per_sink[sink] = fields
    if per_sink:
        updates["per_sink"] = per_sink
    return updates, errors


def _fields(done: Rendered) -> dict[str, str]:
    fields = {}
    if done.title:
        fields["title"] = done.title
    if done.body:
        fields["body"] = done.body
    return fields
