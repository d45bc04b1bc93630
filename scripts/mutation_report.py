"""Per-module mutation score from mutmut's results (`make mutate`, docs/testing.md).

Reads the `mutants/**/*.py.meta` files mutmut leaves next to the mutated
copies, groups mutants by the entries of `[tool.mutmut] only_mutate` in
pyproject.toml (a `dir/*` glob is one module, a file is one module), prints a
markdown table and writes it to `mutants-report.md` and `mutants-report.json`.

Score = detected / total, where detected = killed + timeout (a mutant that
makes its tests hang is caught by the per-mutant timeout). Survivors and
mutants no test executes ("no tests") count against the score.

    python scripts/mutation_report.py [--root DIR] [--survivors]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py, status_by_exit_code), folded into the
# columns of the report.
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    0: "survived",
    1: "killed",
    3: "killed",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "killed",  # caught by a type check
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    -9: "timeout",  # SIGKILL: the hard CPU-time limit, one second after SIGXCPU
    -11: "killed",  # the tests crashed (mutmut: "segfault")
    None: "not checked",
}
DETECTED = ("killed", "timeout")
COLUMNS = ("killed", "timeout", "survived", "no tests", "not checked", "other")


@dataclass
class Module:
    name: str
    pattern: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def score(self) -> float | None:
        if not self.total:
            return None
        return 100.0 * sum(self.counts[s] for s in DETECTED) / self.total


def status_of(exit_code: int | None) -> str:
    status = STATUS_BY_EXIT_CODE.get(exit_code, "other")
    return status if status in COLUMNS else "other"


def module_name(pattern: str) -> str:
    name = pattern.removeprefix("src/autoticket/")
    return name.removesuffix("*") if name.endswith("/*") else name


def mutmut_config(root: Path) -> dict[str, list[str]]:
    config: dict[str, list[str]] = tomllib.loads((root / "pyproject.toml").read_text())["tool"][
        "mutmut"
    ]
    return config


def load_modules(root: Path) -> list[Module]:
    return [Module(module_name(p), p) for p in mutmut_config(root)["only_mutate"]]


def collect(root: Path, modules: list[Module]) -> None:
    mutants_dir = root / "mutants"
    for meta_path in sorted(mutants_dir.rglob("*.py.meta")):
        source = meta_path.relative_to(mutants_dir).as_posix().removesuffix(".meta")
        module = next((m for m in modules if fnmatch.fnmatch(source, m.pattern)), None)
        if module is None:
            continue
        meta = json.loads(meta_path.read_text())
        for mutant, exit_code in sorted(meta["exit_code_by_key"].items()):
            status = status_of(exit_code)
            module.counts[status] += 1
            if status not in DETECTED:
                module.survivors.append(f"{mutant} ({status})")


def render(modules: list[Module]) -> str:
    head = "| module | " + " | ".join(COLUMNS) + " | total | score |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for m in [*modules, total_of(modules)]:
        score = "n/a" if m.score is None else f"{m.score:.1f}%"
        cells = " | ".join(str(m.counts[c]) for c in COLUMNS)
        lines.append(f"| {m.name} | {cells} | {m.total} | {score} |")
    return "\n".join(lines)


def total_of(modules: list[Module]) -> Module:
    everything = Module("**all**", "")
    for m in modules:
        everything.counts.update(m.counts)
    return everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--survivors", action="store_true", help="list every mutant not detected")
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "mutants").is_dir():
        print("no mutants/ directory: run `make mutate` first", file=sys.stderr)
        return 1
    modules = load_modules(root)
    collect(root, modules)
    table = render(modules)
    excluded = mutmut_config(root).get("do_not_mutate", [])
    if excluded:
        table += "\n\nNot mutated (`do_not_mutate`): " + ", ".join(excluded)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    (root / "mutants-report.md").write_text(f"Mutation score, {generated}\n\n{table}\n")
    report = {
        "generated_at": generated,
        "modules": [
            {
                "module": m.name,
                "pattern": m.pattern,
                **{c: m.counts[c] for c in COLUMNS},
                "total": m.total,
                "score": None if m.score is None else round(m.score, 1),
                "not_detected": m.survivors,
            }
            for m in modules
        ],
    }
    (root / "mutants-report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table)
    if args.survivors:
        for m in modules:
            for name in m.survivors:
                print(name)
    print("written: mutants-report.md, mutants-report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
