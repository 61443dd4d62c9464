"""The real AWS CLI v1 works against the sandbox, configured only by what its banner prints.

A newcomer starts ``reconcile-sandbox``, pastes the environment its banner prints, and runs the
AWS CLI: that is the contract this test holds, for Amazon Detective's member commands (the
first service whose CLI commands the sandbox serves end to end here). The sandbox and the CLI
are both separate processes; the CLI (``awscli`` of the test extra, which vendors its own
botocore) sees no profile or config file.

We test these aspects:
- ``aws detective list-graphs``, ``create-members`` (an organization account and an invited
  one), ``list-members``, ``get-members`` (with an unknown account), ``delete-members``;
- the member side through ``aws sts assume-role``: ``list-invitations``, ``accept-invitation``;
- a 51-account ``create-members`` fails as AWS's does, with its words.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import ADMIN, EXTERNAL, QUICKSTART_STATE

ORG_MEMBER = "222222222222"
UNKNOWN = "123456789012"


class Cli:
    """Runs ``python -m awscli`` with the banner's environment (plus optional credentials)."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment

    def run(self, *args: str, credentials: dict[str, str] | None = None) -> Any:
        done = self.call(*args, credentials=credentials)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def call(
        self, *args: str, credentials: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.environment, **(credentials or {})}
        return subprocess.run(
            [sys.executable, "-m", "awscli", *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    state = tmp_path / "state.yaml"
    shutil.copy(QUICKSTART_STATE, state)
    server = subprocess.Popen(
        [sys.executable, "-m", "reconciler_sandbox", "--state", str(state), "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert "; use " in banner, banner
        printed = dict(item.split("=", 1) for item in banner.split("; use ", 1)[1].split())
        assert set(printed) >= {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION"}
        # Nothing of this machine's AWS setup: no profile, no config or credentials file.
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            **printed,
        }
        yield Cli(environment)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _assume(cli: Cli, account: str) -> dict[str, str]:
    found = cli.run(
        "sts",
        "assume-role",
        "--role-arn",
        f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        "--role-session-name",
        "cli",
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }


def test_the_aws_cli_manages_detective_members_against_the_sandbox(cli: Cli) -> None:
    graphs = cli.run("detective", "list-graphs")["GraphList"]
    assert len(graphs) == 1
    graph = graphs[0]["Arn"]
    assert graph.startswith(f"arn:aws:detective:us-east-1:{ADMIN}:graph:")

    created = cli.run(
        "detective",
        "create-members",
        "--graph-arn",
        graph,
        "--accounts",
        f"AccountId={ORG_MEMBER},EmailAddress=aws+222@example.com",
        f"AccountId={EXTERNAL},EmailAddress=aws+888@example.com",
    )
    assert created["UnprocessedAccounts"] == []
    assert {m["AccountId"]: (m["Status"], m["InvitationType"]) for m in created["Members"]} == {
        ORG_MEMBER: ("ENABLED", "ORGANIZATION"),
        EXTERNAL: ("INVITED", "INVITATION"),
    }

    done = cli.call("detective", "list-members", "--graph-arn", graph)
    assert done.returncode == 0, done.stderr
    print(f"$ aws detective list-members --graph-arn {graph}\n{done.stdout}")
    listed = json.loads(done.stdout)["MemberDetails"]
    assert [m["AccountId"] for m in listed] == [ORG_MEMBER, EXTERNAL]

    got = cli.run(
        "detective", "get-members", "--graph-arn", graph, "--account-ids", EXTERNAL, UNKNOWN
    )
    assert [m["AccountId"] for m in got["MemberDetails"]] == [EXTERNAL]
    assert [u["AccountId"] for u in got["UnprocessedAccounts"]] == [UNKNOWN]

    member = _assume(cli, EXTERNAL)
    invitations = cli.run("detective", "list-invitations", credentials=member)["Invitations"]
    assert [(i["GraphArn"], i["Status"]) for i in invitations] == [(graph, "INVITED")]
    assert (
        cli.run("detective", "accept-invitation", "--graph-arn", graph, credentials=member) is None
    )
    enabled = cli.run("detective", "get-members", "--graph-arn", graph, "--account-ids", EXTERNAL)
    assert enabled["MemberDetails"][0]["Status"] == "ENABLED"

    deleted = cli.run(
        "detective", "delete-members", "--graph-arn", graph, "--account-ids", ORG_MEMBER
    )
    assert deleted == {"AccountIds": [ORG_MEMBER], "UnprocessedAccounts": []}

    too_many = [f"AccountId={500000000000 + i},EmailAddress=m@example.com" for i in range(51)]
    refused = cli.call("detective", "create-members", "--graph-arn", graph, "--accounts", *too_many)
    assert refused.returncode == 255, refused.stderr  # the CLI v1 exit status of a ClientError
    assert (
        "An error occurred (ValidationException) when calling the CreateMembers operation: "
        "CreateMembersRequest.Accounts must have length less than or equal to 50. Found 51."
    ) in refused.stderr
