"""From a verdict to what the rollout should do: continue, pause or roll back.

    verdict    still rolling out               finished (or at 100%)
    pass       continue                        continue
    marginal   pause at the current percent    continue, flagged for a look
    fail       roll back                       roll back
    no_data    continue (nothing to judge)     continue (nothing to judge)

While the judge looks early (releases/early.py), `action_while_rolling`
maps its call: fail rolls back, pass continues, and a wait pauses when the
judgement so far is fail or marginal (do not widen a rollout that looks bad
but is not yet proven so), and continues otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from autoticket.releases.early import EarlyCall, EarlyDecision
from autoticket.releases.results import Verdict

__all__ = ["Action", "ActionDecision", "action_while_rolling", "decide_action", "is_rolling"]


class Action(StrEnum):
    CONTINUE = "continue"
    PAUSE = "pause"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class ActionDecision:
    action: Action
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action.value, "reason": self.reason}


def is_rolling(in_progress: bool, rollout_percent: float | None) -> bool:
    """A rollout can be held only while it runs and has not reached 100%."""
    return in_progress and (rollout_percent is None or rollout_percent < 100.0)


def decide_action(
    verdict: Verdict, *, in_progress: bool, rollout_percent: float | None = None
) -> ActionDecision:
    where = _where(rollout_percent)
    if verdict is Verdict.FAIL:
        return ActionDecision(Action.ROLLBACK, f"verdict fail: roll back{where}")
    if verdict is Verdict.MARGINAL:
        if is_rolling(in_progress, rollout_percent):
            return ActionDecision(Action.PAUSE, f"verdict marginal: hold{where} for a clearer one")
        return ActionDecision(
            Action.CONTINUE, "verdict marginal, rollout complete: nothing to hold, worth a look"
        )
    if verdict is Verdict.NO_DATA:
        return ActionDecision(Action.CONTINUE, "no metric had data: nothing to judge")
    return ActionDecision(Action.CONTINUE, "verdict pass")


def action_while_rolling(call: EarlyCall, rollout_percent: float | None = None) -> ActionDecision:
    if call.decision is EarlyDecision.FAIL:
        return decide_action(Verdict.FAIL, in_progress=True, rollout_percent=rollout_percent)
    if call.decision is EarlyDecision.PASS:
        return decide_action(Verdict.PASS, in_progress=True, rollout_percent=rollout_percent)
    so_far = call.judgement.verdict
    if so_far in (Verdict.FAIL, Verdict.MARGINAL) and is_rolling(True, rollout_percent):
        where = _where(rollout_percent)
        return ActionDecision(Action.PAUSE, f"{so_far.value} so far, not yet decisive: hold{where}")
    return ActionDecision(Action.CONTINUE, f"{so_far.value} so far: keep watching")


def _where(rollout_percent: float | None) -> str:
    return "" if rollout_percent is None else f" at {rollout_percent:g}%"
