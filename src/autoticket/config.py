"""Settings and the YAML config: loading, validation, line-numbered errors.

The YAML holds routes, catalog, redaction, timers and sinks. Secrets never live
in it: settings that are secret come from the environment (`AUTOTICKET_*`, and
the variables a sink names with `secret_env` / `token_env`).

This module does not import the code it configures: a sink's own settings are
kept as given (`SinkSpec`) and validated by `autoticket.sinks.build_sinks`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from autoticket.oncall.settings import EscalationPolicy, Schedule
from autoticket.releases.settings import RELEASE_ACTION_SINK, ReleaseSettings
from autoticket.silence_settings import InhibitRule, MaintenanceEntry, SilenceEntry

__all__ = [
    "BUILTIN_SINK",
    "CatalogConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Duration",
    "HmacConfig",
    "IngestConfig",
    "ParsedConfig",
    "RedactionConfig",
    "RetentionConfig",
    "RouteConfig",
    "ServerConfig",
    "ServiceEntry",
    "Settings",
    "SinkSpec",
    "SnsConfig",
    "SourceAuthConfig",
    "TeamEntry",
    "TimersConfig",
    "bundled_config_path",
    "format_duration",
    "load_config",
    "parse_duration",
    "read_config_text",
]

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """Accept `90`, `90s`, `5m`, `1h30m`, `7d` or a timedelta."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not value >= 0:  # also catches NaN
                raise ValueError(f"a duration cannot be negative: {value!r}")
            return timedelta(seconds=float(value))
        if isinstance(value, str):
            m = _DURATION.match(value)
            if m and any(m.groups()):
                d, h, mi, s = (int(g) if g else 0 for g in m.groups())
                return timedelta(days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:
        raise ValueError(f"duration {value!r} is too large") from None
    raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m, 7d)")


def format_duration(value: timedelta) -> str:
    """The shortest `parse_duration` text of a whole number of seconds: 90s -> 1m30s."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
# Widths of the columns these names are stored in (store/tables.py).
Name = Annotated[str, Field(min_length=1, max_length=128)]
Priority = Annotated[str, Field(min_length=1, max_length=16)]
SeverityName = Literal["critical", "high", "warning", "info"]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimersConfig(_Strict):
    resolve_after: Duration = timedelta(minutes=5)
    reopen_within: Duration = timedelta(hours=1)


class StormConfig(_Strict):
    """Storms (engine/storms.py): when this many services of one cluster (and
    environment) open incidents within `window`, one storm incident groups them;
    the services that join after that file no ticket of their own."""

    enabled: bool = True
    threshold: int = Field(default=3, ge=2)
    window: PositiveDuration = timedelta(minutes=5)
    # The label that names the place a storm shares (the incidents' group label).
    label: str = Field(default="cluster", min_length=1)
    # Who owns a storm's ticket (a platform team); default: the catalog's default_team.
    team: Name | None = None


class TopologyConfig(_Strict):
    """Topology (policy/topology.py): a new incident of a service whose dependency
    (catalog `depends_on`, followed transitively) has an incident in the same place
    (environment, cluster) opened within `window` before it, and filing a ticket, is
    related to that one: shown there, no ticket of its own (a paused symptom when
    its pause ends, if it still fires).

    The incident it hangs on resolves only once its related incidents stop firing
    too. Not on an incident made of the release judge's verdict alone: the symptoms of
    a regressed release file their own tickets, which name it as a suspect."""

    enabled: bool = True
    window: PositiveDuration = timedelta(minutes=15)


class FlappingConfig(_Strict):
    """Flapping (pipeline/correlate.py): when an incident's alerts fire again after
    resolving `toggles` times within `window`, it is marked flapping (one ticket
    comment) and resolves only after `stable_for` without a firing alert, so the
    ticket is not resolved and reopened with every toggle."""

    enabled: bool = True
    toggles: int = Field(default=3, ge=2, le=50)
    window: PositiveDuration = timedelta(hours=1)
    stable_for: PositiveDuration = timedelta(minutes=30)


class TicketCapConfig(_Strict):
    """A team's ticket rate cap (pipeline/ticket_cap.py): once more than `tickets`
    new incidents of one team opened within `window` (not counting those of a
    storm, related ones, or info), the next ones file no ticket of their own: they
    join the team's overflow incident, whose one ticket lists them, until a
    `window` passes without one. So no storm floods a team's queue, whatever its
    shape. `teams` sets a team's own cap. Off by default."""

    enabled: bool = False
    tickets: int = Field(default=20, ge=1)
    window: PositiveDuration = timedelta(minutes=10)
    teams: dict[Name, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)


