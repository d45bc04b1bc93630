"""releases/policy.py: verdict (and rollout state) to continue / pause / rollback."""

from __future__ import annotations

import pytest

from autoticket.releases.early import EarlyCall, EarlyDecision
from autoticket.releases.judge import MetricSamples, judge
from autoticket.releases.policy import Action, action_while_rolling, decide_action, is_rolling
from autoticket.releases.results import Judgement, Verdict
from autoticket.releases.settings import ReleaseSettings


@pytest.mark.parametrize(
    ("verdict", "in_progress", "percent", "action"),
    [
        (Verdict.PASS, True, 10.0, Action.CONTINUE),
        (Verdict.PASS, False, None, Action.CONTINUE),
        (Verdict.MARGINAL, True, 25.0, Action.PAUSE),
        (Verdict.MARGINAL, True, None, Action.PAUSE),
        (Verdict.MARGINAL, True, 100.0, Action.CONTINUE),
        (Verdict.MARGINAL, False, 25.0, Action.CONTINUE),
        (Verdict.FAIL, True, 5.0, Action.ROLLBACK),
        (Verdict.FAIL, False, 100.0, Action.ROLLBACK),
        (Verdict.NO_DATA, True, 50.0, Action.CONTINUE),
    ],
)
def test_the_action_table(
    verdict: Verdict, in_progress: bool, percent: float | None, action: Action
) -> None:
    assert decide_action(verdict, in_progress=in_progress, rollout_percent=percent).action is action


def test_a_rollback_says_where_the_rollout_stood() -> None:
    decision = decide_action(Verdict.FAIL, in_progress=True, rollout_percent=12.5)
    assert decision.to_dict() == {
        "action": "rollback",
        "reason": "verdict fail: roll back at 12.5%",
    }


def test_a_marginal_pause_says_why() -> None:
    decision = decide_action(Verdict.MARGINAL, in_progress=True, rollout_percent=25.0)
    assert decision.reason == "verdict marginal: hold at 25% for a clearer one"


def test_a_rollout_at_100_percent_cannot_be_held() -> None:
    assert not is_rolling(True, 100.0)
    assert is_rolling(True, 99.9)


def _call(decision: EarlyDecision, so_far: Verdict) -> EarlyCall:
    return EarlyCall(decision, "why", Judgement(so_far, 0.0, [], []))


@pytest.mark.parametrize(
    ("decision", "so_far", "action"),
    [
        (EarlyDecision.FAIL, Verdict.FAIL, Action.ROLLBACK),
        (EarlyDecision.PASS, Verdict.PASS, Action.CONTINUE),
        (EarlyDecision.WAIT, Verdict.FAIL, Action.PAUSE),
        (EarlyDecision.WAIT, Verdict.MARGINAL, Action.PAUSE),
        (EarlyDecision.WAIT, Verdict.PASS, Action.CONTINUE),
        (EarlyDecision.WAIT, Verdict.NO_DATA, Action.CONTINUE),
    ],
)
def test_early_calls_while_rolling(
    decision: EarlyDecision, so_far: Verdict, action: Action
) -> None:
    assert action_while_rolling(_call(decision, so_far), rollout_percent=20.0).action is action


def test_a_wait_that_looks_bad_is_held_with_its_reason() -> None:
    decision = action_while_rolling(_call(EarlyDecision.WAIT, Verdict.FAIL), rollout_percent=20.0)
    assert decision.reason == "fail so far, not yet decisive: hold at 20%"


def test_from_samples_to_a_rollback() -> None:
    """A critical error ratio from mean 10 to 15 (x1.5, interval [2, 8], see test_judge.py)
    fails the release although the latency held; a release at 30% is rolled back."""
    settings = ReleaseSettings.model_validate(
        {"metrics": {"checkout_error_ratio": {"critical": True}}}
    )
    before = [8.0, 9.0, 10.0, 11.0, 12.0]
    judgement = judge(
        [
            MetricSamples("checkout_error_ratio", before, [13.0, 14.0, 15.0, 16.0, 17.0]),
            MetricSamples("checkout_latency_seconds", before, list(before)),
        ],
        settings,
    )
    assert (judgement.verdict, judgement.score) == (Verdict.FAIL, 0.0)
    decision = decide_action(judgement.verdict, in_progress=True, rollout_percent=30.0)
    assert decision.action is Action.ROLLBACK
