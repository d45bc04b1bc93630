"""scripts/audit_deps.py: a vulnerability fails `make lint`; unreachable advisory data
is said plainly and skipped, never reported as a clean audit."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit_deps.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dep(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "version": "1.0", **fields}


EDITABLE = _dep("autoticket", skip_reason="distribution marked as editable")
NOT_FOUND = "Dependency not found on PyPI and could not be audited"


def test_a_known_vulnerability_fails_and_names_the_fix() -> None:
    vuln = {"id": "GHSA-xxxx", "fix_versions": ["3.1.6"]}
    code, lines = _script().verdict(
        {"dependencies": [EDITABLE, _dep("jinja2", vulns=[vuln]), _dep("orjson", vulns=[])]}
    )
    assert code == 1
    assert lines == ["audit: jinja2 1.0: GHSA-xxxx (fixed in 3.1.6)"]


def test_nothing_audited_is_a_skip_not_a_clean_bill() -> None:
    report = {
        "dependencies": [
            EDITABLE,
            _dep("a", skip_reason=NOT_FOUND),
            _dep("b", skip_reason=NOT_FOUND),
        ]
    }
    code, [line] = _script().verdict(report)
    assert code == 0
    assert line.startswith("audit: skipped: ") and "any of the 2 installed packages" in line


def test_a_partial_audit_names_what_was_not_audited() -> None:
    report = {"dependencies": [_dep("a", vulns=[]), _dep("b", skip_reason=NOT_FOUND)]}
    assert _script().verdict(report) == (
        0,
        ["audit: not audited (1): b", "audit: no known vulnerabilities in 1 packages"],
    )