class CorrelationConfig(_Strict):
    storm: StormConfig = StormConfig()
    topology: TopologyConfig = TopologyConfig()
    flapping: FlappingConfig = FlappingConfig()
    ticket_cap: TicketCapConfig = TicketCapConfig()


class TicketsConfig(_Strict):
    """How often a ticket hears of an incident's changes (engine/coalesce.py).

    An update is sent for a change worth a comment (severity, priority, a
    refire, a new service or alertname, every `update_every_alerts`-th new
    alert), at most once per `update_interval`; other changes are folded
    into the next update. Opening, reopening and resolving are never held.
    `coalesce: false` sends an update for every change.
    """

    coalesce: bool = True
    update_interval: Duration = timedelta(minutes=5)
    update_every_alerts: int = Field(default=10, gt=0)
    # Growth: an incident's priority rises one step (P3 -> P2, along the configured
    # priorities) at each of these alert counts it reaches, so a spreading fault
    # is worked on sooner; the change is one ticket update. [] turns it off.
    raise_priority_at: list[Annotated[int, Field(gt=1)]] = Field(default_factory=lambda: [10, 50])


def _text(value: Any) -> Any:
    """YAML reads `tier: 1` as a number; it is a name."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class KubernetesKeys(_Strict):
    """How a Kubernetes alert names this service: its namespace and workload (a
    `deployment`, `statefulset`, `daemonset`, `cronjob`, `job_name` or `container`
    label with this value, or a `pod` named `<workload>-…`)."""

    namespace: str = Field(min_length=1, max_length=253)
    workload: str = Field(min_length=1, max_length=253)


class ServiceEntry(_Strict):
    team: Name
    tier: Annotated[str | None, BeforeValidator(_text)] = None
    runbook: str | None = None
    repo: str | None = None
    # Services this one calls: their releases are suspects of its incidents.
    depends_on: list[Name] = Field(default_factory=list)
    # Other names alerts use for it (a `service` or `job` label value): enrich
    # writes the catalog's name in the `service` label, so they correlate as one.
    aliases: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list)
    # Links a responder opens first, shown on its tickets: name -> http(s) URL.
    dashboards: dict[str, str] = Field(default_factory=dict)
    kubernetes: KubernetesKeys | None = None


class TeamEntry(_Strict):
    name: str | None = None
    email: str | None = None
    slack: str | None = None
    # On call (docs/oncall.md): a name in the top-level `schedules:` map, a name
    # in `escalation_policies:`, and the sinks an escalation step notifies.
    schedule: Name | None = None
    escalation_policy: Name | None = None
    notify: list[Name] = Field(default_factory=list)


class CatalogConfig(_Strict):
    services: dict[str, ServiceEntry] = Field(default_factory=dict)
    teams: dict[str, TeamEntry] = Field(default_factory=dict)
    default_team: Name | None = None
    # Backstage `catalog-info.yaml` files (globs, relative to this file) and URLs,
    # imported when the config loads (autoticket/backstage.py); entries written
    # above win over imported ones of the same name.
    backstage: list[Annotated[str, Field(min_length=1, max_length=2048)]] = Field(
        default_factory=list
    )


class RedactionPattern(_Strict):
    name: str
    regex: str


class RedactionConfig(_Strict):
    enabled: bool = True
    patterns: list[RedactionPattern] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)


_P_NUMBER = re.compile(r"P[0-9]+")
SEVERITY_ORDER = ("critical", "high", "warning", "info")
"""Most severe first: the order of the priority ladder growth climbs."""
DEFAULT_PRIORITIES: dict[str, str] = {
    "critical": "P1",
    "high": "P2",
    "warning": "P3",
    "info": "P4",
}


DEFAULT_GROUP_LABELS = ("service", "cluster")
"""A route that writes no `group_by` keys incidents by these (cross-alert correlation):
the different alerts of one service in one cluster and environment are one incident."""
FALLBACK_GROUP_LABELS = ("alertname",)
"""...and an alert without a `service` label by its alertname, as before."""


class DuringRelease(_Strict):
    """Deploy-aware suppression: alerts of these severities of a service whose release
    (same environment) started within `window` before them wait for the window to end
    (the release judge decides on the release meanwhile); still firing then, they ticket."""

    severities: list[SeverityName] = Field(default_factory=lambda: ["warning"], min_length=1)
    window: PositiveDuration = timedelta(minutes=30)


class TemplateSpec(_Strict):
    """A ticket's title and body as sandboxed Jinja2 (engine/templates.py), chosen by
    a route's or a sink's `template`. Either may be left out (the default stays);
    what renders is cut to the limits (a tracker's field sizes)."""

    title: str | None = Field(default=None, max_length=10_000)
    body: str | None = Field(default=None, max_length=100_000)
    title_limit: int = Field(default=255, ge=16, le=10_000)
    body_limit: int = Field(default=32_768, ge=256, le=1_000_000)


class RouteConfig(_Strict):
    name: Name
    matchers: list[str] = Field(default_factory=list)
    condition: str | None = None
    action: Literal["ticket", "ignore"] = "ticket"
    # The labels whose values (with the environment) make an incident's key.
    # Not written: cross-alert correlation, see `pipeline/correlate.correlation_key`.
    group_by: list[str] | None = None
    # Cross-alert correlation joins another alertname of the service to its open
    # incident only this long after the incident opened; later, an alertname the
    # incident does not have yet is an incident of its own (a new fault, or noise).
    # null: no limit. Only with the default keys (no `group_by`).
    cross_alert_window: PositiveDuration | None = timedelta(minutes=15)
    # An incident whose worst alert is `info` is context, not work: it files no
    # ticket (held, explained) unless this is true, and files one when it grows worse.
    ticket_info: bool = False
    # Transient auto-pause: a new incident of these severities files its ticket
    # only if it still fires this long after its first alert (e.g. {warning: 2m});
    # what resolved in time is recorded as suppressed, with the reason.
    pause: dict[SeverityName, PositiveDuration] = Field(default_factory=dict)
    # Shadow mode: decide and explain everything, file no ticket; watch a new rule
    # before it acts. Turned off, an incident still open files its ticket then.
    shadow: bool = False
    # Deploy-aware suppression during a service's release window (pipeline/silencing.py).
    during_release: DuringRelease | None = None
    team: Name | None = None
    priorities: dict[SeverityName, Priority] = Field(default_factory=dict)
    sinks: list[str] = Field(default_factory=lambda: ["builtin"])
    # The `templates:` entry its tickets' title and body render with (all sinks,
    # unless a sink names its own).
    template: Name | None = None
    # As in Alertmanager: after this route matches, later routes are tried too;
    # the sinks of those that match (with action ticket) also get the ticket.
    # This route still decides the incident, action, priority and template.
    continue_: bool = Field(default=False, alias="continue")
    # A subtree, as in Alertmanager: once this route matches, its first matching
    # child decides (its `continue` going on to its siblings); none matching, this
    # route does. A child inherits every setting it does not write (team, sinks,
    # pause, ...), and its matchers and condition add to its parent's.
    routes: list[RouteConfig] = Field(default_factory=list)


# Not inherited by a child route: what makes it a route of its own.
_OWN_ROUTE_FIELDS = frozenset({"name", "matchers", "condition", "continue_", "routes"})


def _child_route(parent: RouteConfig, child: RouteConfig) -> RouteConfig:
    """`child` as it acts under `parent`: the settings it does not write come from
    the parent, its matchers follow the parent's, both conditions must hold."""
    update: dict[str, Any] = {
        name: getattr(parent, name)
        for name in RouteConfig.model_fields
        if name not in _OWN_ROUTE_FIELDS and name not in child.model_fields_set
    }
    update["matchers"] = [*parent.matchers, *child.matchers]
    conditions = [c for c in (parent.condition, child.condition) if c is not None]
    both = len(conditions) == 2
    update["condition"] = " && ".join(f"({c})" if both else c for c in conditions) or None
    return child.model_copy(update=update)


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """A route of the tree as it acts (`route`: inherited settings filled in), where
    it is written (`loc`, e.g. ("routes", 2, "routes", 0)) and as written."""

    loc: tuple[Any, ...]
    route: RouteConfig
    written: RouteConfig


def _route_entries(
    routes: list[RouteConfig], parent: RouteConfig | None, loc: tuple[Any, ...]
) -> tuple[list[RouteConfig], list[RouteEntry]]:
    """The effective routes of one level (children filled in) and every entry below, in
    pre-order (a route, then its subtree)."""
    level: list[RouteConfig] = []
    entries: list[RouteEntry] = []
    for i, written in enumerate(routes):
        here = (*loc, i)
        acting = written if parent is None else _child_route(parent, written)
        children, below = _route_entries(written.routes, acting, (*here, "routes"))
        if written.routes:
            acting = acting.model_copy(update={"routes": children})
        level.append(acting)
        entries += [RouteEntry(here, acting, written), *below]
    return level, entries


BUILTIN_SINK = "builtin"


class SinkSpec(BaseModel):
    """One entry of the `sinks:` map: a type and that type's settings, checked later.

    Remembers where it was written (`line_of`), so the sinks can report
    their settings' problems with line numbers too.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Name
    # The `templates:` entry this sink's tickets render with, over the route's.
    template: Name | None = None
    _source: str = PrivateAttr(default="<config>")
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def source(self) -> str:
        return self._source

    def line_of(self, *loc: Any) -> int | None:
        """The line of the field at `loc` under this entry (or of the nearest parent)."""
        return _nearest_line(self._lines, loc)


class IngestConfig(_Strict):
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # One storm notification must not become one enormous batch: a delivery
    # with more events is refused (413) and kept as a dead letter.
    max_events_per_delivery: int = Field(default=5000, gt=0)
    # Caps on what one event may carry, in characters (docs/architecture.md,
    # "Limits"): longer values are cut with a marker, labels past the count or
    # with a longer name are dropped, and the event records what was cut. The
    # raw body is kept whole. Values far above any real label (Prometheus
    # instance/pod/URL labels stay well under 1 KiB), far below what makes a
    # regex, a row or a ticket costly.
    max_label_name_length: int = Field(default=128, ge=16)
    max_label_value_length: int = Field(default=4096, ge=64)
    max_labels: int = Field(default=64, ge=8)
    max_annotation_length: int = Field(default=16384, ge=64)
    # Bodies at least this large are parsed in a worker thread, not on the
    # event loop, so one big delivery does not hold up every other request.
    parse_in_thread_bytes: int = Field(default=64 * 1024, ge=0)
    # A request body must arrive within this long (408 and the connection closed
    # otherwise): a client trickling bytes cannot hold a connection and a worker.
    body_timeout: PositiveDuration = timedelta(seconds=10)
    # POST /api/v2/alerts drops a copy of a Prometheus alert identical (but for
    # endsAt) to one stored less than this long ago; 0s stores every copy.
    unchanged_resend_window: Duration = timedelta(minutes=5)


class HmacConfig(_Strict):
    """An HMAC signature check; header/prefix/encoding default to the adapter's scheme."""

    secret_env: EnvName
    header: str | None = Field(default=None, min_length=1, max_length=128)
    algorithm: Literal["sha256", "sha1", "sha512"] | None = None
    prefix: str | None = Field(default=None, max_length=64)
    encoding: Literal["hex", "base64"] | None = None


SNS_HOSTS = ("https://sns.*.amazonaws.com",)
"""Where SNS signing certificates and subscribe links live (`*`: one DNS label)."""


class SnsConfig(_Strict):
    """Amazon SNS message signatures and subscription confirmation
    (docs/sources/cloudwatch.md). Offline by default: only `certificate`."""

    # PEM file with the certificate(s) SNS signs with (one or more).
    certificate: Path | None = None
    # Download the message's SigningCertURL when its origin is in `allowed_hosts`.
    fetch_certificate: bool = False
    # GET a SubscriptionConfirmation's SubscribeURL (once its signature checks out).
    auto_confirm: bool = False
    # Origins (`scheme://host[:port]`) that certificates and subscribe links may come from.
    allowed_hosts: list[str] = Field(default_factory=lambda: list(SNS_HOSTS), min_length=1)
    # Refuse a message whose Timestamp is older than this (a replayed capture);
    # SNS's longest HTTP retry policy spans an hour, hence two. `0` turns it off.
    max_age: Duration = timedelta(hours=2)

    @model_validator(mode="after")
    def _has_a_certificate(self) -> SnsConfig:
        if self.certificate is None and not self.fetch_certificate:
            raise ValueError("set certificate (a PEM file) or fetch_certificate: true")
        return self


class SourceAuthConfig(_Strict):
    """How one source authenticates (docs/sources/auth.md), and the settings its
    adapter takes. Secrets are named by environment variable only, never
    written in the config."""

    token_env: EnvName | None = None
    hmac: HmacConfig | None = None
    sns: SnsConfig | None = None
    # kubernetes: involvedObject labels that name the service, first found wins.
    service_labels: list[Annotated[str, Field(min_length=1)]] | None = None
    # kubernetes: the namespace is the service when no service label is found.
    namespace_as_service: bool | None = None

    def adapter_settings(self) -> dict[str, Any]:
        """The keyword arguments this entry gives its adapter (plain data)."""
        settings: dict[str, Any] = {}
        if self.service_labels is not None:
            settings["service_labels"] = tuple(self.service_labels)
        if self.namespace_as_service is not None:
            settings["namespace_as_service"] = self.namespace_as_service
        return settings


class ServerConfig(_Strict):
    """The HTTP server's own limits (uvicorn), for `serve`."""

    # An idle keep-alive connection is closed after this long.
    keep_alive_timeout: PositiveDuration = timedelta(seconds=5)
    # Connections (and in-flight requests) at once; past it new ones get 503.
    max_connections: int = Field(default=1000, gt=0)
    # Pending connections the kernel queues before accept.
    backlog: int = Field(default=2048, gt=0)
    # Largest request line plus headers; larger is refused by the HTTP parser.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # A connection must complete its request line and headers within this long
    # of opening (or of its last response): else 408 and closed.
    header_timeout: PositiveDuration = timedelta(seconds=10)
    # Host header values the HTTP server answers (port left out). Anything
    # else is refused, so a DNS-rebound name cannot reach a loopback server.
    # `serve` adds the address it binds; "*" allows any host (behind a proxy
    # that checks it).
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"], min_length=1
    )
    # One log line per request (autoticket.access); off for benchmarks or when a
    # proxy in front already keeps an access log.
    access_log: bool = True


