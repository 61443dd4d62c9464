"""The lean member-list parser gives the adapters exactly what botocore's parser gives them.

``reconciler.aws.base`` reads the member lists of ListMembers and GetMembers answers itself (a
``before-parse`` hook) because botocore's shape walk costs more CPU than the rest of the call.
These tests hold it to botocore's own parser, on the wire bodies of both services, and check
that whatever it does not understand reaches botocore untouched.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

from reconciler.aws.base import LEAN_OPERATIONS, MemberAdapter, _install_lean_member_parsing
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import ClientFactory
from reconciler.model import MemberStatus
from reconciler.services.guardduty import SPEC as GUARDDUTY
from reconciler.services.securityhub import SPEC as SECURITYHUB

STATUS_FIELD = {"guardduty": "RelationshipStatus", "securityhub": "MemberStatus"}
KEPT = ("AccountId", "Email")


def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def _wire_name(shape: Any, name: str) -> str:
    return str(shape.members[name].serialization.get("name", name))


def _wire_body(service: str, operation: str) -> dict[str, Any]:
    """An answer as the service sends it: every member field, some emails null or absent."""
    output = _model(service).operation_model(operation).output_shape
    member_shape = output.members["Members"].member
    members: list[dict[str, Any]] = []
    for index, status in enumerate(["Enabled", "Invited", "Created", "Removed", "Resigned"]):
        raw: dict[str, Any] = {}
        for name, shape in member_shape.members.items():
            if shape.type_name == "timestamp":
                raw[_wire_name(member_shape, name)] = "2024-05-01T12:00:00.000Z"
            else:
                raw[_wire_name(member_shape, name)] = f"{name}-{index}"
        raw[_wire_name(member_shape, "AccountId")] = f"{222222222220 + index}"
        raw[_wire_name(member_shape, STATUS_FIELD[service])] = status
        if index == 1:
            raw[_wire_name(member_shape, "Email")] = None
        if index == 2:
            del raw[_wire_name(member_shape, "Email")]
        members.append(raw)
    body: dict[str, Any] = {_wire_name(output, "Members"): members}
    if "NextToken" in output.members:
        body[_wire_name(output, "NextToken")] = "token-2"
    if "UnprocessedAccounts" in output.members:
        unprocessed = output.members["UnprocessedAccounts"].member
        body[_wire_name(output, "UnprocessedAccounts")] = [
            {
                _wire_name(unprocessed, name): "999999999999" if name == "AccountId" else "gone"
                for name in unprocessed.members
            }
        ]
    return body


def _parse(service: str, operation: str, body: bytes, status: int = 200, *, lean: bool) -> Any:
    """Parse as botocore's endpoint does: the before-parse hooks, then the parser."""
    model = _model(service)
    operation_model = model.operation_model(operation)
    response = {
        "status_code": status,
        "headers": {"content-type": "application/json", "x-amzn-requestid": "r"},
        "body": body,
    }
    customized: dict[str, Any] = {}
    if lean:
        client = boto3.Session(
            aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1"
        ).client(service)
        _install_lean_member_parsing(client, STATUS_FIELD[service])
        client.meta.events.emit(
            f"before-parse.{model.service_id.hyphenize()}.{operation}",
            operation_model=operation_model,
            response_dict=response,
            customized_response_dict=customized,
        )
    parsed = create_parser(model.resolved_protocol).parse(response, operation_model.output_shape)
    parsed.update(customized)
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.mark.parametrize("service", ["guardduty", "securityhub"])
@pytest.mark.parametrize("operation", LEAN_OPERATIONS)
def test_same_members_and_same_rest_as_botocore(service: str, operation: str) -> None:
    body = json.dumps(_wire_body(service, operation)).encode()
    full = _parse(service, operation, body, lean=False)
    lean = _parse(service, operation, body, lean=True)
    kept = (*KEPT, STATUS_FIELD[service])
    assert lean["Members"] == [
        {name: member[name] for name in kept if name in member} for member in full["Members"]
    ]
    assert {k: v for k, v in lean.items() if k != "Members"} == {
        k: v for k, v in full.items() if k != "Members"
    }
    assert [m.get("Email") for m in lean["Members"]][1:3] == [None, None]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"message": "The request is rejected", "__type": "BadRequestException"}', 400),
        (b"not json at all", 200),
        (b'["a", "list"]', 200),
        (b'{"members": "not a list", "Members": "not a list"}', 200),
        (b'{"members": [1, 2], "Members": [1, 2]}', 200),
        (b"", 200),
    ],
)
@pytest.mark.parametrize("service", ["guardduty", "securityhub"])
def test_anything_else_reaches_botocore_untouched(service: str, body: bytes, status: int) -> None:
    def outcome(lean: bool) -> Any:
        try:
            return _parse(service, "ListMembers", body, status, lean=lean)
        except Exception as exc:  # botocore's own verdict, whatever it is
            return type(exc)

    assert outcome(True) == outcome(False)


def _canned(service: str, bodies: list[bytes]) -> Any:
    """A before-send handler answering each HTTP attempt with the next body."""

    def send(request: Any, **_: Any) -> AWSResponse:
        body = bodies.pop(0)
        response = AWSResponse(
            request.url, 200, {"content-type": "application/json", "x-amzn-requestid": "r"}, None
        )
        response._content = body
        return response

    return send


@pytest.mark.parametrize("spec", [GUARDDUTY, SECURITYHUB])
def test_observe_through_a_real_client(spec: Any) -> None:
    service = spec.name
    factory = ClientFactory(
        boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1"),
        operations=OPERATIONS,
        dry_run=True,
    )
    adapter = MemberAdapter(spec, factory, "us-east-1", account_id="111111111111")
    # A second adapter on the same client must not parse twice.
    MemberAdapter(spec, factory, "us-east-1", account_id="111111111111")
    page = _wire_body(service, "ListMembers")
    last = {k: v for k, v in page.items() if k not in ("nextToken", "NextToken")}
    bodies = [json.dumps(page).encode(), json.dumps(last).encode()]
    if service == "guardduty":
        detector = "12abc34d567e8fa901bc2d34e56789f0"
        bodies[:0] = [
            json.dumps({"detectorIds": [detector]}).encode(),
            json.dumps(
                {"serviceRole": "arn:aws:iam::111111111111:role/gd", "status": "ENABLED"}
            ).encode(),
        ]
    else:
        bodies.insert(
            0, json.dumps({"HubArn": "arn:aws:securityhub:us-east-1:1:hub/default"}).encode()
        )
    client = factory.client(service, "us-east-1")
    client.meta.events.register_last("before-send.*.*", _canned(service, bodies))
    observation = adapter.observe()
    assert observation.ready
    assert not bodies
    assert sorted(observation.members) == [f"{222222222220 + i}" for i in range(5)]
    first = observation.members["222222222220"]
    assert (first.email, first.status) == ("Email-0", MemberStatus.ENABLED)
    assert observation.members["222222222221"].email is None
    assert observation.members["222222222222"].status is MemberStatus.CREATED
