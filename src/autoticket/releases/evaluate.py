"""A release's verdict from its samples: judged early, judged repeatedly, on sample time.

The judge compares each metric's samples after the release started with the
`baseline` before it. While the release is observed (`window` after its
start), the call is re-made at each `step` as samples arrive (all three are
`releases:` settings; `BASELINE`, `WINDOW` and `STEP` are their defaults):
`judge_early` may fail it as soon as the evidence is decisive and may pass
it only after its minimum window; otherwise the final verdict is made at
the window's end. Until then the verdict so far is reported as pending.

Everything runs on sample time (each sample's `t`), never on arrival time,
so replay gives the same verdict at any batch size and live gives the
verdict a replay of the same samples would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autoticket.model import Release
from autoticket.releases.control import Control, FleetIndex, fleet_index
from autoticket.releases.directions import direction_of
from autoticket.releases.early import EarlyCall, EarlyDecision, judge_early
from autoticket.releases.judge import MetricSamples, judge
from autoticket.releases.policy import action_while_rolling, decide_action
from autoticket.releases.readers import LiveReader, MetricReader, Prefetched, Series
from autoticket.releases.results import Judgement, Verdict
from autoticket.releases.settings import ReleaseSettings

__all__ = [
    "BASELINE",
    "STEP",
    "WINDOW",
    "Evaluation",
    "Series",
    "evaluate",
    "evaluate_with",
    "prefetch",
    "read_range",
]

BASELINE = ReleaseSettings.model_fields["baseline"].default
WINDOW = ReleaseSettings.model_fields["window"].default
STEP = ReleaseSettings.model_fields["step"].default


@dataclass(slots=True)
class Evaluation:
    verdict: str  # pass | marginal | fail | no_data, or the verdict so far while pending
    score: float | None
    action: str  # continue | pause | rollback
    action_reason: str
    decided_at: datetime | None  # None: still observing (or nothing to judge)
    how: str  # early_fail | early_pass | window_end | pending | no_data
    judgement: Judgement | None = None
    reasons: list[str] = field(default_factory=list)

    def metrics(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.judgement.metrics] if self.judgement else []


# Per series key, the samples of that key of every other service of the
# environment (the fleet control, releases/control.py).
Fleet = Mapping[str, Sequence[Sequence[tuple[datetime, float]]]]


def evaluate(
    release: Release,
    series: Sequence[Series],
    settings: ReleaseSettings,
    now: datetime,
    *,
    missing: Mapping[str, str] | None = None,
    fleet: Fleet | None = None,
    since: datetime | None = None,
) -> Evaluation:
    """The release's verdict as known at `now` (for replay: the end of the stream).

    `missing` names metrics that could not be read (a failed Prometheus
    query) with the reason: each is judged `no_data` with that reason.
    `fleet`: the same series of the environment's other services, the control
    that tells a release's effect from the fleet's (releases/control.py).
    `since` skips the early calls at steps before it: a caller that judged
    those steps already, on the same samples, need not judge them again.
    """
    start = release.started_at
    window = settings.window
    keyed = _settings_for_series(settings, series)
    if not series and not missing:
        return _no_data(release, "no samples of the release's service and environment")
    indexes = _fleet_indexes(series, fleet or {}, start, settings.baseline)

    unread = [
        MetricSamples(name, [], [], missing=why) for name, why in sorted((missing or {}).items())
    ]

    def windows(end: datetime) -> list[MetricSamples]:
        return _windows(series, indexes, start, end, settings.baseline) + unread

    end = min(now, start + window)
    at = start + settings.step
    if since is not None and since > at:
        at += settings.step * ((since - at) // settings.step)
    last: tuple[datetime, EarlyCall] | None = None
    while at <= end:
        call = judge_early(windows(at), keyed, elapsed=at - start)
        if call.decision is not EarlyDecision.WAIT:
            how = "early_fail" if call.decision is EarlyDecision.FAIL else "early_pass"
            return _decided(release, call.judgement, at, how)
        last = (at, call)
        at += settings.step
    if now >= start + window:
        judgement = judge(windows(start + window), keyed)
        return _decided(release, judgement, start + window, "window_end")
    if last is not None and last[0] == now:  # judged just now, on the same samples
        call = last[1]
    else:
        call = judge_early(windows(now), keyed, elapsed=now - start)
    so_far = call.judgement  # the judgement so far: judge_early made it already
    action = action_while_rolling(call, release.rollout_percent)
    return Evaluation(
        so_far.verdict.value,
        so_far.score,
        action.action.value,
        action.reason,
        None,
        "pending",
        so_far,
        [call.reason],
    )


def read_range(
    release: Release, settings: ReleaseSettings, now: datetime
) -> tuple[datetime, datetime]:
    """The time range whose samples the verdict as of `now` rests on."""
    start = release.started_at
    return start - settings.baseline, min(now, start + settings.window)


def evaluate_with(
    reader: MetricReader,
    release: Release,
    settings: ReleaseSettings,
    now: datetime,
    fleet: Callable[[Sequence[str]], Fleet] | None = None,
) -> Evaluation:
    """`evaluate` on what `reader` returns for the release's windows.

    `fleet`, given the keys of the series read, returns the fleet control's
    series for them (the other services' samples in the same range).
    """
    reading = reader.read(release.service, release.environment, *read_range(release, settings, now))
    control = fleet([key for key, _, _ in reading.series]) if fleet is not None else None
    return evaluate(release, reading.series, settings, now, missing=reading.missing, fleet=control)


def prefetch(
    reader: LiveReader, release: Release, settings: ReleaseSettings, now: datetime
) -> Prefetched:
    """Read the live metrics now, to judge on them later (inside a transaction)."""
    reading = reader.read(release.service, release.environment, *read_range(release, settings, now))
    return Prefetched(reading, reader.names)


def _decided(release: Release, judgement: Judgement, at: datetime, how: str) -> Evaluation:
    in_progress = release.finished_at is None or release.finished_at > at
    action = decide_action(
        judgement.verdict, in_progress=in_progress, rollout_percent=release.rollout_percent
    )
    return Evaluation(
        judgement.verdict.value,
        judgement.score,
        action.action.value,
        action.reason,
        at,
        how,
        judgement,
        list(judgement.reasons),
    )


def _no_data(release: Release, reason: str) -> Evaluation:
    action = decide_action(Verdict.NO_DATA, in_progress=release.finished_at is None)
    return Evaluation(
        Verdict.NO_DATA.value,
        None,
        action.action.value,
        action.reason,
        None,
        "no_data",
        None,
        [reason],
    )


def _fleet_indexes(
    series: Sequence[Series], fleet: Fleet, start: datetime, before: timedelta
) -> dict[str, FleetIndex]:
    indexes = {}
    for key, _, _ in series:
        if (others := fleet.get(key)) and (index := fleet_index(others, start - before, start)):
            indexes[key] = index
    return indexes


def _windows(
    series: Sequence[Series],
    indexes: Mapping[str, FleetIndex],
    start: datetime,
    end: datetime,
    before: timedelta,
) -> list[MetricSamples]:
    baseline = start - before
    windows = []
    for key, _, samples in series:
        seen = [(t, v) for t, v in samples if baseline <= t < start]
        after = [(t, v) for t, v in samples if start <= t < end]
        control = None
        if (index := indexes.get(key)) is not None:
            control = Control(
                index.services, [index.at(t) for t, _ in seen], [index.at(t) for t, _ in after]
            )
        windows.append(
            MetricSamples(key, [v for _, v in seen], [v for _, v in after], control=control)
        )
    return windows


def _settings_for_series(settings: ReleaseSettings, series: Sequence[Series]) -> ReleaseSettings:
    """Settings where a labelled series has its base metric's spec and direction."""
    extra: Mapping[str, Any] = {
        key: settings.spec_for(name).model_copy(
            update={"direction": direction_of(name, settings.spec_for(name).direction)}
        )
        for key, name, _ in series
        if key != name and key not in settings.metrics
    }
    if not extra:
        return settings
    return settings.model_copy(update={"metrics": {**settings.metrics, **extra}})
