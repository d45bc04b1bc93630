"""How the judge is tuned: the `releases:` section a config can embed.

```yaml
releases:
  metrics:
    checkout_error_ratio: {weight: 3, critical: true, allowed_increase: 1.1}
    queue_depth: {direction: higher_is_worse, group: saturation}
  groups: {saturation: 0.5}
  thresholds: {pass: 95, marginal: 75}
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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autoticket.releases.directions import Direction, direction_of

__all__ = [
    "DEFAULT_GROUP",
    "RELEASE_ACTION_SINK",
    "ActionWebhook",
    "EarlySettings",
    "MetricSpec",
    "ReleaseSettings",
    "ScoreThresholds",
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


class EarlySettings(_Strict):
    """When a verdict may be given before the observation window ends (releases/early.py)."""

    alpha: float = Field(default=0.001, gt=0.0, lt=1.0)  # one-sided p-value to fail early
    min_samples: int = Field(default=30, ge=1)  # after-samples per metric before a pass
    min_window: timedelta = timedelta(minutes=10)  # time since the release before a pass

    @field_validator("min_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        """`90`, `90s`, `10m`, `1h30m` as everywhere in the config.

        Imported here, not at the top, so that config.py can embed these settings.
        """
        from autoticket.config import parse_duration

        return parse_duration(value)


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
    timeout: timedelta = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        from autoticket.config import parse_duration

        return parse_duration(value)


class ReleaseSettings(_Strict):
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    groups: dict[str, Weight] = Field(default_factory=dict)  # group -> weight, default 1
    thresholds: ScoreThresholds = Field(default_factory=ScoreThresholds)
    confidence: float = Field(default=0.98, gt=0.0, lt=1.0)  # of the shift's interval
    min_samples: int = Field(default=5, ge=1)  # per side; fewer is no_data
    iqr_factor: float = Field(default=3.0, gt=0.0)  # outlier fences: Q1 - f*IQR, Q3 + f*IQR
    early: EarlySettings = Field(default_factory=EarlySettings)
    action_webhook: ActionWebhook | None = None

    def spec_for(self, name: str) -> MetricSpec:
        return self.metrics.get(name) or MetricSpec()

    def group_weight(self, group: str) -> float:
        return self.groups.get(group, 1.0)
