"""The environment ``reconcile-sandbox`` prints is all an unconfigured AWS client needs (point 19).

The sandbox is started as the README's quick start starts it; a separate process then calls it
with exactly the variables of the startup line (plus PATH and an empty HOME, so no
``~/.aws`` file helps): a botocore client created with no region, endpoint or credentials of
its own, which is how the AWS CLI (botocore underneath) resolves them. Without a region in the
printed environment, ``aws sts get-caller-identity`` fails with "You must specify a region" and
the client here with ``NoRegionError``. The README's quick start exports them all, and the same
client works with the README's values.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.sandbox.conftest import ADMIN, QUICKSTART_STATE, REPO

BANNER = re.compile(r"^reconcile-sandbox: serving \S+ as account \d{12}; use (.+)$")

# What the README's commands do, through botocore's own configuration chain.
CLIENT = """
import boto3
sts = boto3.client("sts")
guardduty = boto3.client("guardduty")
print(sts.get_caller_identity()["Account"], guardduty.meta.region_name)
print(len(guardduty.list_detectors()["DetectorIds"]))
"""


def printed_environment() -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [sys.executable, "-m", "reconciler_sandbox", "--state", str(QUICKSTART_STATE)]
    process = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=REPO,
    )
    assert process.stderr is not None
    banner = process.stderr.readline().strip()
    match = BANNER.match(banner)
    assert match, banner
    pairs = [word.partition("=") for word in match.group(1).split(" ")]
    assert all(sep == "=" and name.startswith("AWS_") for name, sep, _ in pairs), banner
    return process, {name: value for name, _, value in pairs}


def run_client(environment: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """CLIENT in a process that has ``environment``, PATH and an empty HOME, nothing else."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", CLIENT],
        env={**environment, "PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)


def test_the_printed_environment_is_enough_for_an_unconfigured_client(tmp_path: Path) -> None:
    process, printed = printed_environment()
    try:
        done = run_client(printed, tmp_path)
    finally:
        stop(process)
    assert done.returncode == 0, done.stderr
    identity, detectors = done.stdout.splitlines()
    assert identity == f"{ADMIN} {printed['AWS_DEFAULT_REGION']}"
    assert int(detectors) == 1


def test_the_readme_quick_start_environment_is_enough(tmp_path: Path) -> None:
    readme = (REPO / "docs" / "reference" / "sandbox.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Quick start\n", readme.index("## The sandbox")) :]
    section = section[: section.index("\n### ", 1)]
    exported = dict(
        word.split("=", 1)
        for line in section.splitlines()
        if line.startswith("export ")
        for word in line.split()[1:]
    )
    assert "aws sts get-caller-identity" in section
    process, printed = printed_environment()
    try:
        # Every variable the sandbox prints is exported; the README's port is 4566, this one's
        # is any free port.
        assert set(printed) <= set(exported)
        assert exported["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
        done = run_client({**exported, "AWS_ENDPOINT_URL": printed["AWS_ENDPOINT_URL"]}, tmp_path)
    finally:
        stop(process)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == ADMIN
