"""The hooks every client carries: the dry-run guard, the declared-operations check, pacing.

Aspects under test:
- with dry-run on, a mutating call is refused by the client layer itself, even when a
  Stubber has a response ready (the guard runs first), and no response is consumed;
- read calls still work in dry-run;
- an operation no adapter declared is refused;
- every operation the adapters call is declared, with an IAM action of the right service;
- botocore's retry really retries a 429 and a 500 over HTTP, and the counters see it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.stub import Stubber

from reconciler.aws.base import MemberAdapter
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import ClientFactory, ClientSettings
from reconciler.errors import DryRunViolation, UndeclaredOperation
from reconciler.model import DesiredMember
from reconciler.services.securityhub import SPEC as SECURITYHUB
from tests.adapters.conftest import REGION, make_factory
from tests.factories import ADMIN, account


def test_dry_run_refuses_mutating_calls_before_any_stubbed_response() -> None:
    factory = make_factory(dry_run=True)
    adapter = MemberAdapter(SECURITYHUB, factory, REGION, account_id=ADMIN)
    with Stubber(factory.client("securityhub", REGION)) as stubber:
        stubber.add_response("create_members", {}, {"AccountDetails": [{"AccountId": account(1)}]})
        with pytest.raises(DryRunViolation, match="CreateMembers"):
            adapter.create_members([DesiredMember(account(1))])
        # The canned response is still there: the request never reached the transport.
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()


def test_dry_run_allows_reads() -> None:
    factory = make_factory(dry_run=True)
    adapter = MemberAdapter(SECURITYHUB, factory, REGION, account_id=ADMIN)
    with Stubber(factory.client("securityhub", REGION)) as stubber:
        stubber.add_response("describe_hub", {"HubArn": "arn:aws:securityhub:::hub/default"}, {})
        stubber.add_response(
            "list_members", {"Members": []}, {"OnlyAssociated": False, "MaxResults": 50}
        )
        assert adapter.observe().ready is True


def test_undeclared_operations_are_refused() -> None:
    client = make_factory().client("guardduty", REGION)
    with Stubber(client) as stubber:
        stubber.add_response("delete_detector", {}, {"DetectorId": "d"})
        with pytest.raises(UndeclaredOperation, match="DeleteDetector"):
            client.delete_detector(DetectorId="d")


def test_every_declared_operation_exists_in_the_service_model() -> None:
    session = boto3.Session(region_name=REGION)
    declared = OPERATIONS.all()
    assert {spec.service for spec in declared} >= {"guardduty", "securityhub", "sts"}
    for spec in declared:
        model = session._session.get_service_model(spec.service)  # type: ignore[attr-defined]
        assert spec.name in model.operation_names, spec
        assert spec.iam_action == f"{spec.service}:{spec.name}"
    mutating = {spec.name for spec in declared if spec.mutating}
    assert {"CreateMembers", "InviteMembers"} <= mutating
    assert not any(name.startswith(("List", "Get", "Describe")) for name in mutating)


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a script of (status, headers, body) then records the request path."""

    script: list[tuple[int, dict[str, str], bytes]] = []
    seen: list[str] = []

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def _answer(self) -> None:
        type(self).seen.append(self.path)
        status, headers, body = type(self).script.pop(0)
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def scripted_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_throttling_and_5xx_are_retried_then_succeed(scripted_server: str) -> None:
    throttle = (
        429,
        {"x-amzn-ErrorType": "LimitExceededException", "Content-Type": "application/json"},
        json.dumps({"Code": "LimitExceededException", "Message": "Rate exceeded"}).encode(),
    )
    internal = (
        500,
        {"x-amzn-ErrorType": "InternalException", "Content-Type": "application/json"},
        json.dumps({"Code": "InternalException", "Message": "oops"}).encode(),
    )
    ok = (200, {"Content-Type": "application/json"}, json.dumps({"Members": []}).encode())
    _Scripted.script = [throttle, internal, ok]
    _Scripted.seen = []
    factory = ClientFactory(
        boto3.Session(region_name=REGION),
        operations=OPERATIONS,
        dry_run=False,
        settings=ClientSettings(endpoint_url=scripted_server, max_attempts=5),
    )
    client = factory.client("securityhub", REGION)
    assert client.list_members(OnlyAssociated=False)["Members"] == []
    assert len(_Scripted.seen) == 3
    snapshot = factory.stats.snapshot()
    assert snapshot["calls"] == {"securityhub.ListMembers": 1}
    assert snapshot["retries"] == 2
