"""Reading people's changes out of a Redmine issue's journal (two-way sync).

A journal entry by anyone but the sink's own user is a human change: a status
change to a closed status is `closed` (with the status name as `detail`, e.g.
Rejected), to an open one `reopened`; a new assignee `reassigned`.

`HumanChange` has the fields of the `RemoteChange` the sinkcore branch adds
to `sinks/base.py` (plus the incident id read from the subject tag), so the
sink's `poll` can hand them over as they are once that is on main.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["HumanChange", "changes_of"]


@dataclass(frozen=True, slots=True)
class HumanChange:
    remote_ref: str  # the Redmine issue id
    kind: str  # closed | reopened | reassigned
    by: str
    at: datetime
    detail: str  # the status name, or the new assignee's id
    incident_id: int


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def changes_of(
    issue: dict[str, Any],
    incident_id: int,
    my_id: int,
    statuses: dict[str, tuple[int, bool]],
    since: datetime,
) -> list[HumanChange]:
    """The human changes in one issue's journal (`include=journals`) at or after `since`."""
    by_id = {sid: (name, closed) for name, (sid, closed) in statuses.items()}
    since = since.replace(microsecond=0)  # Redmine's times are to the second
    found: list[HumanChange] = []
    for journal in issue.get("journals", []):
        user = journal.get("user") or {}
        at = _when(str(journal.get("created_on")))
        if int(user.get("id", -1)) == my_id or at < since:
            continue
        who = str(user.get("name", "someone"))
        ref = str(issue["id"])
        kinds: list[tuple[str, str]] = []
        for detail in journal.get("details", []):
            if detail.get("property") != "attr":
                continue
            if detail.get("name") == "status_id":
                name, closed = by_id.get(int(detail.get("new_value") or 0), ("?", False))
                kinds.append(("closed" if closed else "reopened", name))
            elif detail.get("name") == "assigned_to_id":
                kinds.append(("reassigned", str(detail.get("new_value") or "nobody")))
        found += [HumanChange(ref, kind, who, at, text, incident_id) for kind, text in kinds]
    return found
