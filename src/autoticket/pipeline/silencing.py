"""Which new incidents a silence, a maintenance window or a release holds (decide).

Per incident that opens, reopens or is already held by a silence in this
batch: the silence covering its firing events that lasts longest, and the
title of a firing event none covers (which lifts a hold). Three kinds:

- silences people made (stored) and the YAML's `silences:`;
- maintenance windows (`maintenance:`, weekly in a time zone);
- a release window: a route's `during_release` holds, for the severities it
  names, the alerts of a service whose release (same environment) started
  within `window` before them, until that window ends. The release judge
  says whether the release did harm; if the alert still fires when the
  window ends, the ticket is filed then.

The stored silences and releases are read only when such an incident is in
the batch, once per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from autoticket.config import Config, DuringRelease
from autoticket.model import (
    SILENCE_HOLDS,
    AlertStatus,
    Event,
    IncidentChange,
    Release,
    SilenceNote,
)
from autoticket.pipeline.base import Batch, CorrelationState
from autoticket.policy.silences import (
    Silence,
    SilenceHit,
    config_silences,
    covering,
    stored_silence,
)

__all__ = ["Silencing"]


class Silencing:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.config_silences = config_silences(config)

    def verdicts(
        self,
        batch: Batch,
        by_incident: dict[int, list[IncidentChange]],
        state: CorrelationState,
    ) -> tuple[dict[int, SilenceNote], dict[int, str]]:
        """(the covering silence, a firing event none covers) per incident concerned."""
        concerned: dict[int, bool] = {}
        firing: list[Event] = []
        for event in batch.events:
            iid = event.incident_id
            if iid is None or event.status is not AlertStatus.FIRING:
                continue
            wanted = concerned.get(iid)
            if wanted is None:
                changes = by_incident.get(iid)
                wanted = concerned[iid] = changes is not None and (
                    any(c.kind in ("opened", "reopened") for c in changes)
                    or state.incident(iid).held in SILENCE_HOLDS
                )
            if wanted:
                firing.append(event)
        if not firing:
            return {}, {}
        since = min(e.received_at for e in firing)
        silences: list[Silence] = [
            *self.config_silences,
            *(stored_silence(row) for row in state.silence_rows(since)),
        ]
        releases = self._release_windows(firing, state)
        hits: dict[int, SilenceHit] = {}
        unsilenced: dict[int, str] = {}
        for event in firing:
            iid = event.incident_id
            assert iid is not None
            hit = _longest(
                covering(silences, event.labels, event.received_at),
                self._release_hit(event, releases),
            )
            if hit is None:
                unsilenced.setdefault(iid, event.title)
            elif iid not in hits or hit.until > hits[iid].until:
                hits[iid] = hit
        return {iid: _note(hit) for iid, hit in hits.items()}, unsilenced

    def _quiet(self, event: Event) -> DuringRelease | None:
        """The route's `during_release` when it applies to this event's severity."""
        route = self.config.route(event.route or "")
        quiet = route.during_release if route is not None else None
        if quiet is None or event.service is None or event.severity.label not in quiet.severities:
            return None
        return quiet

    def _release_windows(
        self, firing: Iterable[Event], state: CorrelationState
    ) -> dict[tuple[str, str], list[Release]]:
        """The releases that may hold these events, by (service, environment)."""
        wanted: dict[str, tuple[set[str], datetime, datetime]] = {}
        for event in firing:
            quiet = self._quiet(event)
            if quiet is None:
                continue
            start = event.received_at - quiet.window
            services, lo, hi = wanted.get(event.environment, (set(), start, event.received_at))
            services.add(event.service or "")
            wanted[event.environment] = (services, min(lo, start), max(hi, event.received_at))
        found: dict[tuple[str, str], list[Release]] = {}
        for environment, (services, lo, hi) in sorted(wanted.items()):
            for release in state.releases_between(sorted(services), environment, lo, hi):
                found.setdefault((release.service, environment), []).append(release)
        return found

    def _release_hit(
        self, event: Event, releases: dict[tuple[str, str], list[Release]]
    ) -> SilenceHit | None:
        quiet = self._quiet(event) if releases else None
        if quiet is None:
            return None
        window = quiet.window
        best: SilenceHit | None = None
        for release in releases.get((event.service or "", event.environment), []):
            until = release.started_at + window
            if not release.started_at <= event.received_at < until:
                continue
            if best is None or until > best.until:
                silence = Silence(
                    id=f"release:{release.id}",
                    kind="release",
                    matchers=(),
                    starts_at=release.started_at,
                    ends_at=until,
                    comment=f"{release.service} {release.version} started "
                    f"{release.started_at.isoformat()}; {event.severity.label} alerts wait "
                    f"{window} for the release judge",
                    created_by=release.deployer or "",
                )
                best = SilenceHit(silence, until)
        return best


def _longest(a: SilenceHit | None, b: SilenceHit | None) -> SilenceHit | None:
    if a is None or b is None:
        return a or b
    return b if b.until > a.until else a


def _note(hit: SilenceHit) -> SilenceNote:
    silence = hit.silence
    until = None if hit.open_ended else hit.until
    return SilenceNote(silence.id, silence.kind, silence.describe(), until)
