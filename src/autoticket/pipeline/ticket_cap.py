"""A team's ticket rate cap: past it, new incidents join the team's overflow incident.

When a new incident of its own (not a storm's, not related, worse than info)
would make more than `correlation.ticket_cap.tickets` (or the team's own number
under `teams`) such incidents of its team opened within `window`, an overflow
incident for the team (key `storm|team=<team>`, handled as a storm: one ticket
at once, resolved with its last member) is opened and it joins it: held, no
ticket of its own, listed in the overflow's ticket. Later new incidents of the
team join it while each comes within `window` of its last change; after a
quiet `window`, the count starts again (a later overflow is keyed
`…@<start>`). Done in correlate, in event order, so the outcome does not
depend on how deliveries were batched.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoticket.config import Config
from autoticket.model import STORM_PREFIX, Incident, Severity
from autoticket.pipeline.base import CorrelationState
from autoticket.pipeline.storm import burst_key, parent_draft

__all__ = ["Overflow", "overflow_for", "overflow_key"]


@dataclass(frozen=True, slots=True)
class Overflow:
    parent: Incident
    created: bool
    counted: int  # the team's incidents in the window, this one included
    cap: int


def overflow_key(team: str) -> str:
    return f"{STORM_PREFIX}team={team}"


def overflow_for(incident: Incident, config: Config, state: CorrelationState) -> Overflow | None:
    """The overflow incident a just-opened `incident` joins, if its team is over its cap."""
    settings = config.correlation.ticket_cap
    team = incident.team
    if not settings.enabled or not team or incident.severity <= Severity.INFO:
        return None
    cap = settings.teams.get(team, settings.tickets)
    key = overflow_key(team)
    state.lock_key(key)
    current = state.open_storm(key)
    if current is not None and incident.opened_at - current.updated_at <= settings.window:
        return Overflow(current, False, 0, cap)
    counted = len(state.team_incidents(team, incident.opened_at - settings.window, incident))
    if counted <= cap:
        return None
    if current is not None:  # an earlier overflow, quiet for a window: a new one
        key = burst_key(key, incident)
    title = f"Ticket cap: more than {cap} new incidents of team {team} within {settings.window}"
    draft = parent_draft(incident, key, title, team, {"team": team})
    context = {"ticket_cap": {"team": team, "cap": cap, "window": str(settings.window)}}
    parent, created = state.create_incident(draft, context)
    return Overflow(parent, created, counted, cap)
