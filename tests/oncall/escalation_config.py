"""The bundled config plus a schedule and an escalation policy for team payments."""

from __future__ import annotations

from typing import Any

import yaml

from autoticket.config import Config, bundled_config_path

ONCALL = {
    "schedules": {
        "payments-primary": {
            "time_zone": "UTC",
            # Daily handoffs at 00:00 UTC from 2026-01-01: ann on the 5th (t0).
            "layers": [
                {
                    "name": "primary",
                    "users": ["ann", "bob"],
                    "rotation": "daily",
                    "start": "2026-01-01T00:00",
                }
            ],
        }
    },
    "escalation_policies": {
        "payments": {
            "repeat": 1,
            "steps": [
                {"notify": {"schedule": "payments-primary"}, "wait": "5m"},
                {"notify": {"user": "carol"}, "wait": "10m"},
            ],
        }
    },
}


def escalation_config(**changes: Any) -> Config:
    """The bundled config with team payments paged by the policy above."""
    data = yaml.safe_load(bundled_config_path().read_text())
    data.update(ONCALL)
    data["catalog"]["teams"]["payments"].update(
        {"schedule": "payments-primary", "escalation_policy": "payments", "notify": ["builtin"]}
    )
    data["catalog"]["teams"]["discovery"] = {"name": "Discovery"}  # a team without a schedule
    data["tickets"] = {**data.get("tickets", {}), "coalesce": False}
    data.update(changes)
    return Config.model_validate(data)