class RetentionConfig(_Strict):
    """How long stored data is kept; open incidents and their events are never purged."""

    inbox: Duration = timedelta(days=7)
    events: Duration = timedelta(days=30)
    dead_letters: Duration = timedelta(days=30)
    # Resolved incidents with their alerts, timeline, decisions, ticket and outbox
    # rows; never sooner than timers.reopen_within after the resolution.
    incidents: Duration = timedelta(days=90)
    # Releases with their verdicts, by start; and pushed metric samples, by
    # sample time (the judge reads at most an hour around a release).
    releases: Duration = timedelta(days=180)
    metric_samples: Duration = timedelta(days=14)
    # keep: inbox and dead-letter bodies exactly as received (replay is exact);
    # redact: stored with secrets masked (docs/redaction.md, "Raw bodies").
    raw_bodies: Literal["keep", "redact"] = "keep"


class Config(_Strict):
    ingest: IngestConfig = IngestConfig()
    server: ServerConfig = ServerConfig()
    timers: TimersConfig = TimersConfig()
    tickets: TicketsConfig = TicketsConfig()
    correlation: CorrelationConfig = CorrelationConfig()
    retention: RetentionConfig = RetentionConfig()
    catalog: CatalogConfig = CatalogConfig()
    redaction: RedactionConfig = RedactionConfig()
    priorities: dict[SeverityName, Priority] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES)  # type: ignore[arg-type]
    )
    routes: list[RouteConfig] = Field(default_factory=lambda: [RouteConfig(name="default")])
    sinks: dict[Name, SinkSpec] = Field(default_factory=dict)
    templates: dict[Name, TemplateSpec] = Field(default_factory=dict)
    # Severity x service tier: a row per catalog tier overrides `priorities` for
    # the services of that tier (e.g. tier "1": {critical: P1, warning: P2});
    # a route's own `priorities` override both.
    priority_matrix: dict[
        Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=64)],
        dict[SeverityName, Priority],
    ] = Field(default_factory=dict)
    sources: dict[Name, SourceAuthConfig] = Field(default_factory=dict)
    releases: ReleaseSettings = Field(default_factory=ReleaseSettings)
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    escalation_policies: dict[Name, EscalationPolicy] = Field(default_factory=dict)
    # Silences and maintenance windows written here (silence_settings.py); people
    # add theirs through the API and the UI (stored, store/silences.py).
    silences: list[SilenceEntry] = Field(default_factory=list)
    maintenance: list[MaintenanceEntry] = Field(default_factory=list)
    # Alertmanager-style inhibition (policy/inhibit.py, in correlate).
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    _source: str = PrivateAttr(default="<config>")
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file (or `<config>`) this config was read from, for error messages."""
        return self._source

    def line_of(self, *loc: Any) -> int | None:
        """The line of the field at `loc` (or of its nearest parent), when known."""
        return _nearest_line(self._lines, loc)

    def problem(self, loc: tuple[Any, ...], message: str) -> ConfigProblem:
        """A problem at `loc`, with its dotted path and line."""
        return ConfigProblem(".".join(map(str, loc)) or "<root>", self.line_of(*loc), message)

    @cached_property
    def sink_specs(self) -> dict[str, SinkSpec]:
        """Every configured sink by name; `builtin` is always there, and the
        release action webhook's sink when `releases.action_webhook` is set."""
        specs = {BUILTIN_SINK: SinkSpec(type=BUILTIN_SINK), **self.sinks}
        hook = self.releases.action_webhook
        if hook is not None:
            specs[RELEASE_ACTION_SINK] = SinkSpec.model_validate(
                {"type": "release-action", "url": hook.url, "secret_env": hook.secret_env}
                | {"timeout": hook.timeout.total_seconds()}
            )
        return specs

    @cached_property
    def adapter_settings(self) -> dict[str, dict[str, Any]]:
        """Per source, the settings its adapter is built with (sources take plain data)."""
        found = {name: entry.adapter_settings() for name, entry in self.sources.items()}
        return {name: settings for name, settings in found.items() if settings}

    @model_validator(mode="after")
    def _adapter_settings_fit(self) -> Config:
        for name, entry in self.sources.items():
            given = set(entry.adapter_settings())
            if given and name != "kubernetes":
                raise ValueError(
                    f"sources.{name}: {', '.join(sorted(given))} only apply to kubernetes"
                )
            if entry.sns is not None and name != "cloudwatch":
                raise ValueError(f"sources.{name}: sns only applies to cloudwatch")
        return self

    @cached_property
    def _route_tree(self) -> tuple[list[RouteConfig], list[RouteEntry]]:
        return _route_entries(self.routes, None, ("routes",))

    @property
    def route_tree(self) -> list[RouteConfig]:
        """The top-level routes as they act: each child route (`routes`) with the
        settings it inherits filled in (policy/routes.py walks this tree)."""
        return self._route_tree[0]

    @property
    def route_entries(self) -> list[RouteEntry]:
        """Every route of the tree, a route before its children, as it acts and where
        it is written."""
        return self._route_tree[1]

    @cached_property
    def all_routes(self) -> list[RouteConfig]:
        """Every route of the tree as it acts (children included)."""
        return [entry.route for entry in self.route_entries]

    @cached_property
    def _routes_by_name(self) -> dict[str, RouteConfig]:
        return {r.name: r for r in self.all_routes}

    def route(self, name: str) -> RouteConfig | None:
        return self._routes_by_name.get(name)

    @cached_property
    def routes_continue(self) -> bool:
        """Whether some route has `continue`: then a sink that got an incident's ticket
        gets its later actions too (engine/actions.record)."""
        return any(route.continue_ for route in self.all_routes)

    def sinks_for(self, route_name: str) -> list[str]:
        """The sinks of a route; the built-in store when the route is gone from the config
        (its incident's ticket still has to be updated somewhere)."""
        route = self.route(route_name)
        return list(route.sinks) if route is not None else ["builtin"]

    def priority_for(
        self, route: RouteConfig | None, severity: str, alerts: int = 1, tier: str | None = None
    ) -> str:
        """The priority of `severity` on `route` for a service of `tier` (the route's
        `priorities`, else the `priority_matrix` row of the tier, else `priorities`),
        raised one step per growth threshold (`tickets.raise_priority_at`) that
        `alerts` reaches, up to the top of the ladder."""
        base = self._priority(route, severity, tier)
        steps = self.growth_steps(alerts)
        if not steps:
            return base
        ladder = self.priority_ladder(route, tier)
        if base not in ladder:
            return base
        return ladder[max(0, ladder.index(base) - steps)]

    def priority_ladder(self, route: RouteConfig | None, tier: str | None = None) -> list[str]:
        """The priorities from most to least urgent: what severities give, most severe
        first; when all look like P<n>, ordered by n with the matrix's too."""
        ladder = list(dict.fromkeys(self._priority(route, s, tier) for s in SEVERITY_ORDER))
        every = set(ladder) | {self._priority(None, s, None) for s in SEVERITY_ORDER}
        every |= {p for row in self.priority_matrix.values() for p in row.values()}
        if all(_P_NUMBER.fullmatch(p) for p in every):
            return sorted(every, key=lambda p: int(p[1:]))
        return ladder

    def growth_steps(self, alerts: int) -> int:
        """How many of `tickets.raise_priority_at` an incident of `alerts` alerts reached."""
        return sum(alerts >= n for n in self.tickets.raise_priority_at)

    def _priority(self, route: RouteConfig | None, severity: str, tier: str | None) -> str:
        if route is not None and severity in route.priorities:
            return route.priorities[severity]
        row = self.priority_matrix.get(tier) if tier is not None else None
        if row is not None and severity in row:
            return row[severity]
        return self.priorities.get(severity, DEFAULT_PRIORITIES.get(severity, "P3"))


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


