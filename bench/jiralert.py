"""What Alertmanager + jiralert would file for a scenario's stream (the lab's baseline).

jiralert (prometheus-community/jiralert, `pkg/notify`) handles each webhook
notification on its own:

1. the issue's key is the notification's group labels (its `ALERT{...}`
   Jira label): one issue per Alertmanager group key;
2. it searches Jira for issues with that label, most recently resolved first
   (unresolved ones first of all);
3. a resolved issue older than `reopen_duration` is not reused (a new issue
   is created); 0 means always reuse;
4. with an issue: no firing alert and `auto_resolve` set -> resolve it; firing
   and the issue resolved -> reopen it; otherwise update its summary;
5. without one: no firing alert -> nothing; else create an issue.

Every delivery is handled, HA copies and retries included: they find the
issue the first copy created, unless they arrive before Jira's search index
shows it (`index_lag`), when they create a second issue (the race jiralert
has between concurrent notifications). The team is the receiver's: the
alerts' common `team` label routed by Alertmanager, else the default
receiver's team.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from bench.scenario_score import Ticket

__all__ = ["JiralertSettings", "jiralert_tickets"]


@dataclass(frozen=True, slots=True)
class JiralertSettings:
    reopen_duration: timedelta = timedelta(hours=1)  # as autoticket's reopen_within
    auto_resolve: bool = True
    index_lag: timedelta = timedelta(seconds=1)
    default_team: str = "platform"


@dataclass(slots=True)
class _Issue:
    ticket: Ticket
    label: str
    created_at: datetime
    resolved_at: datetime | None = None


def jiralert_tickets(
    lines: Iterable[bytes], settings: JiralertSettings | None = None
) -> list[Ticket]:
    settings = settings or JiralertSettings()
    issues: dict[str, list[_Issue]] = {}
    out: list[Ticket] = []
    for raw in lines:
        line = orjson.loads(raw)
        if line.get("source") != "alertmanager":
            continue
        body = line["body"]
        at = datetime.fromisoformat(line["received_at"].replace("Z", "+00:00")).astimezone(UTC)
        group = body.get("groupLabels") or {}
        label = "ALERT{" + ",".join(f'{k}="{group[k]}"' for k in sorted(group)) + "}"
        alerts = body.get("alerts") or []
        firing = [a for a in alerts if a.get("status") == "firing"]
        refs = {(line["id"], n) for n in range(len(alerts))}
        issue = _search(issues.get(label, []), at, settings)
        if issue is not None and issue.resolved_at is not None:
            too_old = issue.resolved_at + settings.reopen_duration < at
            if settings.reopen_duration and too_old:
                issue = None
        if issue is None:
            if not firing:
                continue
            team = (body.get("commonLabels") or {}).get("team") or settings.default_team
            ticket = Ticket(f"JIRA-{len(out) + 1}", team, at, [], set(refs))
            out.append(ticket)
            issues.setdefault(label, []).append(_Issue(ticket, label, at))
            continue
        issue.ticket.alerts |= refs
        if not firing:
            if settings.auto_resolve and issue.resolved_at is None:
                issue.resolved_at = at
                issue.ticket.resolutions.append(at)
        elif issue.resolved_at is not None:
            issue.resolved_at = None  # reopened
    return out


def _search(found: list[_Issue], at: datetime, settings: JiralertSettings) -> _Issue | None:
    """What Jira's search returns first: an unresolved issue, else the latest resolved one;
    issues created less than `index_lag` ago are not indexed yet."""
    visible = [i for i in found if i.created_at + settings.index_lag <= at]
    if not visible:
        return None
    unresolved = [i for i in visible if i.resolved_at is None]
    if unresolved:
        return unresolved[-1]
    return max(visible, key=lambda i: i.resolved_at or at)
