"""``reconcile --help`` helps: every option explained, examples that work, the exit codes, and a
suggestion for a mistyped option or value.

Aspects under test:
- every option has help text;
- the help ends with the examples and the exit-code contract, whose codes are the CLI's own;
- every example is accepted by the real parser, and the two that name this repository's files
  run (the sandbox run converges, the validation passes);
- an unknown option or an invalid choice names the nearest one (exit 3, one line); garbage gets
  no suggestion.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from reconciler import cli, options

REPO = Path(__file__).resolve().parents[2]


def _help() -> str:
    return options.build_parser().format_help()


def test_every_option_has_help_text() -> None:
    missing = [
        action.option_strings
        for action in options.build_parser()._actions
        if action.option_strings and not (action.help and action.help != argparse.SUPPRESS)
    ]
    assert missing == []


def test_the_help_ends_with_examples_then_the_exit_codes() -> None:
    text = _help()
    examples, codes = text.index("\nexamples:\n"), text.index("\nexit codes:\n")
    assert examples < codes
    assert text.index("--sandbox-save FILE") < examples
    code_lines = text[codes:].strip().splitlines()[1:]
    assert [int(line.split()[0]) for line in code_lines] == [
        cli.EXIT_CONVERGED,
        cli.EXIT_FAILED,
        cli.EXIT_CHANGES_PENDING,
        cli.EXIT_INVALID,
    ]
    for _, command in options.EXAMPLES:
        for line in command.splitlines():
            assert f"  {line.strip()}\n" in text


def _example_commands() -> list[list[str]]:
    return [shlex.split(line) for _, command in options.EXAMPLES for line in command.splitlines()]


@pytest.mark.parametrize("argv", _example_commands(), ids=" ".join)
def test_every_example_is_accepted_by_the_parser(argv: list[str]) -> None:
    assert argv[0] == "reconcile"
    options.parse_invocation(argv[1:])


@pytest.mark.parametrize("argv", [c for c in _example_commands() if "manifests/example.yaml" in c])
def test_the_examples_on_this_repository_run(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    assert cli.main([*argv[1:], "--log-level", "error"]) == cli.EXIT_CONVERGED
    out = capsys.readouterr().out
    if "--validate" in argv:
        assert out.startswith("manifests/example.yaml: valid: ")
    else:
        assert out.splitlines()[-1] == "Converged: every change applied and verified."


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["--dryrun"], "(did you mean --dry-run?)"),
        (["--dry-run", "--detailed-exit-code"], "(did you mean --detailed-exitcode?)"),
        (["--servce", "guardduty"], "(did you mean --service?)"),
        (["--output", "jsn"], "(did you mean json?)"),
        (["--log-level", "warn"], "(did you mean warning?)"),
    ],
)
def test_a_mistyped_option_or_value_names_the_nearest(
    argv: list[str], suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert err.startswith("reconcile: error: ")
    assert err.rstrip("\n").endswith(suggestion)
    assert err.count("\n") == 1


def test_garbage_gets_no_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--zzzzzz"]) == cli.EXIT_INVALID
    assert "did you mean" not in capsys.readouterr().err
