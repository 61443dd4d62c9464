"""The mutation score of each module mutmut mutates, checked against the committed survivors.

``mutmut run`` (docs/development.md, config in pyproject.toml ``[tool.mutmut]``) leaves one
``mutants/<module>.py.meta`` per mutated module, mapping each mutant to the exit code of its
tests. This reads them and fails (exit 1) when a module's score is under :data:`MINIMUM`, when
a mutant survives that SURVIVORS.md does not explain, or when SURVIVORS.md explains one that no
longer survives, so the list of accepted survivors stays exactly the list of survivors.

Run it from the repository root after ``mutmut run``: ``python -m tests.mutation.score``.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MINIMUM = 90.0
SURVIVORS = Path(__file__).with_name("SURVIVORS.md")
# mutmut's exit codes (mutmut.stats.status_by_exit_code): the tests failed (1, 3) or the mutant
# ran past its CPU budget (timeouts count as killed, as in mutmut's own score).
KILLED = frozenset({1, 3, 24, -24, 36, 152, 255})
SURVIVED = 0
MUTANT_NAME = re.compile(r"`(reconciler\.[^`\s]+__mutmut_\d+)`")


@dataclass(frozen=True)
class Score:
    module: str
    killed: int
    total: int
    survivors: tuple[str, ...]
    # Not run, no test reached them, or anything else mutmut reports: each is a failure.
    unsettled: tuple[str, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def mutated_modules(pyproject: Path) -> list[str]:
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mutmut"]
    return list(config["only_mutate"])


def score(module: str, exit_codes: Mapping[str, int | None]) -> Score:
    killed = sum(1 for code in exit_codes.values() if code in KILLED)
    survivors = sorted(name for name, code in exit_codes.items() if code == SURVIVED)
    unsettled = sorted(
        name for name, code in exit_codes.items() if code not in KILLED and code != SURVIVED
    )
    return Score(module, killed, len(exit_codes), tuple(survivors), tuple(unsettled))


def explained(text: str) -> set[str]:
    """The mutant names SURVIVORS.md explains (each written in backticks)."""
    return set(MUTANT_NAME.findall(text))


def check(root: Path, survivors: Path | None = None) -> tuple[list[Score], list[str]]:
    """Every module's score, and every problem found (empty: the run passes)."""
    survivors = survivors or SURVIVORS
    scores: list[Score] = []
    problems: list[str] = []
    modules = mutated_modules(root / "pyproject.toml")
    for module in modules:
        meta = root / "mutants" / f"{module}.meta"
        if not meta.is_file():
            problems.append(f"{module}: no {meta.relative_to(root)}; run `mutmut run` first")
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        scores.append(score(module, codes))
    listed = explained(survivors.read_text(encoding="utf-8")) if survivors.is_file() else set()
    surviving = {name for s in scores for name in s.survivors}
    for s in scores:
        if s.percent < MINIMUM:
            problems.append(f"{s.module}: {s.percent:.1f} % is under {MINIMUM:.0f} %")
        problems.extend(f"{name}: not settled (run `mutmut run` again)" for name in s.unsettled)
    problems.extend(
        f"{name}: survives, and {survivors.name} does not say why"
        for name in sorted(surviving - listed)
    )
    # A stale entry can only be told from a missing module's survivor when every module ran.
    if len(scores) == len(modules):
        problems.extend(
            f"{name}: {survivors.name} explains it, but it no longer survives"
            for name in sorted(listed - surviving)
        )
    return scores, problems


def main(root: Path = Path()) -> int:
    scores, problems = check(root)
    for s in scores:
        print(f"{s.module:32} {s.killed:4}/{s.total:<4} killed  {s.percent:5.1f} %")
    killed, total = sum(s.killed for s in scores), sum(s.total for s in scores)
    if total:
        print(f"{'all':32} {killed:4}/{total:<4} killed  {100.0 * killed / total:5.1f} %")
    for problem in problems:
        print(f"mutation: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
