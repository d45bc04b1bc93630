"""Reading people's changes out of a Redmine issue's journal (two-way sync).

A journal entry by anyone but the sink's own user is a human change: a status
change to a closed status is `closed` (with the status name as resolution,
e.g. Rejected), to an open one `reopened`; a new assignee `reassigned`; a note
alone `commented`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["HumanChange", "changes_of"]


@dataclass(frozen=True, slots=True)
class HumanChange:
    ref: str  # the Redmine issue id
    incident_id: int
    kind: str  # closed | reopened | reassigned | commented
    who: str
    at: datetime
    detail: str  # the status name, the assignee id, or the note's first line


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
        notes = (journal.get("notes") or "").strip()
        if not kinds and notes:
            kinds.append(("commented", notes.splitlines()[0][:200]))
        found += [HumanChange(ref, incident_id, kind, who, at, text) for kind, text in kinds]
    return found
