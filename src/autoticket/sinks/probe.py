"""`check-config --probe`: is each configured sink reachable, and are its credentials good?

Each sink's `probe` makes one or two harmless reads (Jira's own user and the
project, GitHub's repository, a ServiceNow table, Redmine's project and
statuses, an SMTP login, an empty Slack post that Slack refuses); where a
remote offers nothing harmless (PagerDuty's Events API, a generic webhook)
the probe says so instead of acting. No probe ever files, pages or posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import httpx

from autoticket.config import Config
from autoticket.sinks.base import ProbeFailed, ProbeSkipped, Sink
from autoticket.sinks.build import build_sinks
from autoticket.sinks.redmine import Refused
from autoticket.sinks.tracker import Halt

__all__ = ["ProbeOutcome", "probe_sinks"]

Outcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    sink: str
    type: str
    outcome: Outcome
    detail: str


def probe_one(name: str, sink: object) -> ProbeOutcome:
    if not isinstance(sink, Sink):
        return ProbeOutcome(name, "builtin", "ok", "autoticket's own store (the database)")
    try:
        return ProbeOutcome(name, sink.type, "ok", sink.probe())
    except ProbeSkipped as exc:
        return ProbeOutcome(name, sink.type, "skipped", str(exc))
    except ProbeFailed as exc:
        return ProbeOutcome(name, sink.type, "failed", str(exc))
    except (Halt, Refused) as exc:
        return ProbeOutcome(name, sink.type, "failed", exc.result.reason)
    except httpx.HTTPError as exc:
        return ProbeOutcome(name, sink.type, "failed", f"{type(exc).__name__}: {exc}")


def probe_sinks(
    config: Config, client: httpx.Client | None = None, env: Mapping[str, str] | None = None
) -> list[ProbeOutcome]:
    """One outcome per configured sink, in config order; ConfigError if one cannot be built."""
    sinks = build_sinks(config, client, env)
    return [probe_one(name, sink) for name, sink in sinks.items()]