class ConfigError(ValueError):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _line_index(
    node: yaml.Node,
    path: tuple[Any, ...],
    out: dict[tuple[Any, ...], int],
    duplicates: list[ConfigProblem],
    seen: set[int] | None = None,
) -> None:
    """Record the 1-based line of every mapping key and sequence item; note duplicate keys.

    `seen` guards against YAML aliases that refer to themselves.
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        keys: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in keys:
                where = ".".join(map(str, (*path, key)))
                duplicates.append(
                    ConfigProblem(
                        where, line, "duplicate key: the earlier one would be silently ignored"
                    )
                )
            keys.add(key)
            _line_index(value_node, (*path, key), out, duplicates, seen)
            out[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out, duplicates, seen)


def _nearest_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return None


@dataclass(slots=True)
class ParsedConfig:
    """What one reading of a config file found: every problem, and a config to check further.

    When the schema fails, `config` is built from the top-level sections that
    are valid (the failed ones, listed in `failed`, take their defaults), so
    the checks that read only valid sections still run and a user sees every
    problem in one run; a check that reads a failed section is skipped.
    `config` is None when nothing could be read (YAML syntax, empty file).
    """

    config: Config | None
    problems: list[ConfigProblem]
    failed: frozenset[str] = frozenset()


def parse_config_text(text: str, source: str = "<config>") -> Config:
    """The config in `text`; ConfigError with every problem the schema and names show."""
    parsed = read_config_text(text, source)
    if parsed.problems or parsed.config is None:
        raise ConfigError(source, parsed.problems)
    return parsed.config


def read_config_text(text: str, source: str = "<config>") -> ParsedConfig:
    """Parse and validate without raising: YAML, the schema, then the names (`_check_names`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        return ParsedConfig(None, [ConfigProblem("<yaml>", line, str(exc))])
    if data is None:
        return ParsedConfig(None, [ConfigProblem("<file>", None, _EMPTY)])
    if not isinstance(data, dict):
        return ParsedConfig(None, [ConfigProblem("<root>", 1, "the config must be a mapping")])
    index: dict[tuple[Any, ...], int] = {}
    problems: list[ConfigProblem] = []
    if node is not None:
        _line_index(node, (), index, problems)
    failed: set[str] = set()
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(
                ConfigProblem(
                    ".".join(str(p) for p in loc) or "<root>",
                    _nearest_line(index, loc),
                    err["msg"],
                )
            )
            failed.add(str(loc[0]) if loc else "<root>")
        config = _valid_sections(data, failed)
        if config is None:
            return ParsedConfig(None, problems, frozenset(failed))
    for spec in config.sinks.values():
        spec._source = source
    config._source = source
    config._lines = index
    problems += _check_names(config, index, frozenset(failed))
    return ParsedConfig(config, problems, frozenset(failed))


_EMPTY = (
    "the file is empty (no settings); write at least one section, e.g. routes:, or "
    "leave --config out to run with the bundled example config"
)


def _valid_sections(data: dict[str, Any], failed: set[str]) -> Config | None:
    """A config of the sections that passed the schema; the failed ones at their defaults."""
    try:
        return Config.model_validate({k: v for k, v in data.items() if k not in failed})
    except ValidationError:
        return None


def _sink_problems(config: Config, index: dict[tuple[Any, ...], int]) -> list[ConfigProblem]:
    """`builtin` is reserved for the built-in store; each spec learns its lines."""
    problems: list[ConfigProblem] = []
    for name, spec in config.sinks.items():
        prefix = ("sinks", name)
        spec._lines = {loc[2:]: line for loc, line in index.items() if loc[:2] == prefix}
        if name == BUILTIN_SINK and (spec.type != BUILTIN_SINK or spec.settings):
            loc = (*prefix, "type")
            problems.append(
                ConfigProblem(
                    ".".join(loc),
                    _nearest_line(index, loc),
                    "the name 'builtin' is the built-in store: type builtin, no settings",
                )
            )
    return problems


def _check_names(
    config: Config, index: dict[tuple[Any, ...], int], failed: frozenset[str]
) -> list[ConfigProblem]:
    """What the schema alone cannot say: unique route names, known sink names.

    What only the configured code can check (matchers, CEL, redaction
    patterns, each sink's settings) and what the config means (priorities,
    teams, labels) is checked by `autoticket.checks`, which imports that
    code; this module does not. Sections that failed the schema are skipped.
    """
    problems: list[ConfigProblem] = _sink_problems(config, index)
    problems += _silence_name_problems(config, index, failed)
    if failed & {"routes", "sinks"}:
        return problems
    seen: set[str] = set()
    for entry in config.route_entries:
        route, here = entry.route, entry.loc
        if route.name in seen:
            problems.append(
                ConfigProblem(
                    ".".join(map(str, (*here, "name"))),
                    index.get((*here, "name")),
                    f"duplicate route name {route.name!r}",
                )
            )
        seen.add(route.name)
        known = config.sink_specs
        written = entry.written
        for j, sink in enumerate(written.sinks if "sinks" in written.model_fields_set else ()):
            if sink not in known:
                loc = (*here, "sinks", j)
                problems.append(
                    ConfigProblem(
                        ".".join(map(str, loc)),
                        _nearest_line(index, loc),
                        f"unknown sink {sink!r}; the sinks: map has {', '.join(sorted(known))}",
                    )
                )
    return problems


def _silence_name_problems(
    config: Config, index: dict[tuple[Any, ...], int], failed: frozenset[str]
) -> list[ConfigProblem]:
    """A silence's name is its id (`config:<name>`): one per name across both lists."""
    if failed & {"silences", "maintenance"}:
        return []
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    entries = [("silences", config.silences), ("maintenance", config.maintenance)]
    for section, listed in entries:
        for i, entry in enumerate(listed):
            if entry.name in seen:
                loc = (section, i, "name")
                problems.append(
                    ConfigProblem(
                        ".".join(map(str, loc)),
                        _nearest_line(index, loc),
                        f"duplicate silence name {entry.name!r}",
                    )
                )
            seen.add(entry.name)
    return problems


def bundled_config_path() -> Path:
    return Path(str(resources.files("autoticket") / "examples" / "config.yaml"))


def load_config(path: str | Path | None = None) -> Config:
    """Load the YAML at `path`, or the bundled example config when None."""
    target = Path(path) if path else bundled_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(target), [ConfigProblem("<file>", None, str(exc))]) from exc
    return parse_config_text(text, str(target))


@dataclass(frozen=True, slots=True)
class Settings:
    """Process settings from the environment (never from the YAML)."""

    database_url: str
    config_path: str | None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("AUTOTICKET_DATABASE_URL", "sqlite:///autoticket.db"),
            config_path=os.environ.get("AUTOTICKET_CONFIG"),
        )
