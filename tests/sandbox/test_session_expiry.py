"""AssumeRole sessions end, as AWS's do, and keys of an ended session are refused.

The sandbox's ``session_lifetime`` option (``--session-lifetime``) shortens every session to a
few seconds so that a test can outlive one; without it a session lasts the ``DurationSeconds``
asked for. Waiting is done against the ``Expiration`` the sandbox itself answered (one clock
for both), so no assertion depends on how fast anything ran.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from reconciler_sandbox import Sandbox, SandboxOptions
from reconciler_sandbox.cli import build_parser
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    QUICKSTART_STATE,
    ClientFactory,
    error_of,
    make_client_factory,
    quickstart_state,
    start_sandbox,
)
from tests.sandbox.test_cli import STARTED, _spawn

ROLE = f"arn:aws:iam::{EXTERNAL}:role/OrganizationAccountAccessRole"


@pytest.fixture
def short(boto_session: boto3.session.Session) -> Iterator[tuple[Sandbox, ClientFactory]]:
    sandbox = start_sandbox(quickstart_state(), session_lifetime=1.0)
    try:
        yield sandbox, make_client_factory(boto_session, sandbox)
    finally:
        sandbox.stop()
    assert sandbox.internal_errors == []


def _assume(client: ClientFactory, **kwargs: Any) -> dict[str, Any]:
    reply: dict[str, Any] = client("sts", region="us-east-1").assume_role(
        RoleArn=ROLE, RoleSessionName="expiry", **kwargs
    )
    return reply["Credentials"]


def _keys(credentials: dict[str, Any]) -> tuple[str, str, str]:
    return (
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )


def _wait_past(moment: datetime) -> None:
    while datetime.now(UTC) <= moment:
        time.sleep(0.05)


def test_a_session_ends_at_its_expiration_and_its_keys_are_refused(
    short: tuple[Sandbox, ClientFactory],
) -> None:
    sandbox, client = short
    before = datetime.now(UTC)
    credentials = _assume(client)
    after = datetime.now(UTC)
    expiration = credentials["Expiration"]
    # The lifetime caps the hour asked for, and the answer says so (the sandbox's clock is
    # this one, read between before and after, to the millisecond).
    ms = timedelta(milliseconds=1)
    assert before + timedelta(seconds=1) - ms <= expiration <= after + timedelta(seconds=1)
    keys = _keys(credentials)
    assert client("sts", credentials=keys).get_caller_identity()["Account"] == EXTERNAL

    _wait_past(expiration)
    with pytest.raises(ClientError) as excinfo:
        client("guardduty", credentials=keys).list_detectors()
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ExpiredTokenException", 403)
    assert message == "The security token included in the request is expired"
    with pytest.raises(ClientError) as excinfo:
        client("sts", credentials=keys).get_caller_identity()
    assert error_of(excinfo)[:2] == ("ExpiredToken", 403)
    with pytest.raises(ClientError) as excinfo:
        client("organizations", region="us-east-1", credentials=keys).describe_organization()
    assert error_of(excinfo)[:2] == ("ExpiredTokenException", 403)

    # Every refusal is in the calls log like any request; the base keys never expire.
    refused = [
        call for call in sandbox.calls if call["error"] in ("ExpiredToken", "ExpiredTokenException")
    ]
    assert [(c["service"], c["operation"], c["account"]) for c in refused] == [
        ("guardduty", "ListDetectors", EXTERNAL),
        ("sts", "GetCallerIdentity", EXTERNAL),
        ("organizations", "DescribeOrganization", EXTERNAL),
    ]
    assert client("sts").get_caller_identity()["Account"] == ADMIN
    # A new session works again.
    assert client("guardduty", credentials=_keys(_assume(client))).list_detectors()


def test_without_the_option_a_session_lasts_the_duration_asked_for(client: ClientFactory) -> None:
    before = datetime.now(UTC)
    expiration = _assume(client, DurationSeconds=900)["Expiration"]
    after = datetime.now(UTC)
    assert before + timedelta(seconds=899) <= expiration <= after + timedelta(seconds=901)
    assert _assume(client)["Expiration"] >= before + timedelta(seconds=3599)


def test_the_lifetime_is_checked() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="session_lifetime"):
            SandboxOptions(session_lifetime=bad)


def test_the_command_line_flag_sets_the_lifetime() -> None:
    process = _spawn("--state", str(QUICKSTART_STATE), "--port", "0", "--session-lifetime", "0.5")
    try:
        assert process.stderr is not None
        match = STARTED.match(process.stderr.readline().strip())
        assert match
        endpoint, _, key, secret = match.groups()
        sts = boto3.client(
            "sts",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        reply = sts.assume_role(RoleArn=ROLE, RoleSessionName="flag", DurationSeconds=3600)
        after = datetime.now(UTC)
        assert reply["Credentials"]["Expiration"] <= after + timedelta(seconds=0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "soon"])
def test_the_command_line_refuses_a_lifetime_that_is_not_a_positive_number(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--state", "x.yaml", "--session-lifetime", bad])
    assert exited.value.code == 2
    assert "--session-lifetime" in capsys.readouterr().err
