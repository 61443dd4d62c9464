"""The sandbox's kill switch, :meth:`Sandbox.hold_after`, which the crash suite relies on.

After the k-th applied mutating request the sandbox holds everything: the k-th request's own
answer, any request arriving later (reads included); released, the held requests are dropped
without effect, without an answer and without a calls-log record. Requests of services the
hold does not count (STS here) pass before it trips and do not move the count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from tests.cli.conftest import ADMIN
from tests.reliability.harness import MEMBER_SERVICES, onboarding_world

REGION = "us-east-1"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state, _ = onboarding_world(5)
    with Sandbox(SandboxState.from_dict(state), SandboxOptions(rate=0), port=0) as running:
        yield running


def client(sandbox: Sandbox, service: str) -> Any:
    key, secret = sandbox.credentials
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_holds_after_the_kth_mutating_call_and_drops_what_was_held(sandbox: Sandbox) -> None:
    _, members = onboarding_world(5)
    hub = client(sandbox, "securityhub")
    sts = client(sandbox, "sts")
    hold = sandbox.hold_after(2, services=MEMBER_SERVICES)

    sts.assume_role(RoleArn=f"arn:aws:iam::{members[0]}:role/R", RoleSessionName="test")
    hub.create_members(AccountDetails=[{"AccountId": members[0]}])  # mutating call 1
    assert not hold.tripped.is_set()
    hub.describe_hub()  # a read: not counted
    second, second_outcome = in_thread(
        lambda: hub.create_members(AccountDetails=[{"AccountId": members[1]}])
    )
    assert hold.tripped.wait(10)
    third, third_outcome = in_thread(
        lambda: client(sandbox, "securityhub").create_members(
            AccountDetails=[{"AccountId": members[2]}]
        )
    )
    read, read_outcome = in_thread(lambda: client(sandbox, "securityhub").describe_hub())
    # Held: neither the second call's answer nor anything after it comes back.
    deadline = time.monotonic() + 30
    while hold.held < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hold.held == 3
    for thread in (second, third, read):
        assert thread.is_alive()

    sandbox.clear_hold()
    for thread in (second, third, read):
        thread.join(10)
        assert not thread.is_alive()
    for outcome in (second_outcome, third_outcome, read_outcome):
        [error] = outcome
        assert isinstance(
            error,
            botocore.exceptions.ConnectionClosedError | botocore.exceptions.EndpointConnectionError,
        ), error

    # Exactly two took effect; the third never did and left no record.
    recorded = {m["accountId"] for m in sandbox.state.members(ADMIN, REGION, "securityhub")}
    assert recorded == {members[0], members[1]}
    assert hold.applied == 2
    assert hold.dropped == 3
    mutating = [c for c in sandbox.calls if c["mutating"] and c["service"] == "securityhub"]
    assert [c["accounts"] for c in mutating] == [1, 1]
    assert sum(1 for c in sandbox.calls if c["operation"] == "DescribeHub") == 1

    # Cleared, the sandbox answers again.
    assert hub.describe_hub()["HubArn"]


def test_a_hold_needs_a_positive_count(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sandbox.hold_after(0)
