"""The scenario lab's scorer: tickets filed against the truth (bench/README.md defines each figure).

Whoever filed them (the pipeline through replay, a live server read back
over the API, the jiralert baseline), tickets come here as `Ticket`s: an id,
a team, when it was opened, every time it was resolved, and the delivered
alerts it covers, each named by (line id, index of the alert in the body).
`score(tickets, truth)` compares them with the scenario's truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.scenario import COMPOSITE_KINDS

__all__ = ["TARGETS", "Ticket", "pool", "quantile", "score", "targets"]

AlertRef = tuple[str, int]  # (line id, index of the alert in that line's body)


@dataclass(slots=True)
class Ticket:
    id: str
    team: str | None
    opened_at: datetime
    resolutions: list[datetime] = field(default_factory=list)
    alerts: set[AlertRef] = field(default_factory=set)
    oncall: str | None = None  # the responder its opening named


@dataclass(slots=True)
class _Truth:
    incidents: dict[str, dict[str, Any]]
    episodes: dict[str, dict[str, Any]]
    deliveries: dict[str, list[str]]
    received: dict[str, datetime]

    @classmethod
    def of(cls, truth: dict[str, Any]) -> _Truth:
        return cls(
            {i["id"]: i for i in truth["incidents"]},
            truth["episodes"],
            truth["deliveries"],
            {k: _time(v) for k, v in truth["received"].items()},
        )

    def episode(self, ref: AlertRef) -> str | None:
        eps = self.deliveries.get(ref[0])
        return eps[ref[1]] if eps is not None and 0 <= ref[1] < len(eps) else None


def score(tickets: Iterable[Ticket], truth_data: dict[str, Any]) -> dict[str, Any]:
    truth = _Truth.of(truth_data)
    tickets = list(tickets)
    roots = {i: inc for i, inc in truth.incidents.items() if inc["parent"] is None}
    delivered: dict[str, set[str]] = {}  # root -> its delivered episodes
    first_received: dict[str, datetime] = {}  # episode -> its first delivery
    for line, eps in truth.deliveries.items():
        for ep in eps:
            delivered.setdefault(truth.episodes[ep]["incident"], set()).add(ep)
            at = truth.received[line]
            if ep not in first_received or at < first_received[ep]:
                first_received[ep] = at
    actionable = sorted(r for r in delivered if roots[r]["actionable"])
    noise = sorted(r for r in delivered if not roots[r]["actionable"])

    attributed: dict[str, list[Ticket]] = {}
    covering: dict[str, list[tuple[Ticket, datetime]]] = {}  # root -> (ticket, seen in it at)
    pure = total = 0
    unattributed = 0
    team_right = team_total = 0
    premature: list[dict[str, Any]] = []
    for t in tickets:
        seen: dict[str, datetime] = {}  # episode -> first receipt of it in this ticket
        for ref in t.alerts:
            ep = truth.episode(ref)
            if ep is None:
                continue
            at = truth.received[ref[0]]
            if ep not in seen or at < seen[ep]:
                seen[ep] = at
        if not seen:
            unattributed += 1
            continue
        by_root = Counter(truth.episodes[ep]["incident"] for ep in seen)
        majority = min(by_root, key=lambda r: (-by_root[r], r))
        pure += by_root[majority]
        total += len(seen)
        attributed.setdefault(majority, []).append(t)
        for root in by_root:
            at = min(seen[ep] for ep in seen if truth.episodes[ep]["incident"] == root)
            covering.setdefault(root, []).append((t, max(at, t.opened_at)))
        inc = roots[majority]
        if inc["actionable"]:
            team_total += 1
            team_right += t.team == inc["team"]
            start, end = _time(inc["start"]), _time(inc["end"])
            early = [r for r in t.resolutions if start <= r < end]
            if early:
                premature.append(
                    {
                        "ticket": t.id,
                        "incident": majority,
                        "kind": inc["kind"],
                        "resolved_at": [_iso(r) for r in early],
                        "incident_end": inc["end"],
                    }
                )

    plain = [r for r in actionable if roots[r]["kind"] not in COMPOSITE_KINDS]
    plain_tickets = sum(len(attributed.get(r, [])) for r in plain)
    duplicates = sum(max(0, len(attributed.get(r, [])) - 1) for r in plain)
    composite: dict[str, list[int]] = {}
    for r in actionable:
        kind = roots[r]["kind"]
        if kind in COMPOSITE_KINDS:
            composite.setdefault(kind, []).append(max(0, len(attributed.get(r, [])) - 1))
    missed = [r for r in actionable if r not in covering]
    waits = sorted(
        (min(at for _, at in covering[r]) - _time(roots[r]["start"])).total_seconds()
        for r in actionable
        if r in covering
    )
    noise_tickets = sum(len(attributed.get(r, [])) for r in noise)
    per_kind: dict[str, dict[str, int]] = {}
    for r in actionable + noise:
        row = per_kind.setdefault(roots[r]["kind"], {"incidents": 0, "tickets": 0, "missed": 0})
        row["incidents"] += 1
        row["tickets"] += len(attributed.get(r, []))
        row["missed"] += r in missed
    extra = [e for values in composite.values() for e in values]
    return {
        "tickets": len(tickets),
        "ideal_tickets": len(actionable),
        "tickets_per_ideal": _ratio(len(tickets), len(actionable)),
        "duplicate_tickets": duplicates,
        "duplicate_rate": _ratio(duplicates, plain_tickets),
        "extra_per_composite": {
            kind: {"incidents": len(v), "max": max(v), "mean": sum(v) / len(v)}
            for kind, v in sorted(composite.items())
        },
        "extra_per_composite_max": max(extra) if extra else None,
        "noise_tickets": noise_tickets,
        "noise_groups": len(noise),
        "noise_ticket_rate": _ratio(noise_tickets, len(noise)),
        "missed_actionable": len(missed),
        "missed": missed,
        "purity": _ratio(pure, total),
        "team_accuracy": _ratio(team_right, team_total),
        "time_to_ticket_seconds": {
            "p50": quantile(waits, 0.5),
            "p95": quantile(waits, 0.95),
            "max": waits[-1] if waits else None,
        },
        "oncall_named": _ratio(sum(t.oncall is not None for t in tickets), len(tickets)),
        "premature_resolutions": sum(len(p["resolved_at"]) for p in premature),
        "premature_tickets": len(premature),
        "premature": premature,
        "unattributed_tickets": unattributed,
        "per_kind": dict(sorted(per_kind.items())),
        # What pooling several scenarios needs (`pool`).
        "raw": {
            "oncall_named": sum(t.oncall is not None for t in tickets),
            "plain_tickets": plain_tickets,
            "pure": pure,
            "covered": total,
            "team_right": team_right,
            "team_total": team_total,
            "waits": waits,
            "extra": composite,
        },
    }


def pool(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures over several scores, from their counts (not a mean of rates)."""

    def total(key: str) -> int:
        return sum(s[key] for s in scores)

    def raw(key: str) -> int:
        return sum(s["raw"][key] for s in scores)

    waits = sorted(w for s in scores for w in s["raw"]["waits"])
    extra: dict[str, list[int]] = {}
    for s in scores:
        for kind, values in s["raw"]["extra"].items():
            extra.setdefault(kind, []).extend(values)
    every = [e for v in extra.values() for e in v]
    return {
        "tickets": total("tickets"),
        "ideal_tickets": total("ideal_tickets"),
        "tickets_per_ideal": _ratio(total("tickets"), total("ideal_tickets")),
        "duplicate_tickets": total("duplicate_tickets"),
        "duplicate_rate": _ratio(total("duplicate_tickets"), raw("plain_tickets")),
        "extra_per_composite": {
            kind: {"incidents": len(v), "max": max(v), "mean": sum(v) / len(v)}
            for kind, v in sorted(extra.items())
        },
        "extra_per_composite_max": max(every) if every else None,
        "noise_tickets": total("noise_tickets"),
        "noise_groups": total("noise_groups"),
        "noise_ticket_rate": _ratio(total("noise_tickets"), total("noise_groups")),
        "missed_actionable": total("missed_actionable"),
        "purity": _ratio(raw("pure"), raw("covered")),
        "team_accuracy": _ratio(raw("team_right"), raw("team_total")),
        "oncall_named": _ratio(raw("oncall_named"), total("tickets")),
        "time_to_ticket_seconds": {
            "p50": quantile(waits, 0.5),
            "p95": quantile(waits, 0.95),
            "max": waits[-1] if waits else None,
        },
        "premature_resolutions": total("premature_resolutions"),
        "premature_tickets": total("premature_tickets"),
        "unattributed_tickets": total("unattributed_tickets"),
    }


# Issue 15's "done when": (figure, comparison, bound).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("duplicate_rate", "<=", 0.01),
    ("extra_per_composite_max", "<=", 2),
    ("noise_ticket_rate", "<=", 0.10),
    ("missed_actionable", "<=", 0),
    ("purity", ">=", 0.98),
    ("premature_resolutions", "<=", 0),
)


def targets(s: dict[str, Any]) -> dict[str, bool]:
    """Which of issue 15's targets a score (or a pool of scores) meets; a figure with
    nothing to measure (no storm in the scenario, say) meets its target."""
    out = {}
    for key, how, bound in TARGETS:
        value = s.get(key)
        out[key] = value is None or (value <= bound if how == "<=" else value >= bound)
    return out


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
