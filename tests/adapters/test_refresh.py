"""Assumed roles are renewed before their session ends, so a run can outlast any session.

Against the sandbox over HTTP (real botocore clients, real AssumeRole answers and their
``Expiration``), with sessions shortened to seconds by the sandbox's ``session_lifetime``:
keys used past their session's end are refused there with ``ExpiredTokenException``, so a call
that succeeds after the end proves the keys were renewed; the calls log counts the AssumeRole
calls that did it. Waiting is against the session's own end, never a timing assertion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler import cli
from reconciler.aws.organizations import organization_accounts
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import (
    ADVISORY_REFRESH_SECONDS,
    MANDATORY_REFRESH_SECONDS,
    ClientFactory,
    ClientSettings,
    assume_role,
    caller_account,
    refresh_windows,
)
from reconciler.errors import PermanentAwsError
from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from tests.cli.conftest import ADMIN, MANAGEMENT, world
from tests.reliability.harness import onboarding_manifest, onboarding_world, write_yaml

REGION = "us-east-1"
ADMIN_ROLE = f"arn:aws:iam::{ADMIN}:role/MembershipReconciler"
EXPIRED = ("ExpiredToken", "ExpiredTokenException")


def _sandbox(**options: Any) -> Sandbox:
    state, _ = onboarding_world(2)
    return Sandbox(SandboxState.from_dict(state), SandboxOptions(rate=0, **options), port=0)


def _base(sandbox: Sandbox) -> ClientFactory:
    key, secret = sandbox.credentials
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
    return ClientFactory(
        session,
        operations=OPERATIONS,
        dry_run=False,
        settings=ClientSettings(endpoint_url=sandbox.endpoint_url),
    )


def _assume_calls(sandbox: Sandbox) -> int:
    return _assume_calls_in(sandbox.calls)


def _assume_calls_in(calls: list[dict[str, Any]]) -> int:
    return sum(1 for call in calls if call["operation"] == "AssumeRole")


@pytest.fixture
def short_sessions() -> Iterator[Sandbox]:
    with _sandbox(session_lifetime=1.0) as sandbox:
        yield sandbox
        assert sandbox.internal_errors == []


def test_a_role_used_after_its_session_ended_is_renewed(short_sessions: Sandbox) -> None:
    sandbox = short_sessions
    role = assume_role(_base(sandbox), ADMIN_ROLE, region=REGION)
    assumed_by = time.monotonic()
    assert caller_account(role, REGION) == ADMIN
    assert _assume_calls(sandbox) == 1
    # The session began before assume_role returned and lasts 1 s: it is over after this.
    time.sleep(max(0.0, assumed_by + 1.2 - time.monotonic()))
    assert caller_account(role, REGION) == ADMIN
    assert _assume_calls(sandbox) == 2
    assert not [c for c in sandbox.calls if c["error"] in EXPIRED]


def test_a_chained_role_renews_the_role_it_was_assumed_with(short_sessions: Sandbox) -> None:
    sandbox = short_sessions
    administrator = assume_role(_base(sandbox), ADMIN_ROLE, region=REGION)
    member_account = onboarding_world(2)[1][0]
    member = assume_role(
        administrator,
        f"arn:aws:iam::{member_account}:role/OrganizationAccountAccessRole",
        region=REGION,
    )
    assumed_by = time.monotonic()
    assert caller_account(member, REGION) == member_account
    time.sleep(max(0.0, assumed_by + 1.2 - time.monotonic()))
    # Both sessions are over: the member's renewal first renews the administrator's.
    assert caller_account(member, REGION) == member_account
    assert _assume_calls(sandbox) == 4
    assert not [c for c in sandbox.calls if c["error"] in EXPIRED]


def test_a_renewal_refused_after_the_end_is_the_sts_error(short_sessions: Sandbox) -> None:
    sandbox = short_sessions
    member_account = onboarding_world(2)[1][0]
    role = assume_role(
        _base(sandbox),
        f"arn:aws:iam::{member_account}:role/OrganizationAccountAccessRole",
        region=REGION,
    )
    assumed_by = time.monotonic()
    sandbox.state.account(member_account).roles = ("SomebodyElsesRole",)
    time.sleep(max(0.0, assumed_by + 1.2 - time.monotonic()))
    with pytest.raises(PermanentAwsError) as excinfo:
        caller_account(role, REGION)
    assert (excinfo.value.code, excinfo.value.operation) == ("AccessDenied", "AssumeRole")


def test_listing_the_organization_outlasts_the_readers_session() -> None:
    # Pages of 20 accounts, each answer 0.4 s late: the listing takes longer than the
    # organization reader's 1-second session, and the last pages need renewed keys.
    state = world(org_accounts=70)
    options = SandboxOptions(rate=0, latency_ms=400, session_lifetime=1.0)
    with Sandbox(SandboxState.from_dict(state), options, port=0) as sandbox:
        accounts = organization_accounts(
            _base(sandbox),
            partition="aws",
            ous=None,
            recursive=True,
            role_arn=f"arn:aws:iam::{MANAGEMENT}:role/OrganizationReader",
            sts_region=REGION,
        ).members
        calls = sandbox.calls
    listed = [c for c in calls if c["operation"] == "ListAccounts"]
    assert len(listed) == 4  # 72 accounts
    assert len(accounts) == 72
    assert _assume_calls_in(calls) >= 2
    assert not [c for c in calls if c["error"] in EXPIRED]


@pytest.mark.parametrize("lifetime", [None, 900.0])
def test_a_fresh_session_is_not_renewed_on_every_call(lifetime: float | None) -> None:
    # 900 s, the shortest session AWS grants, sits inside botocore's fixed 15-minute window
    # from its first second: without windows scaled to the session it would be renewed by an
    # AssumeRole before every request.
    with _sandbox(session_lifetime=lifetime) as sandbox:
        role = assume_role(_base(sandbox), ADMIN_ROLE, region=REGION)
        for _ in range(5):
            assert caller_account(role, REGION) == ADMIN
        assert _assume_calls(sandbox) == 1


def test_the_refresh_windows_are_botocores_for_an_hour_and_scale_below() -> None:
    assert refresh_windows(3600) == (ADVISORY_REFRESH_SECONDS, MANDATORY_REFRESH_SECONDS)
    assert refresh_windows(7200) == (ADVISORY_REFRESH_SECONDS, MANDATORY_REFRESH_SECONDS)
    assert refresh_windows(900) == (225, 150)
    advisory, mandatory = refresh_windows(4)
    assert 0 < mandatory < advisory < 4


def test_a_run_longer_than_the_role_sessions_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every response is late, and one request at a time: the run lasts longer than the
    # 3-second sessions of the administrator's role and of the member roles it accepts with.
    state, members = onboarding_world(2)
    data = onboarding_manifest(members)
    data["administrator"]["roleArn"] = ADMIN_ROLE
    manifest = write_yaml(tmp_path / "manifest.yaml", data)
    options = SandboxOptions(rate=0, latency_ms=120, session_lifetime=3.0)
    with Sandbox(SandboxState.from_dict(state), options, port=0) as sandbox:
        key, secret = sandbox.credentials
        monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint_url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        code = cli.main(["--manifest", str(manifest), "--max-concurrency", "1", "--no-progress"])
        out, err = capsys.readouterr()
        calls = sandbox.calls
        assert sandbox.internal_errors == []
    assert code == 0, f"{out}\n{err}"
    # The premise, by count rather than by clock: every answer is 0.12 s late and one request
    # is in flight at a time, so the run lasts longer than a 3-second session.
    assert len(calls) * 0.12 > 3.0
    assumed = [c for c in calls if c["operation"] == "AssumeRole"]
    # The administrator's role, and one role per member account, at least once each; more
    # than that is a renewal.
    assert len(assumed) > 1 + len(members)
    assert not [c for c in calls if c["error"] in EXPIRED]
