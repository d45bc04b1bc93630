"""Falco, Wazuh and Suricata findings: kind security, severity, rule and addresses."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import AlertStatus, EventKind, Severity


def test_falco_shell_in_container() -> None:
    (event,) = parse("falco", sample("falco", "terminal_shell"))
    assert event.kind is EventKind.SECURITY
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.INFO  # Notice
    assert event.labels["alertname"] == "Terminal shell in container"
    assert event.labels["namespace"] == "shop"
    assert event.labels["pod"] == "checkout-7d9f8b6c4-x2k9q"
    assert event.annotations["proc.cmdline"] == "bash"
    assert "evt.time" not in event.annotations
    assert "mitre_execution" in event.annotations["tags"]


def test_falco_connection_has_addresses_as_labels() -> None:
    (event,) = parse("falco", sample("falco", "c2_connection"))
    assert event.severity is Severity.CRITICAL
    assert event.labels["dest_ip"] == "198.51.100.23"
    assert event.labels["src_ip"] == "10.42.0.17"
    assert event.annotations["fd.sport"] == "80"


def test_wazuh_levels_and_labels() -> None:
    (brute,) = parse("wazuh", sample("wazuh", "sshd_bruteforce"))
    (started,) = parse("wazuh", sample("wazuh", "agent_started"))
    assert brute.kind is EventKind.SECURITY
    assert brute.severity is Severity.HIGH  # level 10
    assert brute.labels["src_ip"] == "203.0.113.7"
    assert brute.labels["rule_id"] == "5712"
    assert brute.labels["host"] == "bastion-1"
    assert brute.occurred_at.isoformat() == "2024-05-14T09:20:44.512000+00:00"
    assert brute.description.startswith("May 14 09:20:44 bastion-1 sshd")
    assert started.severity is Severity.INFO


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (0, Severity.INFO),
        (4, Severity.WARNING),
        (8, Severity.HIGH),
        (12, Severity.CRITICAL),
        (15, Severity.CRITICAL),
    ],
)
def test_wazuh_level_boundaries(level: int, severity: Severity) -> None:
    payload = sample("wazuh", "sshd_bruteforce")
    payload["rule"]["level"] = level
    assert parse("wazuh", payload)[0].severity is severity


def test_suricata_alert_and_other_records() -> None:
    (alert,) = parse("suricata", sample("suricata", "alert"))
    assert alert.kind is EventKind.SECURITY
    assert alert.severity is Severity.CRITICAL
    assert alert.labels["src_ip"] == "203.0.113.50"
    assert alert.labels["dest_ip"] == "10.0.2.15"
    assert alert.annotations["dest_port"] == "80"
    assert alert.description == "Attempted Administrator Privilege Gain"
    batch = parse("suricata", sample("suricata", "batch_alert_and_flow"))
    assert [e.title for e in batch] == [alert.title]  # the flow record gives no event
    assert batch[0].fingerprint == alert.fingerprint


def test_another_attacker_is_another_alert() -> None:
    (first,) = parse("suricata", sample("suricata", "alert"))
    other = sample("suricata", "alert") | {"src_ip": "198.51.100.9", "src_port": 1}
    assert parse("suricata", other)[0].fingerprint != first.fingerprint
    same = sample("suricata", "alert") | {"src_port": 1, "flow_id": 5}
    assert parse("suricata", same)[0].fingerprint == first.fingerprint


def _with(source: str, name: str, path: tuple[str, ...], value: Any) -> Any:
    payload = sample(source, name)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("source", "payload", "field", "fragment"),
    [
        ("falco", _with("falco", "terminal_shell", ("rule",), None), "rule", "required"),
        (
            "falco",
            _with("falco", "terminal_shell", ("priority",), "Loud"),
            "priority",
            "Falco priority",
        ),
        ("falco", _with("falco", "terminal_shell", ("time",), "then"), "time", "RFC 3339"),
        (
            "falco",
            _with("falco", "terminal_shell", ("output_fields",), []),
            "output_fields",
            "object",
        ),
        (
            "falco",
            _with("falco", "terminal_shell", ("output_fields", "proc.name"), {}),
            "output_fields.proc.name",
            "string or a number",
        ),
        ("falco", _with("falco", "terminal_shell", ("tags",), "shell"), "tags", "array of strings"),
        ("wazuh", _with("wazuh", "sshd_bruteforce", ("rule",), None), "rule", "required"),
        ("wazuh", _with("wazuh", "sshd_bruteforce", ("rule", "level"), 16), "rule.level", "0-15"),
        (
            "wazuh",
            _with("wazuh", "sshd_bruteforce", ("rule", "description"), ""),
            "rule.description",
            "non-empty",
        ),
        ("wazuh", _with("wazuh", "sshd_bruteforce", ("agent",), "bastion-1"), "agent", "object"),
        ("suricata", _with("suricata", "alert", ("event_type",), None), "event_type", "required"),
        ("suricata", _with("suricata", "alert", ("alert",), None), "alert", "required"),
        (
            "suricata",
            _with("suricata", "alert", ("alert", "severity"), 0),
            "alert.severity",
            ">= 1",
        ),
        ("suricata", _with("suricata", "alert", ("src_ip",), 3), "src_ip", "string"),
        ("suricata", [sample("suricata", "alert"), 3], "[1]", "object"),
        ("suricata", "alert", "body", "object"),
    ],
)
def test_malformed_finding_names_the_field(
    source: str, payload: Any, field: str, fragment: str
) -> None:
    exc = refusal(source, payload)
    assert exc.field == field
    assert fragment in exc.reason
