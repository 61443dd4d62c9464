"""Conflicting and repeated options are refused (issue 13, point 8).

One mode per invocation (a run, ``--dry-run``, ``--plan``, ``--validate``, ``--iam-policy``);
an option the mode would ignore is refused naming both; an option that takes one value refuses a
second one instead of keeping the last; value errors are in the tool's words. Each refusal is
exit 3 with one line on stderr, before the manifest is even read (no AWS call can follow).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from reconciler import cli, compose

EXAMPLE = str(Path(__file__).resolve().parents[2] / "manifests" / "example.yaml")

# Every mode with the arguments it needs, and each option with a valid value.
MODES = {
    "--dry-run": ["--dry-run"],
    "--plan": ["--plan", "plan.json"],
    "--validate": ["--validate"],
    "--iam-policy": ["--iam-policy"],
}
SINGLE_VALUED = {
    "--manifest": ["--manifest", "m.yaml"],
    "--output": ["--output", "json"],
    "--log-format": ["--log-format", "json"],
    "--log-level": ["--log-level", "debug"],
    "--max-concurrency": ["--max-concurrency", "2"],
    "--max-attempts": ["--max-attempts", "2"],
    "--read-timeout": ["--read-timeout", "5"],
    "--out": ["--out", "plan.json"],
    "--plan": ["--plan", "plan.json"],
    "--iam-policy": ["--iam-policy", "member"],
    "--metrics-file": ["--metrics-file", "m.prom"],
    "--pushgateway": ["--pushgateway", "http://127.0.0.1:9091"],
    "--sandbox": ["--sandbox", "state.yaml"],
    "--sandbox-save": ["--sandbox-save", "out.yaml"],
}
FLAGS = [
    "--dry-run",
    "--detailed-exitcode",
    "--show-emails",
    "--allow-mass-prune",
    "--validate",
    "--read-only",
    "--no-progress",
]


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; it must exit 3 with one error line and print nothing on stdout."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == cli.EXIT_INVALID, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reconcile: error: invalid invocation: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(MODES, 2)))
def test_two_modes_are_refused(first: str, second: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "--manifest", EXAMPLE, *MODES[first], *MODES[second])
    assert f"argument {second}: not allowed with argument {first}" in line


@pytest.mark.parametrize("option", sorted(SINGLE_VALUED))
def test_a_single_valued_option_given_twice_is_refused(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, *SINGLE_VALUED[option], *SINGLE_VALUED[option])
    assert f"argument {option}: given twice; give it once" in line


@pytest.mark.parametrize("flag", FLAGS)
def test_a_flag_given_twice_is_refused(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert f"argument {flag}: given twice" in refused(capsys, flag, flag)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--region", "us-east-1", "--region", "us-east-1"], "argument --region: us-east-1 given"),
        (["--service", "guardduty", "--service", "guardduty"], "argument --service: guardduty"),
        (["--rate", "guardduty=1/2", "--rate", "guardduty=5"], "argument --rate: guardduty given"),
    ],
)
def test_the_same_value_twice_in_a_repeatable_option_is_refused(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert said in refused(capsys, "--manifest", EXAMPLE, *argv)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--plan", "p.json", "--out", "o.json"], "--out does not go with --plan"),
        (["--plan", "p.json", "--region", "us-east-1"], "--region does not go with --plan"),
        (["--plan", "p.json", "--service", "guardduty"], "--service does not go with --plan"),
        (["--plan", "p.json", "--detailed-exitcode"], "--detailed-exitcode does not go with"),
        (["--validate", "--output", "json"], "--output does not go with --validate"),
        (["--validate", "--sandbox", "s.yaml"], "--sandbox does not go with --validate"),
        (["--validate", "--out", "o.json"], "--out does not go with --validate"),
        (["--validate", "--metrics-file", "m.prom"], "--metrics-file does not go with --validate"),
        (["--iam-policy", "--sandbox", "s.yaml"], "--sandbox does not go with --iam-policy"),
        (["--iam-policy", "--service", "guardduty"], "--service does not go with --iam-policy"),
        (["--iam-policy", "--allow-mass-prune"], "--allow-mass-prune does not go with"),
        (["--iam-policy", "--rate", "guardduty=1"], "--rate does not go with --iam-policy"),
        (["--dry-run", "--read-only"], "--read-only does not go with --dry-run"),
        (["--out", "o.json"], "--out needs --dry-run"),
        (["--detailed-exitcode"], "--detailed-exitcode needs --dry-run"),
        (["--read-only"], "--read-only needs --iam-policy"),
        (["--dry-run", "--sandbox-save", "s.yaml"], "--sandbox-save needs --sandbox"),
    ],
)
def test_an_option_its_mode_would_ignore_is_refused(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert said in refused(capsys, "--manifest", EXAMPLE, *argv)


def test_the_conflict_is_refused_before_the_saved_plan_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The plan file does not exist: the invocation is wrong first, and says so.
    line = refused(capsys, "--plan", str(tmp_path / "missing.json"), "--out", "o.json")
    assert "--out does not go with --plan" in line


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("guardduty=abc", "the rate must be a positive number of requests per second, not 'abc'"),
        ("guardduty=inf", "the rate must be a positive number of requests per second, not 'inf'"),
        ("guardduty=nan/3", "the rate must be a positive number of requests per second"),
        ("guardduty=0/3", "the rate must be a positive number of requests per second, not '0'"),
        ("guardduty=1/abc", "the burst must be a whole number of requests, at least 1, not 'abc'"),
        ("guardduty=1/0", "the burst must be a whole number of requests, at least 1, not '0'"),
        ("guardduty=1/2.5", "the burst must be a whole number of requests"),
        ("macie=1/2", "with SERVICE one of guardduty, securityhub"),
        ("guardduty", "expected SERVICE=RPS/BURST, e.g. guardduty=10/30"),
    ],
)
def test_rate_value_errors_speak_the_tools_words(
    value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "--manifest", EXAMPLE, "--dry-run", "--rate", value)
    assert f"argument --rate: {value!r}: " in line
    assert said in line
    assert "convert" not in line
    assert "invalid literal" not in line


def test_rates_are_parsed_into_the_limiter_type() -> None:
    args = cli.parse_invocation(["--rate", "guardduty=2.5/5", "--rate", "securityhub=4"])
    rates = compose._parse_rates(args.rate, lambda **kw: kw)
    assert rates == {
        "guardduty": {"per_second": 2.5, "burst": 5},
        "securityhub": {"per_second": 4.0, "burst": 4},
    }


def test_an_unknown_option_is_still_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unrecognized arguments: --dryrun" in refused(capsys, "--dryrun")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--dry-run"],
        ["--dry-run", "--out", "p.json", "--detailed-exitcode", "--output", "markdown"],
        ["--region", "us-east-1", "--region", "eu-west-1", "--service", "guardduty"],
        ["--plan", "p.json", "--manifest", "m.yaml", "--output", "json", "--metrics-file", "m"],
        ["--validate", "--manifest", "m.yaml", "--region", "us-east-1", "--log-format", "json"],
        ["--iam-policy", "member", "--read-only", "--manifest", "m.yaml"],
        ["--iam-policy", "--manifest", "m.yaml"],
        ["--sandbox", "s.yaml", "--sandbox-save", "t.yaml", "--allow-mass-prune"],
        ["--rate", "guardduty=1/2", "--rate", "securityhub=3/4", "--show-emails"],
    ],
)
def test_documented_combinations_are_accepted(argv: list[str]) -> None:
    args = cli.parse_invocation(argv)
    assert args.dry_run is ("--dry-run" in argv)
    assert args.validate is ("--validate" in argv)


def test_the_environment_manifest_is_not_a_repetition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.MANIFEST_ENV, "from-env.yaml")
    assert cli.parse_invocation([]).manifest == "from-env.yaml"
    assert cli.parse_invocation(["--manifest", "given.yaml"]).manifest == "given.yaml"


@pytest.mark.parametrize(
    "url",
    ["", "ftp://pushgateway:9091", "http://", "http://h:99999", "http://[::1", "http://u:s3cret@"],
)
def test_a_pushgateway_value_that_is_not_a_url_is_refused_without_echoing_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(capsys, "--manifest", EXAMPLE, "--pushgateway", url)
    assert "argument --pushgateway: expected the Pushgateway's http:// or https:// URL" in line
    assert "s3cret" not in line


@pytest.mark.parametrize(
    "url", ["http://pushgateway:9091", "https://metrics.example.com/push", "pushgateway:9091"]
)
def test_pushgateway_urls_prometheus_client_accepts_are_accepted(url: str) -> None:
    assert cli.parse_invocation(["--pushgateway", url]).pushgateway == url
