"""``reconcile-sandbox`` as a process: starts, serves boto3, stops on SIGTERM, saves its state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from reconciler_sandbox import Sandbox, SandboxState
from reconciler_sandbox.cli import main
from tests.sandbox.conftest import ADMIN, EXTERNAL, QUICKSTART_STATE, REPO

STARTED = re.compile(
    r"^reconcile-sandbox: serving (http://127\.0\.0\.1:\d+) as account (\d{12}); "
    r"use AWS_ENDPOINT_URL=\S+ AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) "
    r"AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1$"
)


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler_sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    saved = tmp_path / "saved.yaml"
    process = _spawn(
        "--state",
        str(QUICKSTART_STATE),
        "--port",
        "0",
        "--rate",
        "0",
        "--calls-log",
        str(calls),
        "--save-on-exit",
        str(saved),
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline().strip()
        match = STARTED.match(banner)
        assert match, banner
        endpoint, account, key, secret = match.groups()
        assert account == ADMIN
        gd = boto3.client(
            "guardduty",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )
        detector_id = gd.list_detectors()["DetectorIds"][0]
        gd.create_members(
            DetectorId=detector_id,
            AccountDetails=[{"AccountId": EXTERNAL, "Email": "aws+888@example.com"}],
        )
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "stopped" in rest
    records = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [r["operation"] for r in records] == ["ListDetectors", "CreateMembers"]
    members = SandboxState.load(saved).members(ADMIN, "us-east-1", "guardduty")
    assert [(m["accountId"], m["status"]) for m in members] == [(EXTERNAL, "Created")]


def test_stops_on_sigint() -> None:
    process = _spawn("--state", str(QUICKSTART_STATE), "--port", "0")
    try:
        assert process.stderr is not None
        assert STARTED.match(process.stderr.readline().strip())
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0


def test_bad_state_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndefaultAccount: '111111111111'\nacounts: {}\n")
    assert main(["--state", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"reconcile-sandbox: {bad}: field acounts: unknown key")


def test_refuses_non_loopback_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state", str(QUICKSTART_STATE), "--host", "0.0.0.0"]) == 2
    assert "--allow-non-loopback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["--fault-rate", "1.5"], ["--rate", "-1"], ["--latency-ms", "x"], ["--bogus"]],
)
def test_bad_flags_exit_2(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--state", str(QUICKSTART_STATE), *flags])
    assert excinfo.value.code == 2


def test_embedded_sandbox_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(SandboxState.load(QUICKSTART_STATE), host="0.0.0.0")
