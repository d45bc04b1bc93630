"""Release safety: release events, the judge, suspect-release ranking.

The judge (issue 13) is a library without storage: give it each metric's
samples before and after a release and it returns a `Judgement`
(`judge`), an early call while the release rolls out (`judge_early`), and
the rollout action for either (`decide_action`, `action_while_rolling`).
`ReleaseSettings` is the `releases:` section of the config. Release events
are parsed in `releases/events.py`.
"""

from autoticket.releases.directions import Direction, default_direction, direction_of
from autoticket.releases.early import EarlyCall, EarlyDecision, judge_early
from autoticket.releases.judge import MetricSamples, judge, judge_metric
from autoticket.releases.policy import (
    Action,
    ActionDecision,
    action_while_rolling,
    decide_action,
)
from autoticket.releases.results import (
    Classification,
    GroupScore,
    Judgement,
    MetricResult,
    SideStats,
    Verdict,
)
from autoticket.releases.settings import (
    EarlySettings,
    MetricSpec,
    ReleaseSettings,
    ScoreThresholds,
)
from autoticket.releases.stats import ShiftTest, compare, hodges_lehmann, shift_interval

__all__ = [
    "Action",
    "ActionDecision",
    "Classification",
    "Direction",
    "EarlyCall",
    "EarlyDecision",
    "EarlySettings",
    "GroupScore",
    "Judgement",
    "MetricResult",
    "MetricSamples",
    "MetricSpec",
    "ReleaseSettings",
    "ScoreThresholds",
    "ShiftTest",
    "SideStats",
    "Verdict",
    "action_while_rolling",
    "compare",
    "decide_action",
    "default_direction",
    "direction_of",
    "hodges_lehmann",
    "judge",
    "judge_early",
    "judge_metric",
    "shift_interval",
]
