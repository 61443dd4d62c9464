"""Fixtures of the sandbox suite: a running sandbox on 127.0.0.1 and boto3 clients for it.

Every client is a real boto3 client over HTTP with the sandbox's fake credentials and retries
off (so each call is exactly one request, and a test sees each error itself); the top-level
conftest has already removed profiles, config files and real credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState

REPO = Path(__file__).resolve().parents[2]
QUICKSTART_STATE = REPO / "manifests" / "sandbox-state.yaml"

ADMIN = "111111111111"
MANAGEMENT = "999999999999"
EXTERNAL = "888888888888"
ORG_MEMBERS = ["222222222222", "333333333333", "444444444444", "555555555555", "666666666666"]

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

ClientFactory = Callable[..., Any]
Assume = Callable[..., tuple[str, str, str]]


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    # One session: its loader caches the service models, making clients cheap to create.
    return boto3.session.Session()


def quickstart_state() -> SandboxState:
    return SandboxState.load(QUICKSTART_STATE)


def start_sandbox(state: SandboxState, **options: Any) -> Sandbox:
    options.setdefault("rate", 0)  # most tests are not about throttling
    return Sandbox(state, SandboxOptions(**options), host="127.0.0.1", port=0).start()


@pytest.fixture
def state() -> SandboxState:
    return quickstart_state()


@pytest.fixture
def sandbox(state: SandboxState) -> Iterator[Sandbox]:
    sb = start_sandbox(state)
    try:
        yield sb
    finally:
        sb.stop()
    assert sb.internal_errors == []


def make_client_factory(
    boto_session: boto3.session.Session, sb: Sandbox, config: Config = NO_RETRIES
) -> ClientFactory:
    def client(
        service: str,
        region: str = "eu-west-1",
        credentials: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> Any:
        key, secret, *token = credentials or sb.credentials
        return boto_session.client(
            service,
            endpoint_url=sb.endpoint_url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token[0] if token else None,
            config=kwargs.pop("config", config),
            **kwargs,
        )

    return client


@pytest.fixture
def client(boto_session: boto3.session.Session, sandbox: Sandbox) -> ClientFactory:
    """``client("guardduty", region="eu-west-1", credentials=None)``: a client as the admin."""
    return make_client_factory(boto_session, sandbox)


@pytest.fixture
def assume(client: ClientFactory) -> Callable[[str], tuple[str, str, str]]:
    """``assume(account_id)``: credentials of a role in that account, via STS AssumeRole."""

    def assume_into(
        account_id: str, role: str = "OrganizationAccountAccessRole"
    ) -> tuple[str, str, str]:
        sts = client("sts", region="us-east-1")
        found = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName="tests"
        )["Credentials"]
        return found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]

    return assume_into


def detector(client: ClientFactory, region: str = "eu-west-1", **kwargs: Any) -> str:
    ids: list[str] = client("guardduty", region=region, **kwargs).list_detectors()["DetectorIds"]
    assert len(ids) == 1
    return ids[0]


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a ClientError."""
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )
