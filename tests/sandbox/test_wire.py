"""The generic codec against botocore's own serializers and parsers, and raw HTTP edge cases."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from reconciler_sandbox import Sandbox
from reconciler_sandbox.wire import (
    Issue,
    JsonProtocol,
    Protocol,
    QueryProtocol,
    RawRequest,
    RestJsonProtocol,
    protocol_for,
    split_target,
    validate,
)
from tests.sandbox.conftest import ClientFactory, error_of

SESSION = botocore.session.get_session()
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIASANDBOX000000001/20240101/{region}/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)


def _dummy(shape: Shape, depth: int = 0) -> Any:
    """A minimal valid value: required members only, lengths at their minimum."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        structure = cast(StructureShape, shape)
        if depth > 3:
            return {}
        return {name: _dummy(structure.members[name], depth + 1) for name in shape.required_members}
    if kind == "list":
        return [_dummy(cast(ListShape, shape).member, depth + 1)] * max(1, meta.get("min", 1))
    if kind == "map":
        return {"k": _dummy(cast(MapShape, shape).value, depth + 1)}
    if kind == "string":
        if meta.get("enum"):
            return meta["enum"][0]
        return "a" * max(1, meta.get("min", 1))
    if kind in ("integer", "long"):
        return max(1, meta.get("min", 1))
    if kind == "boolean":
        return True
    if kind in ("float", "double"):
        return 1.5
    if kind == "timestamp":
        return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    if kind == "blob":
        return b"blob"
    return "x"


def _without_empty(value: Any) -> Any:
    # The query protocol cannot say "an empty structure": it sends nothing for one.
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v != {}}
    return value


def _raw_request(service: str, op: OperationModel, params: dict[str, Any]) -> RawRequest:
    model = SESSION.get_service_model(service)
    serialized = create_serializer(model.protocol, include_validation=False).serialize_to_request(
        params, op
    )
    path, query = split_target(serialized["url_path"])
    merged = {k: list(v) for k, v in query.items()}
    query_string = serialized["query_string"]
    if isinstance(query_string, dict):
        for key, value in query_string.items():
            merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    body = serialized["body"]
    if isinstance(body, dict):  # the query protocol hands back a form dict
        body = urlencode(body)
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): str(v) for k, v in serialized["headers"].items()}
    return RawRequest(serialized["method"], path, merged, headers, body or b"")


@pytest.mark.parametrize("service", ["guardduty", "securityhub", "organizations", "sts"])
def test_every_operation_routes_and_round_trips(service: str) -> None:
    model = SESSION.get_service_model(service)
    protocol = protocol_for(model)
    for name in model.operation_names:
        op = model.operation_model(name)
        params = _dummy(op.input_shape) if op.input_shape is not None else {}
        request = _raw_request(service, op, params)
        resolved, routed = protocol.resolve(request)
        assert resolved.name == name, f"{request.method} {request.path} routed to {resolved.name}"
        decoded = protocol.decode(resolved, request, routed)
        assert _without_empty(decoded) == _without_empty(params), name


def test_protocols_match_the_model() -> None:
    assert isinstance(protocol_for(SESSION.get_service_model("guardduty")), RestJsonProtocol)
    assert isinstance(protocol_for(SESSION.get_service_model("securityhub")), RestJsonProtocol)
    assert isinstance(protocol_for(SESSION.get_service_model("organizations")), JsonProtocol)
    assert isinstance(protocol_for(SESSION.get_service_model("sts")), QueryProtocol)


