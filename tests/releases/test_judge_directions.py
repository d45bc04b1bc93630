"""releases/directions.py and releases/settings.py: defaults by name, overrides by config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from autoticket.releases.directions import Direction, default_direction, direction_of
from autoticket.releases.settings import MetricSpec, ReleaseSettings


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("checkout_error_ratio", Direction.HIGHER_IS_WORSE),
        ("http_request_latency_seconds", Direction.HIGHER_IS_WORSE),
        ("login_success_ratio", Direction.LOWER_IS_WORSE),
        ("orders_throughput", Direction.LOWER_IS_WORSE),
        ("queue_depth", Direction.EITHER),
        ("error_ratio_total", Direction.EITHER),  # a suffix, not a substring
    ],
)
def test_default_direction_by_name_suffix(name: str, direction: Direction) -> None:
    assert default_direction(name) is direction


def test_a_configured_direction_wins_over_the_suffix() -> None:
    assert direction_of("checkout_error_ratio", Direction.EITHER) is Direction.EITHER


def test_a_spec_without_a_direction_uses_the_suffix() -> None:
    assert MetricSpec().direction_for("orders_throughput") is Direction.LOWER_IS_WORSE


def test_the_config_section_reads_as_yaml_would_give_it() -> None:
    settings = ReleaseSettings.model_validate(
        {
            "metrics": {
                "checkout_error_ratio": {"weight": 3, "critical": True, "allowed_increase": 1.1},
                "queue_depth": {"direction": "higher_is_worse", "group": "saturation"},
            },
            "groups": {"saturation": 0.5},
            "thresholds": {"pass": 90, "marginal": 70},
            "early": {"min_window": "15m"},
        }
    )
    assert settings.spec_for("checkout_error_ratio").weight == 3.0
    assert settings.spec_for("queue_depth").direction is Direction.HIGHER_IS_WORSE
    assert settings.group_weight("saturation") == 0.5
    assert (settings.thresholds.pass_, settings.thresholds.marginal) == (90.0, 70.0)
    assert settings.early.min_window == timedelta(minutes=15)


def test_an_unnamed_metric_gets_the_default_spec() -> None:
    spec = ReleaseSettings().spec_for("anything")
    assert (spec.weight, spec.critical, spec.group, spec.allowed_increase) == (
        1.0,
        False,
        "default",
        1.0,
    )


def test_an_unnamed_group_weighs_one() -> None:
    assert ReleaseSettings().group_weight("other") == 1.0


def test_the_critical_ratio_defaults_to_the_allowed_one() -> None:
    spec = MetricSpec(allowed_increase=1.2, allowed_decrease=0.8)
    assert (spec.increase_limit, spec.decrease_limit) == (1.2, 0.8)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"thresholds": {"pass": 70}}, "marginal threshold must not be above"),
        ({"metrics": {"m": {"allowed_increase": 0.9}}}, "greater than or equal to 1"),
        ({"metrics": {"m": {"allowed_increase": 1.5, "critical_increase": 1.2}}}, "critical_inc"),
        ({"metrics": {"m": {"allowed_decrease": 0.8, "critical_decrease": 0.9}}}, "critical_dec"),
        ({"metrics": {"m": {"weight": -1}}}, "greater than or equal to 0"),
        ({"metrics": {"m": {"direction": "up"}}}, "higher_is_worse"),
        ({"metrics": {"m": {"wieght": 2}}}, "Extra inputs are not permitted"),
        ({"early": {"min_window": "soon"}}, "not a duration"),
    ],
)
def test_bad_settings_say_what_is_wrong(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ReleaseSettings.model_validate(bad)


def test_the_example_in_the_docs_is_valid() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "releases.md").read_text()
    example = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    settings = ReleaseSettings.model_validate(example["releases"])
    assert settings.spec_for("checkout_error_ratio").increase_limit == 1.5
