"""Check the installed dependencies against known advisories (`make lint`).

Runs `pip-audit` over the virtualenv it is started from. A known vulnerability
fails (exit 1). When pip-audit cannot reach its advisory data (no network, or
an index that is a mirror PyPI's vulnerability API does not know), every
package comes back "could not be audited": that is said plainly and the check
is skipped (exit 0) rather than reported as clean or as a failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 300


def main() -> int:
    binary = shutil.which("pip-audit", path=str(Path(sys.executable).parent))
    if binary is None:
        print("audit: pip-audit is not installed (pip install -e '.[dev]'); skipped")
        return 0
    try:
        run = subprocess.run(
            [binary, "--skip-editable", "--progress-spinner", "off", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"audit: pip-audit got no answer within {TIMEOUT_SECONDS}s; skipped")
        return 0
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: pip-audit could not run ({reason}); skipped")
        return 0
    code, lines = verdict(report)
    print("\n".join(lines))
    return code


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    """The exit code and the lines to print for a `pip-audit --format json` report."""
    deps = [d for d in report.get("dependencies", []) if "editable" not in d.get("skip_reason", "")]
    vulnerable = [d for d in deps if d.get("vulns")]
    unaudited = [d["name"] for d in deps if "skip_reason" in d]
    lines = [
        f"audit: {dep['name']} {dep.get('version')}: {vuln['id']} "
        f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release yet'})"
        for dep in vulnerable
        for vuln in dep["vulns"]
    ]
    if vulnerable:
        return 1, lines
    if deps and len(unaudited) == len(deps):
        return 0, [
            f"audit: skipped: pip-audit could not find advisory data for any of the {len(deps)} "
            "installed packages (its vulnerability service is unreachable from here, or the "
            "index is a mirror it does not know)"
        ]
    if unaudited:
        lines.append(f"audit: not audited ({len(unaudited)}): {', '.join(sorted(unaudited))}")
    lines.append(f"audit: no known vulnerabilities in {len(deps) - len(unaudited)} packages")
    return 0, lines


if __name__ == "__main__":
    sys.exit(main())