def _parse(service: str, protocol: Protocol, op_name: str, result: dict[str, Any]) -> Any:
    model = SESSION.get_service_model(service)
    op = model.operation_model(op_name)
    response = protocol.encode(op, result, "req-1")
    parsed = create_parser(model.protocol).parse(
        {"status_code": response.status, "headers": dict(response.headers), "body": response.body},
        op.output_shape,
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def test_outputs_parse_back_with_botocore() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    gd = protocol_for(SESSION.get_service_model("guardduty"))
    member = {
        "AccountId": "222222222222",
        "MasterId": "111111111111",
        "Email": "a@example.com",
        "RelationshipStatus": "Enabled",
        "InvitedAt": moment,
        "UpdatedAt": moment,
    }
    parsed = _parse("guardduty", gd, "ListMembers", {"Members": [member], "NextToken": "t"})
    # GuardDuty: camelCase on the wire, timestamps as plain strings.
    assert parsed["Members"][0]["InvitedAt"] == "2024-05-01T12:00:00.123Z"
    assert parsed["Members"][0]["RelationshipStatus"] == "Enabled"
    assert parsed["NextToken"] == "t"

    sh = protocol_for(SESSION.get_service_model("securityhub"))
    parsed = _parse(
        "securityhub",
        sh,
        "ListMembers",
        {"Members": [{"AccountId": "2", "MemberStatus": "Enabled", "UpdatedAt": moment}]},
    )
    assert parsed["Members"][0]["UpdatedAt"] == moment

    sts = protocol_for(SESSION.get_service_model("sts"))
    parsed = _parse(
        "sts",
        sts,
        "AssumeRole",
        {
            "Credentials": {
                "AccessKeyId": "ASIAX",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": moment,
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROA:x", "Arn": "arn:aws:sts::1:x"},
        },
    )
    assert parsed["Credentials"]["Expiration"] == moment
    assert parsed["AssumedRoleUser"]["Arn"] == "arn:aws:sts::1:x"

    org = protocol_for(SESSION.get_service_model("organizations"))
    parsed = _parse(
        "organizations",
        org,
        "ListAccounts",
        {"Accounts": [{"Id": "222222222222", "JoinedTimestamp": moment}]},
    )
    assert parsed["Accounts"][0]["JoinedTimestamp"] == moment


def test_issue_messages() -> None:
    model = SESSION.get_service_model("guardduty")
    shape = model.operation_model("CreateMembers").input_shape
    assert shape is not None
    issues = validate(
        shape,
        {
            "DetectorId": "d",
            "AccountDetails": [{"AccountId": "1" * 13, "Email": "e@x.io"}] * 51,
        },
    )
    kinds = {(i.kind, i.path) for i in issues}
    assert ("max_length", "accountDetails") in kinds
    assert ("max_length", "accountDetails[0].accountId") in kinds
    first = next(i for i in issues if i.path == "accountDetails")
    assert first.field == "accountDetails"
    assert first.describe() == (
        "Value [51 items] at 'accountDetails' failed to satisfy constraint: "
        "Member must have length less than or equal to 50"
    )
    assert Issue("required", "roleArn").describe() == (
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
    )


def _raw(sandbox: Sandbox, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response, payload


def test_unsigned_and_unknown_requests(sandbox: Sandbox) -> None:
    response, body = _raw(sandbox, "GET", "/detector")
    assert response.status == 403
    assert response.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert response.getheader("x-amzn-RequestId")
    assert int(response.getheader("Content-Length")) == len(body)

    guardduty = AUTH.format(region="eu-west-1", service="guardduty")
    response, body = _raw(sandbox, "GET", "/no/such/thing", Authorization=guardduty)
    assert response.status == 501
    assert response.getheader("x-amzn-ErrorType") == "UnknownOperationException"

    response, body = _raw(
        sandbox,
        "POST",
        "/detector",
        body=b"{not json",
        Authorization=guardduty,
    )
    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "BadRequestException"
    assert json.loads(body)["type"] == "InvalidInputException"

    # A service the sandbox does not serve: 501, never a 400 (test_unknown_operations.py).
    other = AUTH.format(region="eu-west-1", service="s3")
    response, body = _raw(sandbox, "GET", "/", Authorization=other)
    assert response.status == 501


def test_keep_alive_serves_many_requests_on_one_connection(sandbox: Sandbox) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    guardduty = AUTH.format(region="eu-west-1", service="guardduty")
    try:
        for _ in range(3):
            connection.request("GET", "/detector", headers={"Authorization": guardduty})
            response = connection.getresponse()
            payload = json.loads(response.read())
            assert response.status == 200
            assert response.version == 11
            assert len(payload["detectorIds"]) == 1  # camelCase on GuardDuty's wire
            assert response.getheader("Connection") != "close"
    finally:
        connection.close()
    assert len(sandbox.calls) == 3


def test_unimplemented_operations_say_so(client: ClientFactory) -> None:
    gd = client("guardduty")
    with pytest.raises(ClientError) as excinfo:
        gd.list_filters(DetectorId="d" * 32)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("NotImplementedException", 501)
    assert "ListFilters" in message
