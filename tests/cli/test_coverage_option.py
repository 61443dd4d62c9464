"""``--coverage FILE.html`` writes the coverage picture of the run beside any ``--output``.

Aspects under test: the file is the page ``--output html`` prints for the same plan (same data),
written whole; it is an output like the others (refused when it names an input, before any AWS
call); it goes with runs only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler import cli

REPO = Path(__file__).resolve().parents[2]
RUN = [
    "--manifest",
    str(REPO / "manifests" / "example.yaml"),
    "--sandbox",
    str(REPO / "manifests" / "sandbox-state.yaml"),
    "--dry-run",
    "--log-level",
    "error",
]


def _data(page: str) -> dict[str, object]:
    (text,) = re.findall(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    return dict(json.loads(text))


def test_the_file_is_the_html_output_of_the_same_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "coverage.html"
    assert cli.main([*RUN, "--output", "markdown", "--coverage", str(target)]) == 0
    assert capsys.readouterr().out.startswith("### ")
    assert cli.main([*RUN, "--output", "html"]) == 0
    printed = capsys.readouterr().out
    written = target.read_text(encoding="utf-8")
    assert written.startswith("<!doctype html>")
    assert _data(written) == _data(printed)
    assert _data(written)["accounts"]


def test_it_may_not_name_an_input(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = str(REPO / "manifests" / "example.yaml")
    before = Path(manifest).read_bytes()
    assert cli.main([*RUN, "--coverage", manifest]) == cli.EXIT_INVALID
    assert "this is the manifest" in capsys.readouterr().err
    assert Path(manifest).read_bytes() == before


def test_it_goes_with_runs_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--validate", "--manifest", "m.yaml", "--coverage", "c.html"]) == 3
    assert "--coverage does not go with --validate" in capsys.readouterr().err
