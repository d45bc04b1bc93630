"""The ticket body: what a responder reads first, rendered from the incident.

Plain text with one fact a line, so it reads the same in the built-in UI, in
a tracker that renders Markdown (GitHub, Redmine) and in one that does not
(Jira's wiki markup, e-mail). Built from events that redaction has already
masked; bounded in size, since a source controls the annotations.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from autoticket.config import Config
from autoticket.model import Incident, TicketDetails, TicketVerdict
from autoticket.oncall import UnknownTeam, who_is_on_call

log = logging.getLogger("autoticket.engine")

__all__ = ["MAX_BODY", "on_call", "on_call_lookup", "render_body", "safe_link"]

MAX_BODY = 8192  # characters; the rest is cut with a marker
MAX_FIELD = 1024  # one annotation or description
_ANNOTATIONS_SHOWN_ELSEWHERE = frozenset({"summary", "description", "runbook_url"})
_LINK_LABELS = (("generator", "Source"), ("alertmanager", "Alertmanager"))


def safe_link(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL without spaces or control characters.

    A source controls these values: a `javascript:` or `data:` link must not
    become something a responder clicks in a tracker.
    """
    if not url or len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(incident: Incident) -> str:
    first = incident.opened_at.isoformat().replace("+00:00", "Z")
    last = incident.updated_at.isoformat().replace("+00:00", "Z")
    return f"First seen: {first} · Last seen: {last}"


def _owner(config: Config, team: str | None) -> str:
    if not team:
        return "Owner: none (no team label, catalog entry or route team)"
    entry = config.catalog.teams.get(team)
    if entry is None:
        return f"Owner: {team}"
    contacts = [c for c in (entry.name, entry.email, entry.slack) if c]
    return f"Owner: {team} ({', '.join(contacts)})" if contacts else f"Owner: {team}"


def on_call(config: Config, team: str | None, at: datetime) -> tuple[str | None, str]:
    """Who is on call for `team` at `at`, and the ticket's line saying so."""
    user, line, _ = on_call_lookup(config, team, at)
    return user, line


def on_call_lookup(config: Config, team: str | None, at: datetime) -> tuple[str | None, str, str]:
    """(responder, the ticket's line, outcome): outcome is `found`, `no_team`,
    `no_schedule`, `nobody` or `failed`.

    Never blocks a ticket: a lookup that fails (a broken feed, a schedule the
    config lost) is logged and the line says the responder is unknown.
    """
    if not team:
        return None, "On call: unknown (no owner team)", "no_team"
    try:
        answer = who_is_on_call(config, team, at)
    except UnknownTeam:  # a team the catalog does not list: it has no schedule here
        return None, f"On call: no schedule for team {team}", "no_schedule"
    except Exception as exc:  # enrichment degrades, the ticket still goes out
        log.warning("on-call lookup for team %s failed: %s", team, type(exc).__name__)
        line = f"On call: unknown (the lookup failed: {type(exc).__name__})"
        return None, line, "failed"
    if answer is None:
        return None, f"On call: no schedule for team {team}", "no_schedule"
    if answer.user is None:
        return None, f"On call: nobody on {answer.schedule} ({answer.reason})", "nobody"
    until = f" until {answer.shift_end:%Y-%m-%d %H:%M} UTC" if answer.shift_end else ""
    return answer.user, f"On call: {answer.user} ({answer.schedule}{until})", "found"


def _why(incident: Incident, verdict: TicketVerdict) -> str:
    changes = ", ".join(verdict.changes) or "none"
    return (
        f"Why: route {verdict.rule!r} files tickets; severity {incident.severity.label} "
        f"gives priority {verdict.priority}; changes in this update: {changes}. "
        f"Full reasoning: GET /api/v1/incidents/{incident.id} (explain)."
    )


def render_body(
    config: Config, incident: Incident, details: TicketDetails, verdict: TicketVerdict
) -> str:
    where = details.service or "unknown service"
    if details.environment:
        where += f" ({details.environment})"
    lines = [_cut(details.summary, MAX_FIELD)]
    if details.description and details.description != details.summary:
        lines += ["", _cut(details.description, MAX_FIELD)]
    lines += [
        "",
        f"Service: {where}",
        f"Alert: {details.alertname}" if details.alertname else "Alert: (no alertname)",
        f"Severity: {incident.severity.label} · Priority: {verdict.priority}",
        f"Alerts: {incident.alert_count} ({incident.firing} firing)",
        _when(incident),
        _owner(config, incident.team or verdict.team),
        on_call(config, incident.team or verdict.team, incident.updated_at)[1],
    ]
    runbook = safe_link(details.runbook)
    lines.append(f"Runbook: {runbook}" if runbook else "Runbook: none")
    for key, label in _LINK_LABELS:
        link = safe_link(details.links.get(key))
        if link:
            lines.append(f"{label}: {link}")
    for key in sorted(k for k in details.links if k.startswith("dashboard ")):
        link = safe_link(details.links[key])
        if link:
            lines.append(f"Dashboard {key.removeprefix('dashboard ')}: {link}")
    extra = sorted(k for k in details.annotations if k not in _ANNOTATIONS_SHOWN_ELSEWHERE)
    if extra:
        lines += ["", "Annotations:"]
        lines += [f"- {k}: {_cut(details.annotations[k], MAX_FIELD)}" for k in extra]
    lines += ["", _why(incident, verdict)]
    return _cut("\n".join(lines), MAX_BODY)
