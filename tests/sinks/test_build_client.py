"""build_sinks makes the shared HTTP client only when an external sink needs one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from autoticket.config import parse_config_text
from autoticket.sinks import build as sink_build
from autoticket.sinks import build_sinks

HOOK = """\
sinks:
  hook: {type: webhook, url: "https://hooks.example.com/x", secret_env: HOOK_SECRET}
routes:
  - {name: default, sinks: [builtin, hook]}
"""


def _counting_client(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(sink_build.httpx, "Client", client)
    return made


def test_the_builtin_store_alone_makes_no_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting_client(monkeypatch)
    sinks = build_sinks(parse_config_text("routes: [{name: default}]\n"), env={})
    assert set(sinks) == {"builtin"}
    assert made == []


def test_external_sinks_share_one_client_that_does_not_follow_redirects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = _counting_client(monkeypatch)
    second = '  hook2: {type: webhook, url: "https://h.example.com/y", secret_env: HOOK_SECRET}\n'
    text = HOOK.replace("routes:", second + "routes:")
    sinks = build_sinks(parse_config_text(text), env={"HOOK_SECRET": "s"})
    assert made == [{"follow_redirects": False}]
    assert sinks["hook"].client is sinks["hook2"].client


def test_a_given_client_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    given = httpx.Client()
    made = _counting_client(monkeypatch)
    sinks = build_sinks(parse_config_text(HOOK), given, env={"HOOK_SECRET": "s"})
    assert made == []
    assert sinks["hook"].client is given
