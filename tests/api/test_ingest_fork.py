"""The large-body parser thread after a fork (api/ingest.py): a child process has
none of its parent's threads, so it must get an executor of its own."""

from __future__ import annotations

import os

from autoticket.api import ingest


def _parses_in_child() -> int:
    """Exit status of a forked child that hands one job to the parser thread."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            code = 0 if ingest._PARSER.submit(sum, (1, 2)).result(timeout=10) == 3 else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_can_still_parse_off_the_loop() -> None:
    assert ingest._PARSER.submit(sum, (1, 1)).result(timeout=10) == 2  # the worker exists
    assert _parses_in_child() == 0
    assert ingest._PARSER.submit(sum, (2, 2)).result(timeout=10) == 4  # the parent's still works
