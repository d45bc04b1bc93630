"""How the judge is tuned: the `releases:` section a config can embed.

```yaml
releases:
  metrics:
    checkout_error_ratio: {weight: 3, critical: true, allowed_increase: 1.1}
    queue_depth: {direction: higher_is_worse, group: saturation}
  groups: {saturation: 0.5}
  thresholds: {pass: 95, marginal: 75}
  baseline: 30m        # samples this long before the release are "before"
  window: 30m          # the release is observed this long, then judged
  step: 1m             # re-judged this often while observed
  prometheus: {url: "http://prometheus:9090", timeout: 10s, step: 15s}
  slis:
    - name: checkout_error_ratio
      query: sum(rate(errors_total{service="{service}",env="{environment}"}[1m]))
      critical: true
```

Effect sizes are ratios of means, after / before: `allowed_increase: 1.1`
lets a metric rise by 10% before it fails, `allowed_decrease: 0.9` lets it
fall by 10%. A metric the config does not name gets `MetricSpec()` with the
direction its name suffix implies (`releases/directions.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from autoticket.releases.directions import Direction, direction_of
from autoticket.releases.hook_settings import ReleaseSources
from autoticket.releases.promql import QueryTemplate, TemplateError

__all__ = [
    "DEFAULT_GROUP",
    "RELEASE_ACTION_SINK",
    "ActionWebhook",
    "EarlySettings",
    "MetricSpec",
    "PrometheusSettings",
    "ReleaseSettings",
    "ScoreThresholds",
    "SliSpec",
]

DEFAULT_GROUP = "default"
Weight = Annotated[float, Field(ge=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MetricSpec(_Strict):
    """One metric: which way is worse, how much it counts, how far it may move."""

    direction: Direction | None = None  # None: from the name's suffix
    group: str = Field(default=DEFAULT_GROUP, min_length=1)
    weight: Weight = 1.0  # 0: reported, never scored
    critical: bool = False  # its failure beyond the critical ratio fails the release
    allowed_increase: float = Field(default=1.0, ge=1.0)
    allowed_decrease: float = Field(default=1.0, gt=0.0, le=1.0)
    critical_increase: float | None = None  # None: the same as allowed_increase
    critical_decrease: float | None = None  # None: the same as allowed_decrease
    remove_outliers: bool = False  # drop values beyond the IQR fences before judging

    @model_validator(mode="after")
    def _critical_beyond_allowed(self) -> Self:
        if self.critical_increase is not None and self.critical_increase < self.allowed_increase:
            raise ValueError("critical_increase must be at least allowed_increase")
        if self.critical_decrease is not None and not (
            0.0 < self.critical_decrease <= self.allowed_decrease
        ):
            raise ValueError("critical_decrease must be above 0 and at most allowed_decrease")
        return self

    @property
    def increase_limit(self) -> float:
        """The after/before ratio from which an increase is critical."""
        return self.allowed_increase if self.critical_increase is None else self.critical_increase

    @property
    def decrease_limit(self) -> float:
        """The after/before ratio at or below which a decrease is critical."""
        return self.allowed_decrease if self.critical_decrease is None else self.critical_decrease

    def direction_for(self, name: str) -> Direction:
        return direction_of(name, self.direction)


class ScoreThresholds(_Strict):
    """Score (0-100) to verdict: >= pass is pass, >= marginal is marginal, else fail."""

    pass_: float = Field(default=95.0, alias="pass", ge=0.0, le=100.0)
    marginal: float = Field(default=75.0, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _marginal_below_pass(self) -> Self:
        if self.marginal > self.pass_:
            raise ValueError("the marginal threshold must not be above the pass threshold")
        return self


def _duration(value: Any) -> timedelta:
    """`90`, `90s`, `10m`, `1h30m` as everywhere in the config.

    Imported here, not at the top, so that config.py can embed these settings.
    """
    from autoticket.config import parse_duration

    return parse_duration(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]


class EarlySettings(_Strict):
    """When a verdict may be given before the observation window ends (releases/early.py)."""

    alpha: float = Field(default=0.001, gt=0.0, lt=1.0)  # one-sided p-value to fail early
    min_samples: int = Field(default=30, ge=1)  # after-samples per metric before a pass
    min_window: timedelta = timedelta(minutes=10)  # time since the release before a pass
    # An early pass also needs each metric's interval to rule out a worsening
    # larger than this share of its mean before (0.2: 20%); None: not asked.
    pass_margin: float | None = Field(default=None, gt=0.0)

    @field_validator("min_window", mode="before")
    @classmethod
    def _min_window(cls, value: Any) -> timedelta:
        return _duration(value)


class PrometheusSettings(_Strict):
    """Where live SLI values come from: a Prometheus-compatible HTTP API.

    Secrets stay out of the config: `bearer_token_env` and `headers_env` name
    environment variables, read when the reader is built.
    """

    url: str = Field(min_length=1)  # the base URL; /api/v1/query_range is appended
    timeout: PositiveDuration = timedelta(seconds=10)  # per query
    step: PositiveDuration = timedelta(seconds=15)  # resolution of query_range
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. X-Scope-OrgID
    headers_env: dict[str, str] = Field(default_factory=dict)  # header -> env var
    bearer_token_env: str | None = Field(default=None, min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            example = "http://prometheus:9090"
            raise ValueError(f"expected an http(s) URL such as {example}, got {value!r}")
        return value.rstrip("/")


class SliSpec(MetricSpec):
    """An SLI read from Prometheus: its name, its query template and how it is judged."""

    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            QueryTemplate.parse(value)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def template(self) -> QueryTemplate:
        return QueryTemplate.parse(self.query)

    @property
    def spec(self) -> MetricSpec:
        """The judging part, without the name and query."""
        return MetricSpec(**self.model_dump(include=set(MetricSpec.model_fields)))


# The sink the action webhook is delivered by (sinks/release_action.py); the
# config adds it to its sinks when `releases.action_webhook` is set.
RELEASE_ACTION_SINK = "release-actions"


class ActionWebhook(_Strict):
    """`releases.action_webhook`: a signed POST to a CD system for these actions.

    The HMAC secret is only ever named (`secret_env`), never written here.
    """

    url: str
    secret_env: str = Field(min_length=1)
    actions: list[Literal["pause", "rollback"]] = Field(
        default_factory=lambda: ["pause", "rollback"], min_length=1
    )
    timeout: PositiveDuration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value


class ReleaseSettings(_Strict):
    sources: ReleaseSources = Field(default_factory=ReleaseSources)  # deploy webhooks
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    groups: dict[str, Weight] = Field(default_factory=dict)  # group -> weight, default 1
    thresholds: ScoreThresholds = Field(default_factory=ScoreThresholds)
    confidence: float = Field(default=0.98, gt=0.0, lt=1.0)  # of the shift's interval
    min_samples: int = Field(default=5, ge=1)  # per side; fewer is no_data
    iqr_factor: float = Field(default=3.0, gt=0.0)  # outlier fences: Q1 - f*IQR, Q3 + f*IQR
    early: EarlySettings = Field(default_factory=EarlySettings)
    # A signed POST to a CD system on pause or rollback (sinks/release_action.py).
    action_webhook: ActionWebhook | None = None
    # Observation windows (releases/evaluate.py): before the release, after it,
    # and how often the call is re-made while it is observed.
    baseline: PositiveDuration = timedelta(minutes=30)
    window: PositiveDuration = timedelta(minutes=30)
    step: PositiveDuration = timedelta(minutes=1)
    # Live SLIs from Prometheus; every other metric comes from pushed samples.
    prometheus: PrometheusSettings | None = None
    slis: list[SliSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _slis_are_read_somewhere(self) -> Self:
        if self.slis and self.prometheus is None:
            raise ValueError("slis are read from Prometheus: set releases.prometheus.url")
        names = [sli.name for sli in self.slis]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"SLI names must be unique: {', '.join(twice)}")
        if both := sorted(set(names) & set(self.metrics)):
            raise ValueError(
                f"{', '.join(both)}: configure a metric under slis or metrics, not both"
            )
        return self

    def spec_for(self, name: str) -> MetricSpec:
        if name in self.metrics:
            return self.metrics[name]
        for sli in self.slis:
            if sli.name == name:
                return sli.spec
        return MetricSpec()

    def group_weight(self, group: str) -> float:
        return self.groups.get(group, 1.0)
