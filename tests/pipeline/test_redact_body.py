"""Raw bodies masked as the stage masks events (retention.raw_bodies: redact, dead-letter views)."""

from __future__ import annotations

import json

from autoticket.config import RedactionConfig
from autoticket.pipeline.redact import Redactor
from autoticket.pipeline.redact_body import redact_body, redact_body_text, redact_headers

R = Redactor(RedactionConfig())


def test_a_json_body_is_walked_with_the_key_rules() -> None:
    doc = {
        "alerts": [
            {
                "labels": {"alertname": "A", "db_password": "tiger7", "secret": "db-creds"},
                "annotations": {"Authorization": "plain", "summary": "token=abc123 failed"},
            }
        ],
        "n": 3,
    }
    body, counts = redact_body(json.dumps(doc).encode(), R)
    alert = json.loads(body)["alerts"][0]
    assert alert["labels"] == {
        "alertname": "A",
        "db_password": "[REDACTED:password]",
        "secret": "db-creds",  # a label named secret holds a name unless it looks random
    }
    assert alert["annotations"] == {
        "Authorization": "[REDACTED:authorization]",
        "summary": "token=[REDACTED:token] failed",
    }
    assert json.loads(body)["n"] == 3
    assert counts == {"password": 1, "authorization": 1, "token": 1}


def test_a_body_without_secrets_comes_back_byte_for_byte() -> None:
    raw = b'{ "alerts" : [ {"labels": {"alertname": "A"}} ] }\n'
    assert redact_body(raw, R) == (raw, {})


def test_a_body_that_is_not_json_is_masked_as_text() -> None:
    raw = b'{"alerts": [ password=hunter2 \n'
    body, counts = redact_body(raw, R)
    assert body == b'{"alerts": [ password=[REDACTED:password] \n'
    assert counts == {"password": 1}


def test_a_body_that_is_not_utf8_keeps_its_other_bytes() -> None:
    raw = b"\xff\xfe token=abc123 \x80"
    body, counts = redact_body(raw, R)
    assert body == b"\xff\xfe token=[REDACTED:token] \x80"
    assert counts == {"token": 1}


def test_json_nested_too_deep_to_walk_is_masked_as_text() -> None:
    text = '{"a": ' * 5000 + '"password=hunter2"' + "}" * 5000
    masked, counts = redact_body_text(text, R)
    assert "hunter2" not in masked and counts == {"password": 1}


def test_secret_named_keys_of_json_are_masked_too() -> None:
    masked, counts = redact_body_text('{"x": {"gh' + "p_" + "a" * 36 + '": 1}}', R)
    assert json.loads(masked) == {"x": {"[REDACTED:github_token]": 1}}
    assert counts == {"github_token": 1}


def test_headers_are_masked_by_name_and_by_value() -> None:
    shown = redact_headers({"user-agent": "probe token=abc123", "cookie": "a=b", "x": "y"}, R)
    assert shown == {
        "user-agent": "probe token=[REDACTED:token]",
        "cookie": "[REDACTED:cookie]",
        "x": "y",
    }
