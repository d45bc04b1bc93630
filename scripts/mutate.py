"""`make mutate` in parts, within one wall-clock budget (docs/testing.md).

mutmut checks the mutants of one part after the other, in the order given,
so the modules with a score goal come first. A part gets whatever is left of
the budget; when the budget runs out mutmut is interrupted (it keeps what it
has checked) and later parts are not started: the report shows their mutants
as "not checked". The stats run (which tests execute which function) is paid
once, by the first part; the later parts reuse it from `mutants/`.

    python scripts/mutate.py [--budget SECONDS] [--jobs N] PART [PART ...]

A part is a mutmut name pattern, e.g. 'autoticket.lifecycle.*'; several
patterns separated by spaces make one part.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# After SIGINT, how long mutmut may take to stop its workers and save.
GRACE_SECONDS = 30.0


def run_part(command: list[str], seconds_left: float) -> str:
    """Run one `mutmut run`; interrupt it when `seconds_left` is spent."""
    proc = subprocess.Popen(command, start_new_session=True)
    try:
        code = proc.wait(timeout=max(1.0, seconds_left))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # mutmut stops its workers and saves
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=GRACE_SECONDS)
        status = "stopped: budget spent"
    else:
        status = "done" if code == 0 else f"failed (exit {code})"
    _kill_leftovers(proc.pid)
    return status


def _kill_leftovers(session: int) -> None:
    """Workers still running in the session this script started for the part."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(session, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", help="mutmut name patterns, one part each")
    parser.add_argument("--budget", type=float, default=28 * 60, help="seconds for all parts")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut workers")
    args = parser.parse_args(argv)
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    deadline = time.monotonic() + args.budget
    summary: list[tuple[str, str, float]] = []
    for part in args.parts:
        left = deadline - time.monotonic()
        if left <= 0:
            summary.append((part, "not started: budget spent", 0.0))
            continue
        print(f"== mutate {part} ({left:.0f} s left)", flush=True)
        started = time.monotonic()
        command = [mutmut, "run", "--max-children", str(args.jobs), *part.split()]
        status = run_part(command, left)
        summary.append((part, status, time.monotonic() - started))
    print()
    for part, status, seconds in summary:
        print(f"{part}: {status}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
