"""Write src/autoticket/examples/streams/demo.ndjson: a small, realistic replay stream.

Two checkout alerts (one group each) that fire, repeat and resolve; a disk
alert that resolves and fires again within reopen_within; a staging alert; a
Watchdog the routes ignore; a generic event with a password in it; and one
malformed delivery. Every Alertmanager notification is sent twice, as an HA
pair does. Run: .venv/bin/python scripts/make_demo_stream.py
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TARGET = Path(__file__).resolve().parents[1] / "src/autoticket/examples/streams/demo.ndjson"


def _ts(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert(
    name: str,
    service: str,
    severity: str,
    start_min: float,
    end_min: float | None = None,
    env: str = "prod",
    summary: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """An Alertmanager alert; resolved when `end_min` is given."""
    return {
        "status": "resolved" if end_min is not None else "firing",
        "labels": {
            "alertname": name,
            "service": service,
            "severity": severity,
            "environment": env,
            **labels,
        },
        "annotations": {
            "summary": summary or f"{name} on {service}",
            "description": f"{name} fired for {service} in {env}",
        },
        "startsAt": _ts(T0 + timedelta(minutes=start_min)),
        "endsAt": (
            _ts(T0 + timedelta(minutes=end_min)) if end_min is not None else "0001-01-01T00:00:00Z"
        ),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": "0000000000000000",
    }


def notification(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing" if firing else "resolved",
        "receiver": "autoticket",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": alerts,
    }


def main() -> None:
    lines: list[dict[str, Any]] = []

    def add(minute: float, body: Any, source: str = "alertmanager", ha: bool = True) -> None:
        for copy in (0, 1) if ha else (0,):
            at = T0 + timedelta(minutes=minute, milliseconds=7 * copy)
            lines.append(
                {
                    "id": "",
                    "source": source,
                    "received_at": _ts(at),
                    "headers": {"content-type": "application/json"},
                    "body": body,
                }
            )

    err = dict(
        name="CheckoutHighErrorRate",
        service="checkout",
        severity="critical",
        summary="Checkout is failing 7% of requests",
    )
    lat = dict(
        name="CheckoutLatencyHigh",
        service="checkout",
        severity="warning",
        summary="Checkout p99 latency 2.4s",
        quantile="0.99",
    )
    add(0, notification([alert(**err, start_min=-0.5)]))
    for minute in (1, 5, 10, 15):
        add(minute, notification([alert(**err, start_min=-0.5), alert(**lat, start_min=0.5)]))
    add(
        20,
        notification(
            [alert(**err, start_min=-0.5, end_min=19.5), alert(**lat, start_min=0.5, end_min=19.5)]
        ),
    )
    disk = dict(
        name="NodeDiskFilling",
        service="node-exporter",
        severity="high",
        instance="node-7:9100",
        summary="Disk on node-7 fills in 4h",
    )
    add(3, notification([alert(**disk, start_min=2.5)]))
    add(9, notification([alert(**disk, start_min=2.5, end_min=8.5)]))
    add(40, notification([alert(**disk, start_min=39.5)]))  # fires again: the ticket reopens
    add(12, notification([alert("SearchIndexLag", "search", "warning", 11.5, env="staging")]))
    add(13, notification([alert("Watchdog", "prometheus", "none", 0)]))  # ignored by a route
    add(
        14,
        {
            "title": "Nightly backup failed",
            "severity": "high",
            "service": "payments-api",
            "environment": "prod",
            "description": "backup job exited 1 (password=hunter2 was on its command line)",
        },
        source="generic",
        ha=False,
    )
    add(15, {"alerts": "not a list"}, ha=False)  # kept as an error, never fatal
    lines.sort(key=lambda line: line["received_at"])
    for n, line in enumerate(lines, 1):
        line["id"] = "L-bad" if line["body"] == {"alerts": "not a list"} else f"L{n}"
    TARGET.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
    print(f"wrote {len(lines)} lines to {TARGET}")


if __name__ == "__main__":
    main()
