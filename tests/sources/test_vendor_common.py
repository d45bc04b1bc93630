"""Every vendor adapter: its samples parse, replay agrees, fuzz never escapes a 4xx."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vendor_samples import (
    JSON,
    RECEIVED,
    mutated,
    parse,
    parse_or_refuse,
    sample,
    sample_names,
)

from autoticket.model import Delivery
from autoticket.sources import parse_delivery

VENDORS = [
    "cloudwatch",
    "datadog",
    "falco",
    "github-actions",
    "grafana",
    "kubernetes",
    "sentry",
    "suricata",
    "wazuh",
]
CASES = [(source, name) for source in VENDORS for name in sample_names(source)]


def test_every_vendor_has_samples() -> None:
    for source in VENDORS:
        assert sample_names(source), source


@pytest.mark.parametrize(("source", "name"), CASES)
def test_sample_parses(source: str, name: str) -> None:
    events = parse(source, sample(source, name))
    assert events
    parse_or_refuse(source, sample(source, name))


@pytest.mark.parametrize(("source", "name"), CASES)
def test_replay_path_gives_the_same_events(source: str, name: str) -> None:
    """Ingest, replay and dead-letter replay all go through parse_delivery."""
    body = orjson.dumps(sample(source, name))
    delivery = Delivery(id="d1", source=source, received_at=RECEIVED, body=body, headers={})
    assert parse_delivery(delivery, 1000) == parse(source, sample(source, name))


@pytest.mark.parametrize("source", VENDORS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_arbitrary_json(source: str, data: Any) -> None:
    parse_or_refuse(source, data.draw(JSON))


@pytest.mark.parametrize(("source", "name"), CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_samples(source: str, name: str, data: Any) -> None:
    parse_or_refuse(source, data.draw(mutated(sample(source, name))))
