"""The long-running commands' log lines: plain, one per record, INFO and up, one handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from autoticket.service.logs import configure_logging


@pytest.fixture
def restored() -> Iterator[logging.Logger]:
    logger = logging.getLogger("autoticket")
    handlers, level = list(logger.handlers), logger.level
    logger.handlers[:] = []  # a command run in-process earlier may have configured it
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_one_plain_line_per_record_and_one_handler(
    restored: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOTICKET_LOG_LEVEL", raising=False)
    out = io.StringIO()
    configure_logging(stream=out)
    configure_logging(stream=out)  # serve, then demo's or a test's second call: still one
    logging.getLogger("autoticket.access").info("GET %s %d", "/" + "x" * 200, 200)
    logging.getLogger("autoticket.tickets").debug("not at INFO")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(" INFO autoticket.access: GET /" + "x" * 200 + " 200")


def test_the_level_comes_from_the_environment(
    restored: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTICKET_LOG_LEVEL", "warning")
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("autoticket.access").info("hidden")
    logging.getLogger("autoticket.database").warning("shown")
    assert [line.split(": ", 1)[1] for line in out.getvalue().splitlines()] == ["shown"]
