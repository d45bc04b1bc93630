"""The README has a copy-paste snippet for every adapter (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoticket.sources import known_sources

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
BLOCKS = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S))


@pytest.mark.parametrize("source", known_sources())
def test_every_source_has_a_snippet_with_its_endpoint(source: str) -> None:
    """Prometheus posts to /api/v2/alerts (its targets); the others to their path.
    Suricata and logs share the shipper snippet, which names them."""
    if source == "prometheus":
        assert "alertmanagers:" in BLOCKS and "/api/v2/alerts" in README
    elif source in ("suricata", "logs"):
        assert "/api/v1/ingest/wazuh" in BLOCKS and f"`{source}`" in README
    else:
        assert f"/api/v1/ingest/{source}" in README
