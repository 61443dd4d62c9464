"""The environment ``reconcile-sandbox`` prints is all an unconfigured AWS client needs (point 19).

The sandbox is started as the README's quick start starts it; a separate process then calls it
with exactly the variables of the startup line (plus PATH and an empty HOME, so no
``~/.aws`` file helps): a botocore client created with no region, endpoint or credentials of
its own, which is how the AWS CLI (botocore underneath) resolves them. Without a region in the
printed environment, ``aws sts get-caller-identity`` fails with "You must specify a region" and
the client here with ``NoRegionError``. The README's quick start must export the same variables.
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
    command = [sys.executable, "-m", "reconciler.sandbox", "--state", str(QUICKSTART_STATE)]
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


def test_the_printed_environment_is_enough_for_an_unconfigured_client(tmp_path: Path) -> None:
    process, printed = printed_environment()
    try:
        home = tmp_path / "home"
        home.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", CLIENT],
            env={**printed, "PATH": os.environ.get("PATH", ""), "HOME": str(home)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert done.returncode == 0, done.stderr
    identity, detectors = done.stdout.splitlines()
    assert identity == f"{ADMIN} {printed['AWS_DEFAULT_REGION']}"
    assert int(detectors) == 1


def test_the_readme_quick_start_exports_what_the_sandbox_prints() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Quick start\n", readme.index("## The sandbox")) :]
    section = section[: section.index("\n### ", 1)]
    exported = {
        name
        for line in section.splitlines()
        if line.startswith("export ")
        for name, _, _ in (word.partition("=") for word in line.split()[1:])
    }
    process, printed = printed_environment()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)
    assert set(printed) <= exported
    assert "aws sts get-caller-identity" in section
