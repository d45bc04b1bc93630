"""A release verdict that needs a person, as the judge's event: title, severity, evidence.

`verdict_alert` builds the body of a `release-judge` delivery (the generic
event format, sources/release_judge.py) from a release and its stored
decision (the dict `decision_of` makes), so the ticket carries every number
behind the verdict: per metric its classification, effect (ratio), shift
and interval, sample counts and p-value, then the score and the action.
`cleared_alert` is the same alert resolved, once a later release of the
service supersedes the failed one.
"""

from __future__ import annotations

import math
from typing import Any

from autoticket.model import RELEASE_ALERTNAME, Release

__all__ = [
    "ALERTNAME",
    "SEVERITY_OF_ACTION",
    "TITLE_PREFIX",
    "cleared_alert",
    "metric_evidence",
    "release_fingerprint",
    "verdict_alert",
]

ALERTNAME = RELEASE_ALERTNAME
# The actions that need a person, and the severity of their alert.
SEVERITY_OF_ACTION = {"rollback": "critical", "pause": "warning"}
TITLE_PREFIX = "Release regression: "  # every title of the judge's event
MAX_METRICS = 20  # evidence lines in one alert; the API has them all


def release_fingerprint(release: Release) -> str:
    """One alert per release: a retried or repeated check joins it."""
    return f"release:{release.service}/{release.environment}/{release.version}"


def _labels(release: Release) -> dict[str, str]:
    return {
        "alertname": ALERTNAME,
        "service": release.service,
        "environment": release.environment,
        "version": release.version,
    }


def verdict_alert(release: Release, decision: dict[str, Any], link: str) -> dict[str, Any]:
    """The firing alert of a release whose action is pause or rollback."""
    verdict, action, score = decision["verdict"], decision["action"], decision["score"]
    where = f"{release.service} {release.version} ({release.environment})"
    evidence = decision.get("evidence") or {}
    lines = [metric_evidence(m) for m in evidence.get("metrics", []) if _failed_or_scored(m)]
    annotations = {
        "summary": f"Release {where}: verdict {verdict}, action {action}",
        "release_verdict": verdict,
        "release_score": _num(score),
        "release_action": action,
        "release_action_reason": str(evidence.get("action_reason", "")),
        "release_decided_at": str(decision.get("decided_at") or ""),
        "release_decided_by": str(decision.get("decided_by") or ""),
        "release_started_at": release.started_at.isoformat(),
    }
    for i, line in enumerate(lines[:MAX_METRICS]):
        annotations[f"release_metric_{i + 1:02d}"] = line
    return {
        "title": f"{TITLE_PREFIX}{where} {verdict}, {action}",
        "severity": SEVERITY_OF_ACTION.get(action, "warning"),
        "status": "firing",
        "labels": _labels(release),
        "annotations": annotations,
        "description": "; ".join(str(r) for r in evidence.get("reasons", [])),
        "fingerprint": release_fingerprint(release),
        "links": {"generator": link} if link.startswith("http") else {},
    }


def cleared_alert(release: Release, by: Release) -> dict[str, Any]:
    """The release's alert resolved: `by` (a later release) supersedes it."""
    where = f"{release.service} {release.version} ({release.environment})"
    return {
        "title": f"{TITLE_PREFIX}{where} superseded by {by.version}",
        "status": "resolved",
        "labels": _labels(release),
        "annotations": {"summary": f"superseded by release {by.version} at {by.started_at}"},
        "fingerprint": release_fingerprint(release),
    }


def metric_evidence(metric: dict[str, Any]) -> str:
    """One metric's evidence on one line, from `MetricResult.to_dict()`."""
    parts = [f"{metric['name']}: {metric['classification']}"]
    if metric.get("ratio") is not None:
        parts.append(f"ratio x{_num(metric['ratio'])}")
    test = metric.get("test") or {}
    if test:
        low, high = test.get("interval") or [None, None]
        conf = _num(100 * float(test.get("confidence", 0)))
        parts.append(f"shift {_num(test.get('estimate'))} [{_num(low)}, {_num(high)}] ({conf}%)")
        worse = test.get("p_greater") if metric["classification"] == "high" else None
        if metric["classification"] == "low":
            worse = test.get("p_less")
        parts.append(f"p={_num(worse if worse is not None else test.get('p_two_sided'))}")
    for side in ("before", "after"):
        stats = metric.get(side)
        if stats:
            parts.append(f"{side} n={stats['count']} mean={_num(stats['mean'])}")
    if metric.get("critical"):
        parts.append("critical" + (", beyond critical" if metric.get("beyond_critical") else ""))
    return ", ".join(parts)


def _failed_or_scored(metric: dict[str, Any]) -> bool:
    return metric.get("classification") != "no_data" or bool(metric.get("critical"))


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    number = float(value)
    if not math.isfinite(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.4g}"
