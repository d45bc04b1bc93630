"""A config checked against the code it configures, and for what it means.

`config.py` validates the schema and the names without importing what it
configures. This module adds what only that code can tell: routes compile
(matchers, CEL), the redaction settings and patterns are valid, and each
sink's settings and secrets are there; and, through `config_meaning`, what
the sections mean together (priorities, teams, labels). One pass collects
every problem, errors and warnings, so `check-config` reports them all in
one run. Every command loads its config through `check_config_file` or
`load_checked`, so an error is a line-numbered message at start-up (and in
`check-config`), not a failure later.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autoticket.backstage import with_backstage
from autoticket.config import (
    Config,
    ConfigError,
    ConfigProblem,
    ParsedConfig,
    bundled_config_path,
    read_config_text,
)
from autoticket.config_meaning import meaning_problems
from autoticket.engine.templates import template_problems
from autoticket.pipeline.redact import Redactor
from autoticket.policy import PolicyError, compile_route, parse_matchers
from autoticket.policy.inhibit import compile_rule
from autoticket.policy.silences import compile_entry
from autoticket.regex import RegexError, compile_config_regex
from autoticket.releases.prometheus import missing_secrets
from autoticket.sinks import check_sinks
from autoticket.sources import known_sources

__all__ = [
    "ConfigReport",
    "check_config_file",
    "check_config_text",
    "config_problems",
    "load_checked",
    "parse_checked",
]


@dataclass(slots=True)
class ConfigReport:
    """Every problem of one config: errors stop a command, warnings are printed."""

    source: str
    config: Config | None
    errors: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)
    regexes: int = 0  # configured regexes compiled (all by RE2)

    def checked(self) -> Config:
        """The config, or ConfigError listing every error."""
        if self.errors or self.config is None:
            raise ConfigError(self.source, self.errors)
        return self.config


def config_problems(config: Config, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """The errors of an already parsed config (warnings left out)."""
    return _code_problems(config, frozenset(), env) + meaning_problems(config)[0]


def check_config_text(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> ConfigReport:
    """Parse `text` and run every check that can run; never raises ConfigError."""
    return _report(read_config_text(text, source), source, env)


def check_config_file(path: str | Path | None = None, secrets: bool = True) -> ConfigReport:
    """`check_config_text` of the file at `path` (the bundled config when None).

    `secrets=False` skips checking that the variables sinks name are set: a
    backtest (replay, simulate) never calls a sink.
    """
    target = Path(path) if path else bundled_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return ConfigReport(str(target), None, [ConfigProblem("<file>", None, str(exc))])
    return check_config_text(text, str(target), None if secrets else _EveryVariable())


def load_checked(path: str | Path | None = None, secrets: bool = True) -> Config:
    """The config at `path` after every check; ConfigError lists all errors found."""
    return check_config_file(path, secrets).checked()


def parse_checked(text: str, source: str = "<config>") -> Config:
    return check_config_text(text, source).checked()


class _EveryVariable(Mapping[str, str]):
    """An environment in which every variable is set (to a placeholder)."""

    def __getitem__(self, key: str) -> str:
        return "<not checked>"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _report(parsed: ParsedConfig, source: str, env: Mapping[str, str] | None) -> ConfigReport:
    report = ConfigReport(source, parsed.config, list(parsed.problems))
    config = parsed.config
    if config is None:
        return report
    if config.catalog.backstage and "catalog" not in parsed.failed:
        config, imported = with_backstage(config, Path(source).parent)
        report.config = config
        for problem in imported.problems:  # degraded, not fatal: the rest is imported
            report.warnings.append(config.problem(("catalog", "backstage"), problem))
    report.errors += _code_problems(config, parsed.failed, env)
    errors, warnings = meaning_problems(config, parsed.failed)
    report.errors += errors
    report.warnings += warnings
    report.regexes = _regex_count(config, parsed.failed)
    report.errors.sort(key=_by_line)
    report.warnings.sort(key=_by_line)
    return report


def _by_line(problem: ConfigProblem) -> int:
    """File order; problems without a line (a missing variable, the file) last."""
    return problem.line if problem.line is not None else 1 << 30


def _code_problems(
    config: Config, failed: frozenset[str], env: Mapping[str, str] | None
) -> list[ConfigProblem]:
    """What only the configured code can tell, for the sections that passed the schema."""
    problems: list[ConfigProblem] = []
    if "routes" not in failed:
        problems += _route_problems(config)
    problems += _silence_problems(config, failed)
    if "inhibit_rules" not in failed:
        problems += _inhibit_problems(config)
    if not failed & {"templates", "routes", "sinks"}:
        problems += _template_problems(config)
    if not failed & {"redaction", "retention"}:
        problems += _redaction_problems(config)
    if "sinks" not in failed:
        problems += check_sinks(config, env)
    if "sources" not in failed:
        problems += _source_auth_problems(config, env)
    if "releases" not in failed:
        problems += _prometheus_problems(config, env)
        problems += _webhook_secret_problems(config, env)
    return problems


def _route_problems(config: Config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for entry in config.route_entries:
        try:
            compile_route(entry.written)  # its own matchers: a parent's are checked there
        except PolicyError as exc:
            where = (int(p) if p.isdigit() else p for p in (exc.field or "").split(".") if p)
            problems.append(config.problem((*entry.loc, *where), exc.reason))
    return problems


def _silence_problems(config: Config, failed: frozenset[str]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section in ("silences", "maintenance"):
        for i, entry in enumerate([] if section in failed else getattr(config, section)):
            try:
                compile_entry(entry)
            except PolicyError as exc:
                where = (int(p) if p.isdigit() else p for p in (exc.field or "").split(".") if p)
                problems.append(config.problem((section, i, *where), exc.reason))
    return problems


def _template_problems(config: Config) -> list[ConfigProblem]:
    """Templates that do not compile or render with every variable, and names of
    templates that do not exist."""
    problems: list[ConfigProblem] = []
    for name, spec in config.templates.items():
        for part, reason in template_problems(name, spec):
            problems.append(config.problem(("templates", name, part), reason))
    known = sorted(config.templates)

    def unknown(template: str) -> str:
        return f"no template {template!r} in templates: ({', '.join(known) or 'none'})"

    for entry in config.route_entries:
        template = entry.written.template
        if template is not None and template not in config.templates:
            problems.append(config.problem((*entry.loc, "template"), unknown(template)))
    for sink, spec in config.sinks.items():
        if spec.template is not None and spec.template not in config.templates:
            problems.append(config.problem(("sinks", sink, "template"), unknown(spec.template)))
    return problems


def _inhibit_problems(config: Config) -> list[ConfigProblem]:
    """Matchers that do not compile, and a name used twice (explain names the rule)."""
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for i, rule in enumerate(config.inhibit_rules):
        try:
            name = compile_rule(rule, i).name
        except PolicyError as exc:
            where = (int(p) if p.isdigit() else p for p in (exc.field or "").split(".") if p)
            problems.append(config.problem(("inhibit_rules", i, *where), exc.reason))
            continue
        if name in seen:
            problems.append(
                config.problem(("inhibit_rules", i, "name"), f"duplicate rule name {name!r}")
            )
        seen.add(name)
    return problems


def _regex_count(config: Config, failed: frozenset[str]) -> int:
    """Configured regexes: redaction patterns and `=~`/`!~` matchers (all run by RE2)."""
    count = 0 if "redaction" in failed else len(config.redaction.patterns)
    for route in [] if "routes" in failed else [e.written for e in config.route_entries]:
        try:
            count += sum(m.regex is not None for m in parse_matchers(route.matchers))
        except PolicyError:
            continue
    return count


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


def _prometheus_problems(config: Config, env: Mapping[str, str] | None) -> list[ConfigProblem]:
    """The variables releases.prometheus names for its credentials must be set."""
    settings = config.releases.prometheus
    if settings is None:
        return []
    missing = missing_secrets(settings, os.environ if env is None else env)
    return [
        config.problem(("releases", "prometheus", *where.split(".", 1)), message)
        for where, message in missing
    ]


def _source_auth_problems(config: Config, env: Mapping[str, str] | None) -> list[ConfigProblem]:
    """`sources.<name>` must name a registered source (a typo would leave the real
    one on the default token) and the variables it names must be set."""
    problems: list[ConfigProblem] = []
    environ = os.environ if env is None else env
    known = known_sources()
    for name, entry in config.sources.items():
        if name not in known:
            message = f"unknown source {name!r}; known: {', '.join(known)}"
            problems.append(config.problem(("sources", name), message))
            continue
        wanted = [("token_env",), ("hmac", "secret_env")] if entry.hmac else [("token_env",)]
        for loc in wanted:
            var = entry.token_env if loc == ("token_env",) else entry.hmac and entry.hmac.secret_env
            if var and not environ.get(var):
                message = f"environment variable {var} is not set (the source's secret)"
                problems.append(config.problem(("sources", name, *loc), message))
        certificate = entry.sns.certificate if entry.sns is not None else None
        if certificate is not None and (message := _certificate_problem(certificate)):
            problems.append(config.problem(("sources", name, "sns", "certificate"), message))
    return problems


def _certificate_problem(path: Path) -> str | None:
    """Why the SNS certificate file cannot be used (every message would get 401), if so."""
    from cryptography import x509  # only when SNS is configured

    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except ValueError:
        return f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    now = datetime.now(UTC)
    if all(c.not_valid_after_utc < now for c in certificates):
        last = max(c.not_valid_after_utc for c in certificates)
        return f"every certificate in {path} has expired (the last on {last:%Y-%m-%d})"
    return None


def _webhook_secret_problems(config: Config, env: Mapping[str, str] | None) -> list[ConfigProblem]:
    """The GitHub webhook's secret variable must be set: else every delivery is refused."""
    name = config.releases.sources.github_deployment.secret_env
    if name is None or (os.environ if env is None else env).get(name):
        return []
    loc = ("releases", "sources", "github_deployment", "secret_env")
    return [config.problem(loc, f"environment variable {name} is not set (the webhook's secret)")]
