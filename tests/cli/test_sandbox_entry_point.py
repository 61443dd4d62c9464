"""``--sandbox`` finds the sandbox distribution by its entry point, and says how to install it.

The product never imports the sandbox by name (tests/pure/test_composition_root.py); these tests
check the other side of that contract: the installed sandbox announces ``start`` in the
``reconciler.sandbox`` group, a run goes through it, and without it ``--sandbox`` is a usage error
(exit 3) that names the install command, before any AWS call.
"""

from __future__ import annotations

from importlib.metadata import EntryPoints
from pathlib import Path

import pytest

from reconciler import cli, sandboxing

REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "--manifest",
    str(REPO / "manifests" / "example.yaml"),
    "--sandbox",
    str(REPO / "manifests" / "sandbox-state.yaml"),
    "--dry-run",
    "--log-level",
    "error",
    "--no-progress",
]


def test_the_installed_sandbox_announces_its_start_function() -> None:
    start = sandboxing.starter()
    assert start.__module__ == "reconciler_sandbox.embedded"
    assert start.__name__ == "start"


def test_a_run_with_sandbox_goes_through_the_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[str] = []
    real = sandboxing.starter()

    def spy() -> sandboxing.Starter:
        def start(path: str):  # type: ignore[no-untyped-def]
            started.append(path)
            return real(path)

        return start

    monkeypatch.setattr(sandboxing, "starter", spy)
    assert cli.main(ARGS) == 0
    assert started == [ARGS[3]]
    assert "Plan:" in capsys.readouterr().out


def test_without_the_sandbox_installed_it_is_a_usage_error_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandboxing, "entry_points", lambda **_: EntryPoints(()))
    assert cli.main(ARGS) == cli.EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "reconcile: error: --sandbox: the sandbox is not installed; pip install -e ./sandbox "
        "(the reconciler-sandbox distribution of this repository)"
    )


def test_a_bad_state_file_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.yaml"
    state.write_text('version: 1\ndefaultAccount: "111111111111"\naccounts: 5\n', encoding="utf-8")
    args = [*ARGS]
    args[3] = str(state)
    assert cli.main(args) == cli.EXIT_INVALID
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"reconcile: error: --sandbox: {state}")
    assert "accounts" in err
    assert "\n" not in err
