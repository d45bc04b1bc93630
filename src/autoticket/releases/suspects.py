"""Suspect releases of an incident: which recent deploy most likely caused it.

Candidates are the releases of the incident's own services and of the
services they depend on (catalog `depends_on`), in the incident's
environment, started within `LOOKBACK` before the incident opened. A release
of an unrelated service is never a candidate, however close in time: a decoy
deploy next door must not win. Each candidate is scored

    proximity x relation x verdict

proximity = exp(-minutes between the release's start and the opening / 30),
relation = 1 for the incident's own service, 0.6 for a dependency, and
verdict = the judge's view of the release (fail 3, marginal 1.5, pass 0.5,
not judged 1). The reason says all three in words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoticket.model import Release

__all__ = ["LOOKBACK", "Suspect", "rank_suspects", "related_services"]

LOOKBACK = timedelta(hours=2)
HALF_LIFE_MINUTES = 30.0  # the e-folding time of the proximity weight
DEPENDENCY_WEIGHT = 0.6
VERDICT_WEIGHT = {"fail": 3.0, "marginal": 1.5, "pass": 0.5}


@dataclass(frozen=True, slots=True)
class Suspect:
    release: Release
    score: float
    reason: str

    def to_dict(self) -> dict[str, str | float | int | None]:
        return {
            "release_id": self.release.id,
            "service": self.release.service,
            "environment": self.release.environment,
            "version": self.release.version,
            "reason": self.reason,
            "score": round(self.score, 4),
        }


def related_services(
    services: Iterable[str], depends_on: Mapping[str, Iterable[str]]
) -> dict[str, str | None]:
    """Each candidate service -> the incident's service that depends on it (None: its own)."""
    own = sorted(set(services))
    related: dict[str, str | None] = {s: None for s in own}
    for service in own:
        for dependency in sorted(depends_on.get(service, ())):
            related.setdefault(dependency, service)
    return related


def rank_suspects(
    releases: Iterable[Release],
    related: Mapping[str, str | None],
    opened_at: datetime,
    verdicts: Mapping[int, str] | None = None,
    limit: int = 3,
) -> list[Suspect]:
    """The best `limit` suspects, best first; ties go to the later start."""
    found: list[Suspect] = []
    for release in releases:
        if release.service not in related:
            continue
        before = opened_at - release.started_at
        if before < timedelta(0) or before > LOOKBACK:
            continue
        minutes = before.total_seconds() / 60
        dependant = related[release.service]
        verdict = (verdicts or {}).get(release.id or 0)
        score = (
            math.exp(-minutes / HALF_LIFE_MINUTES)
            * (1.0 if dependant is None else DEPENDENCY_WEIGHT)
            * VERDICT_WEIGHT.get(verdict or "", 1.0)
        )
        found.append(Suspect(release, score, _reason(release, minutes, dependant, verdict)))
    found.sort(key=lambda s: (-s.score, -s.release.started_at.timestamp(), s.release.version))
    return found[:limit]


def _reason(release: Release, minutes: float, dependant: str | None, verdict: str | None) -> str:
    whose = (
        "the incident's own service"
        if dependant is None
        else f"a dependency of {dependant} (catalog depends_on)"
    )
    judged = f"judged {verdict}" if verdict else "not judged"
    return (
        f"{release.service} {release.version} started {_ago(minutes)} before the incident "
        f"opened; {whose}; {judged}"
    )


def _ago(minutes: float) -> str:
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f} h"
