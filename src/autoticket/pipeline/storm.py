"""Storms: many services of one cluster alerting at once are one incident, one ticket.

When correlate opens an incident (with a service) and, counting it, the open
incidents of `correlation.storm.threshold` distinct services share its
cluster (the storm's `label`) and environment and opened within `window`
before it, a storm incident (key `storm|cluster=…,environment=…`) is opened
for them with one ticket; this incident and every later one of that place
become its children (`parent_id`): their tickets are held (`storm <id>`),
while they come within `window` of the storm's last change, however few are
in the window then (a later burst, while the first storm is still open, is a
storm of its own, `…@<start>`);
their alerts are shown and counted under the storm. The services that had
already filed a ticket keep it (at most threshold - 1 of them), handed to the
storm's team (correlate's `_hand_over`: one owner per storm). The storm
resolves when its last child resolves (lifecycle/auto_resolve.py).

Done in correlate, in event order, so which incident a storm gets and its
id do not depend on how deliveries were batched.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoticket.config import Config
from autoticket.model import RELATED_HOLD, STORM_HOLD, Incident, IncidentStatus, storm_key
from autoticket.pipeline.base import CorrelationState

__all__ = ["RELATED_HOLD", "STORM_HOLD", "Storm", "burst_key", "parent_draft", "storm_for"]


@dataclass(frozen=True, slots=True)
class Storm:
    parent: Incident
    created: bool
    services: list[str]


def storm_for(incident: Incident, config: Config, state: CorrelationState) -> Storm | None:
    """The storm a just-opened `incident` makes or joins, if its place has one now."""
    storm = config.correlation.storm
    labels = incident.group_labels
    place, environment = labels.get(storm.label), labels.get("environment")
    if not storm.enabled or not place or not environment or not labels.get("service"):
        return None
    since = incident.opened_at - storm.window
    services = state.storm_services(storm.label, place, environment, since, incident)
    key = storm_key(storm.label, place, environment)
    if len(services) < storm.threshold:
        # Too few services in the window to start a storm; one under way (its last
        # service joined within the window) still gathers this one.
        current = state.open_storm(key)
        if current is None or incident.opened_at - current.updated_at > storm.window:
            return None
        state.lock_key(key)
        return Storm(current, False, services)
    state.lock_key(key)
    current = state.open_storm(key)
    if current is not None:
        if incident.opened_at - current.updated_at <= storm.window:
            return Storm(current, False, services)
        # The place's storm is still open, but its last service joined longer ago
        # than the window: this burst is a storm of its own.
        key = burst_key(key, incident)
    team = storm.team or config.catalog.default_team or incident.team
    draft = parent_draft(
        incident,
        key,
        f"Storm: many services alerting in {storm.label} {place} ({environment})",
        team,
        {storm.label: place, "environment": environment},
    )
    context = {"storm": {"label": storm.label, "place": place, "services": services}}
    parent, created = state.create_incident(draft, context)
    return Storm(parent, created, services)


def burst_key(key: str, incident: Incident) -> str:
    """The key of a later burst of a parent `key` whose earlier one is still open."""
    return f"{key}@{incident.opened_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def parent_draft(
    incident: Incident, key: str, title: str, team: str | None, labels: dict[str, str]
) -> Incident:
    """A storm-like parent (a storm, a team's overflow) opened by `incident`, as it."""
    return Incident(
        id=0,
        correlation_key=key,
        route=incident.route,
        title=title,
        team=team,
        severity=incident.severity,
        priority="",
        status=IncidentStatus.OPEN,
        opened_at=incident.opened_at,
        updated_at=incident.opened_at,
        group_labels=labels,
    )
