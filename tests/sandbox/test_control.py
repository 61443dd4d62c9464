"""Throttling, injected faults, opt-in regions and the calls log."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from reconciler_sandbox.control import FaultInjector, Throttle, TokenBucket
from tests.sandbox.conftest import (
    ADMIN,
    ClientFactory,
    detector,
    error_of,
    make_client_factory,
    quickstart_state,
    start_sandbox,
)

CALL_KEYS = {
    "ts",
    "service",
    "operation",
    "region",
    "account",
    "status",
    "error",
    "mutating",
    "accounts",
    "fault",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _running(boto_session: boto3.session.Session, **options: Any) -> tuple[Sandbox, ClientFactory]:
    sb = start_sandbox(quickstart_state(), **options)
    return sb, make_client_factory(boto_session, sb)


def _wait_for_calls(sb: Sandbox, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(sb.calls) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def _outcomes(call: Any, times: int) -> list[str]:
    out = []
    for _ in range(times):
        try:
            call()
            out.append("ok")
        except ClientError as exc:
            out.append(exc.response["Error"]["Code"])
    return out


def test_token_bucket_is_exact() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 100  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_throttle_is_exact_under_concurrency() -> None:
    throttle = Throttle(rate=1.0, burst=100, clock=FakeClock())
    granted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [throttle.allow(("a", "r", "s")) for _ in range(50)]
        with lock:
            granted.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 100
    assert granted.count(False) == 300
    assert throttle.allow(("other", "r", "s"))  # one bucket per key


def test_fault_stream_depends_only_on_the_seed() -> None:
    def stream(seed: int) -> list[tuple[bool, bool, bool]]:
        injector = FaultInjector(0.3, 0.2, 0.1, seed)
        return [(d.fault, d.slow, d.drop) for d in (injector.draw() for _ in range(200))]

    assert stream(5) == stream(5)
    assert stream(5) != stream(6)


def test_throttling_answers_429_and_is_counted(boto_session: boto3.session.Session) -> None:
    # A rate so low no token comes back during the test: exactly the burst gets through.
    sb, client = _running(boto_session, rate=0.001, burst=3)
    try:
        gd = client("guardduty")
        assert _outcomes(gd.list_detectors, 5) == ["ok"] * 3 + ["TooManyRequestsException"] * 2
        with pytest.raises(ClientError) as excinfo:
            gd.list_detectors()
        assert error_of(excinfo)[:2] == ("TooManyRequestsException", 429)
        sh = client("securityhub")
        assert _outcomes(sh.describe_hub, 4) == ["ok"] * 3 + ["LimitExceededException"]
        # Buckets are per account, region and service; STS and Organizations are never throttled.
        assert _outcomes(client("guardduty", region="us-east-1").list_detectors, 3) == ["ok"] * 3
        assert _outcomes(client("sts").get_caller_identity, 10) == ["ok"] * 10
        throttled = [c for c in sb.calls if c["fault"] == "throttle"]
        assert len(throttled) == 4
        assert {c["status"] for c in throttled} == {429}
        assert {(c["service"], c["error"]) for c in throttled} == {
            ("guardduty", "TooManyRequestsException"),
            ("securityhub", "LimitExceededException"),
        }
    finally:
        sb.stop()


def test_default_rate_is_aws_10_per_second_burst_30() -> None:
    assert SandboxOptions().bucket() == (10.0, 30)
    assert SandboxOptions(rate=2).bucket() == (2, 6)
    assert SandboxOptions(rate=5, burst=1).bucket() == (5, 1)
    assert SandboxOptions(rate=0).bucket() is None
    with pytest.raises(ValueError, match="fault_rate"):
        SandboxOptions(fault_rate=1.5)


def test_fault_rate_is_reproducible_for_a_seed(boto_session: boto3.session.Session) -> None:
    def run(seed: int) -> list[str]:
        sb, client = _running(boto_session, fault_rate=0.4, seed=seed)
        try:
            return _outcomes(client("guardduty").list_detectors, 30)
        finally:
            sb.stop()

    first = run(11)
    assert first == run(11)
    assert set(first) == {"ok", "InternalServerErrorException"}
    assert first != run(12)


def test_faults_answer_500_before_touching_state(boto_session: boto3.session.Session) -> None:
    sb, client = _running(boto_session, fault_rate=1.0)
    try:
        gd = client("guardduty", region="ap-south-1")
        with pytest.raises(ClientError) as excinfo:
            gd.create_detector(Enable=True)
        code, status, _ = error_of(excinfo)
        assert (code, status) == ("InternalServerErrorException", 500)
        assert excinfo.value.response["Type"] == "InternalException"
        assert sb.state.detector_status(ADMIN, "ap-south-1") is None
        with pytest.raises(ClientError) as excinfo:
            client("securityhub").describe_hub()
        assert error_of(excinfo)[:2] == ("InternalException", 500)
        # Never STS nor Organizations.
        assert client("sts").get_caller_identity()["Account"] == ADMIN
        assert client("organizations", region="us-east-1").list_roots()["Roots"]
        assert [c["fault"] for c in sb.calls] == ["500", "500", None, None]
    finally:
        sb.stop()


def test_botocore_retries_through_faults(boto_session: boto3.session.Session) -> None:
    sb = start_sandbox(quickstart_state(), fault_rate=0.5, seed=3)
    try:
        retrying = make_client_factory(
            boto_session, sb, Config(retries={"mode": "standard", "total_max_attempts": 10})
        )
        gd = retrying("guardduty")
        for _ in range(5):
            assert len(gd.list_detectors()["DetectorIds"]) == 1
        assert any(c["fault"] == "500" for c in sb.calls)
    finally:
        sb.stop()


def test_slow_responses_time_out_after_taking_effect(
    boto_session: boto3.session.Session,
) -> None:
    sb = start_sandbox(quickstart_state(), slow_rate=1.0, slow_ms=1000)
    try:
        impatient = make_client_factory(
            boto_session,
            sb,
            Config(retries={"total_max_attempts": 1}, read_timeout=0.2, connect_timeout=1),
        )
        with pytest.raises(ReadTimeoutError):
            impatient("guardduty", region="ap-south-1").create_detector(Enable=True)
        # On a loaded machine the client may give up before the server got to the request:
        # wait for its record, written once the request has taken effect.
        _wait_for_calls(sb, 1)
        assert sb.state.detector_status(ADMIN, "ap-south-1") == "ENABLED"
        assert [(c["operation"], c["status"], c["fault"]) for c in sb.calls] == [
            ("CreateDetector", 200, "slow")
        ]
    finally:
        sb.stop()


def test_dropped_connections_after_taking_effect(boto_session: boto3.session.Session) -> None:
    sb, client = _running(boto_session, drop_rate=1.0)
    try:
        with pytest.raises(ConnectionClosedError):
            client("guardduty", region="ap-south-1").create_detector(Enable=True)
        assert sb.state.detector_status(ADMIN, "ap-south-1") == "ENABLED"
        with pytest.raises(ConnectionClosedError):
            client("securityhub").list_members()
        assert [c["fault"] for c in sb.calls] == ["drop", "drop"]
        # The client's next connection works: drops do not take the server down.
        assert client("sts").get_caller_identity()["Account"] == ADMIN
    finally:
        sb.stop()


def test_latency_delays_but_answers(boto_session: boto3.session.Session) -> None:
    sb, client = _running(boto_session, latency_ms=20)
    try:
        assert client("guardduty").list_detectors()["DetectorIds"]
        assert client("sts").get_caller_identity()["Account"] == ADMIN
        assert [c["status"] for c in sb.calls] == [200, 200]
    finally:
        sb.stop()


def test_disabled_regions_reject_every_call(boto_session: boto3.session.Session) -> None:
    state = SandboxState.from_dict(
        {
            "version": 1,
            "defaultAccount": ADMIN,
            "organization": {
                "id": "o-example12345",
                "managementAccount": ADMIN,
                "rootId": "r-ab12",
            },
            "accounts": {
                ADMIN: {
                    "disabledRegions": ["ap-east-1"],
                    "regions": {"*": {"guardduty": {"detector": "ENABLED"}}},
                }
            },
        }
    )
    sb = start_sandbox(state)
    try:
        client = make_client_factory(boto_session, sb)
        for call in (
            client("guardduty", region="ap-east-1").list_detectors,
            client("securityhub", region="ap-east-1").describe_hub,
        ):
            with pytest.raises(ClientError) as excinfo:
                call()
            assert error_of(excinfo) == (
                "UnrecognizedClientException",
                403,
                "The security token included in the request is invalid.",
            )
        with pytest.raises(ClientError) as excinfo:
            client("sts", region="ap-east-1").get_caller_identity()
        assert error_of(excinfo)[:2] == ("InvalidClientTokenId", 403)
        # Organizations is global; other regions are fine.
        assert client("organizations", region="ap-east-1").list_roots()["Roots"]
        assert client("guardduty", region="ap-southeast-1").list_detectors()["DetectorIds"]
    finally:
        sb.stop()
    assert sb.internal_errors == []


def test_calls_log_file_is_written_while_serving(
    boto_session: boto3.session.Session, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    sb, client = _running(boto_session, calls_log=str(log))
    try:
        gd = client("guardduty")
        detector_id = detector(client)
        gd.create_members(
            DetectorId=detector_id,
            AccountDetails=[
                {"AccountId": "222222222222", "Email": "a@example.com"},
                {"AccountId": "333333333333", "Email": "b@example.com"},
            ],
        )
        with pytest.raises(ClientError):
            gd.get_detector(DetectorId="0" * 32)
        lines = log.read_text().splitlines()  # read while the server still runs
        records = [json.loads(line) for line in lines]
        assert records == sb.calls
        assert all(set(r) == CALL_KEYS for r in records)
        assert [(r["operation"], r["mutating"], r["accounts"]) for r in records] == [
            ("ListDetectors", False, None),
            ("CreateMembers", True, 2),
            ("GetDetector", False, None),
        ]
        last = records[-1]
        assert (last["service"], last["region"], last["account"]) == (
            "guardduty",
            "eu-west-1",
            ADMIN,
        )
        assert (last["status"], last["error"], last["fault"]) == (400, "BadRequestException", None)
        assert isinstance(last["ts"], float)
        sb.clear_calls()
        assert sb.calls == []
    finally:
        sb.stop()
    assert len(log.read_text().splitlines()) == 3
