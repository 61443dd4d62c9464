"""The mutation-score check (tests/mutation/score.py) on mutmut results it is handed.

Aspects under test:
- the score counts killed and timed-out mutants over all of a module's mutants;
- the check passes only when every module is at or over 90 %, every survivor is explained in
  the survivors file, nothing it explains is killed, and every mutant was run;
- the committed survivors file explains mutants by their full names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mutation import score

PYPROJECT = '[tool.mutmut]\nonly_mutate = ["reconciler/a.py", "reconciler/b.py"]\n'


def _results(root: Path, results: dict[str, dict[str, int | None]]) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    for module, codes in results.items():
        meta = root / "mutants" / f"{module}.meta"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"exit_code_by_key": codes}), encoding="utf-8")


def _codes(prefix: str, killed: int, survived: int = 0, timeout: int = 0) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for n in range(killed):
        codes[f"{prefix}__mutmut_{n}"] = 1
    for n in range(killed, killed + timeout):
        codes[f"{prefix}__mutmut_{n}"] = 36
    for n in range(killed + timeout, killed + timeout + survived):
        codes[f"{prefix}__mutmut_{n}"] = 0
    return codes


def _check(tmp_path: Path, explained: str = "") -> tuple[list[score.Score], list[str]]:
    survivors = tmp_path / "SURVIVORS.md"
    survivors.write_text(explained, encoding="utf-8")
    return score.check(tmp_path, survivors)


def test_a_run_at_or_over_the_minimum_with_every_survivor_explained_passes(
    tmp_path: Path,
) -> None:
    _results(
        tmp_path,
        {
            "reconciler/a.py": _codes("reconciler.a.x_f", 8, survived=1, timeout=1),
            "reconciler/b.py": _codes("reconciler.b.x_g", 10),
        },
    )
    scores, problems = _check(tmp_path, "- `reconciler.a.x_f__mutmut_9`: equivalent\n")
    assert problems == []
    assert [(s.module, s.killed, s.total, s.percent) for s in scores] == [
        ("reconciler/a.py", 9, 10, 90.0),
        ("reconciler/b.py", 10, 10, 100.0),
    ]
    assert scores[0].survivors == ("reconciler.a.x_f__mutmut_9",)


def test_a_module_under_the_minimum_fails(tmp_path: Path) -> None:
    _results(
        tmp_path,
        {
            "reconciler/a.py": _codes("reconciler.a.x_f", 8, survived=2),
            "reconciler/b.py": _codes("reconciler.b.x_g", 1),
        },
    )
    explained = "`reconciler.a.x_f__mutmut_8` `reconciler.a.x_f__mutmut_9`"
    _, problems = _check(tmp_path, explained)
    assert problems == ["reconciler/a.py: 80.0 % is under 90 %"]


def test_an_unexplained_survivor_a_stale_entry_and_an_unrun_mutant_fail(tmp_path: Path) -> None:
    codes = _codes("reconciler.a.x_f", 18, survived=1)
    codes["reconciler.a.x_f__mutmut_99"] = None
    _results(tmp_path, {"reconciler/a.py": codes, "reconciler/b.py": _codes("reconciler.b.x_g", 1)})
    _, problems = _check(tmp_path, "`reconciler.b.x_g__mutmut_0` was equivalent\n")
    assert problems == [
        "reconciler.a.x_f__mutmut_99: not settled (run `mutmut run` again)",
        "reconciler.a.x_f__mutmut_18: survives, and SURVIVORS.md does not say why",
        "reconciler.b.x_g__mutmut_0: SURVIVORS.md explains it, but it no longer survives",
    ]


def test_a_module_not_run_fails(tmp_path: Path) -> None:
    _results(tmp_path, {"reconciler/a.py": _codes("reconciler.a.x_f", 1)})
    scores, problems = _check(tmp_path)
    assert [s.module for s in scores] == ["reconciler/a.py"]
    assert problems == ["reconciler/b.py: no mutants/reconciler/b.py.meta; run `mutmut run` first"]


def test_main_prints_each_score_and_exits_1_on_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _results(tmp_path, {"reconciler/a.py": _codes("reconciler.a.x_f", 3, survived=1)})
    monkeypatch.setattr(score, "SURVIVORS", tmp_path / "none.md")
    assert score.main(tmp_path) == 1
    out, err = capsys.readouterr()
    assert "reconciler/a.py" in out
    assert "3/4" in out
    assert "75.0 %" in out
    assert err.splitlines() == [
        "mutation: reconciler/b.py: no mutants/reconciler/b.py.meta; run `mutmut run` first",
        "mutation: reconciler/a.py: 75.0 % is under 90 %",
        "mutation: reconciler.a.x_f__mutmut_3: survives, and none.md does not say why",
    ]


def test_the_committed_survivors_are_named_in_full() -> None:
    names = score.explained(score.SURVIVORS.read_text(encoding="utf-8"))
    modules = {"diff", "plan", "planfile", "manifest.checks"}
    assert names
    assert all(name.split(".x")[0].removeprefix("reconciler.") in modules for name in names)
    assert "…_" not in score.SURVIVORS.read_text(encoding="utf-8")
