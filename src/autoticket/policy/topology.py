"""Topology: which open incident of a service's dependencies a symptom hangs on.

The catalog's `depends_on` (followed transitively, nearest first) names the
services whose incident may be the cause of a new incident downstream; it is
the cause only where the symptom is (its environment and cluster), within
`correlation.topology.window` before it, and while it files a ticket: one
whose ticket waits (a pause, info, shadow, a silence) may still turn out a
transient, and its symptoms would be left with none. Correlate relates a new
incident at once (pipeline/correlate.py); one its route pauses is related when
its pause ends (lifecycle/pause.py), so a transient symptom stays a transient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from autoticket.config import Config
from autoticket.model import RELATED_HOLD, STORM_HOLD, STORM_PREFIX, Incident, Severity

__all__ = ["dependencies", "files_ticket", "paused", "upstream_incident"]

# (dependency's service, the place it must be in, opened since) -> its open incident
FindIncident = Callable[[str, Mapping[str, str], datetime], Incident | None]


def upstream_incident(
    incident: Incident, config: Config, find: FindIncident, now: datetime
) -> tuple[Incident, str] | None:
    """The open incident of a dependency that `incident` is a symptom of, with that
    dependency's name; None when topology is off or there is none."""
    topology = config.correlation.topology
    labels = incident.group_labels
    service, environment = labels.get("service"), labels.get("environment")
    if not topology.enabled or not service or not environment:
        return None
    since = incident.opened_at - topology.window
    # Where the symptom is (environment, cluster, ...): a dependency's incident
    # elsewhere (another cluster's instance of it) is not its cause.
    place = {k: v for k, v in labels.items() if k not in ("service", "alertname")}
    for upstream in dependencies(config, service):
        found = find(upstream, place, since)
        if found is not None and found.id != incident.id and files_ticket(found, config, now):
            return found, upstream
    return None


def files_ticket(incident: Incident, config: Config, now: datetime) -> bool:
    """Does `incident` file (or has it filed) a ticket a symptom can hang on? Read
    from its route as well as from `held`, which decide sets after correlate, so
    that an incident opened in the same batch is judged as one opened earlier."""
    held = incident.held
    if held is not None:
        return held.startswith((STORM_HOLD.format(""), RELATED_HOLD.format("")))
    route = config.route(incident.route)
    if route is None or incident.correlation_key.startswith(STORM_PREFIX):
        return True
    if route.shadow or (incident.severity <= Severity.INFO and not route.ticket_info):
        return False
    pause = route.pause.get(incident.severity.label)  # type: ignore[call-overload]
    return pause is None or now - incident.opened_at >= pause


def paused(incident: Incident, config: Config) -> bool:
    """Does its route pause a new incident of its severity (lifecycle/pause.py relates
    it when the pause ends)?"""
    route = config.route(incident.route)
    return route is not None and incident.severity.label in route.pause


def dependencies(config: Config, service: str) -> list[str]:
    """`service`'s dependencies, breadth first (nearest first), each once; cycles end."""
    services = config.catalog.services
    seen, order, queue = {service}, [], [service]
    while queue:
        entry = services.get(queue.pop(0))
        for dep in entry.depends_on if entry is not None else []:
            if dep not in seen:
                seen.add(dep)
                order.append(dep)
                queue.append(dep)
    return order
