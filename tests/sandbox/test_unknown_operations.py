"""Requests the sandbox does not serve: a clear 501 naming what was asked, logged like any other.

The peer scripts call services the sandbox does not serve (IAM, S3, Config) and read any 400 as
"it already exists" (``if HTTPStatusCode == 400: pass # SLR already exists``), so a 400 there
made them carry on as if AWS had answered about the account. These requests go through real
boto3 clients, with botocore's retries on, so the error is what botocore parses from the wire
and a retried answer would show up as more than one request in the calls log.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from reconciler_sandbox import Sandbox
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    Assume,
    ClientFactory,
    error_of,
)

RETRIES = Config(retries={"mode": "standard", "max_attempts": 3})


def _only_call(sandbox: Sandbox) -> dict[str, Any]:
    calls = sandbox.calls
    assert len(calls) == 1, calls  # not retried: one request, one record
    return calls[0]


@pytest.mark.parametrize(
    ("service", "region", "call", "operation", "code"),
    [
        # query protocol (XML errors)
        (
            "iam",
            "us-east-1",
            lambda c: c.create_service_linked_role(AWSServiceName="config.amazonaws.com"),
            "CreateServiceLinkedRole",
            "InvalidAction",
        ),
        # rest-xml: the operation is found by the route of S3's own model
        (
            "s3",
            "eu-west-1",
            lambda c: c.list_objects(Bucket="config-bucket-111111111111", MaxKeys=1),
            "ListObjects",
            "UnknownOperationException",
        ),
        # JSON 1.1 (X-Amz-Target)
        (
            "config",
            "eu-west-1",
            lambda c: c.describe_configuration_recorders(),
            "DescribeConfigurationRecorders",
            "UnknownOperationException",
        ),
        # rest-json
        (
            "inspector2",
            "eu-west-1",
            lambda c: c.list_members(),
            "ListMembers",
            "UnknownOperationException",
        ),
    ],
)
def test_a_service_the_sandbox_does_not_serve_is_named_in_a_501(
    sandbox: Sandbox,
    client: ClientFactory,
    service: str,
    region: str,
    call: Any,
    operation: str,
    code: str,
) -> None:
    with pytest.raises(ClientError) as excinfo:
        call(client(service, region=region, config=RETRIES))
    got_code, status, message = error_of(excinfo)
    assert (got_code, status) == (code, 501)
    assert f"does not serve {service} {operation}" in message
    assert "guardduty" in message  # and says what it does serve
    record = _only_call(sandbox)
    assert {k: record[k] for k in ("service", "operation", "region", "account", "status")} == {
        "service": service,
        "operation": operation,
        "region": region,
        "account": ADMIN,
        "status": 501,
    }
    assert record["error"] == code
    assert record["mutating"] is not operation.startswith(("List", "Get", "Describe"))


def test_the_calling_account_is_logged_for_an_assumed_role(
    sandbox: Sandbox, client: ClientFactory, assume: Assume
) -> None:
    keys = assume(EXTERNAL)
    sandbox.clear_calls()
    with pytest.raises(ClientError) as excinfo:
        client("iam", region="us-east-1", credentials=keys).create_service_linked_role(
            AWSServiceName="securityhub.amazonaws.com"
        )
    assert error_of(excinfo)[1] == 501
    assert _only_call(sandbox)["account"] == EXTERNAL


def test_an_unimplemented_operation_is_a_501_before_any_validation(
    sandbox: Sandbox, client: ClientFactory
) -> None:
    # MaxResults is over the model's maximum (50), which botocore does not check and the
    # sandbox would refuse with GuardDuty's 400 BadRequestException: the operation is not
    # served at all, and that is what the answer says.
    with pytest.raises(ClientError) as excinfo:
        client("guardduty", config=RETRIES).list_filters(DetectorId="d" * 32, MaxResults=5000)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("NotImplementedException", 501)
    assert "guardduty ListFilters" in message
    record = _only_call(sandbox)
    assert (record["service"], record["operation"], record["account"]) == (
        "guardduty",
        "ListFilters",
        ADMIN,
    )


def test_an_unknown_signing_name_without_a_model_is_still_logged(sandbox: Sandbox) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIASANDBOX000000001/20260101/eu-west-1/"
        "nosuchservice/aws4_request, SignedHeaders=host, Signature=00"
    )
    connection.request(
        "POST",
        "/",
        body=b"{}",
        headers={"Authorization": auth, "X-Amz-Target": "NoSuch_2020.DoThing"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 501
    assert response.getheader("x-amzn-ErrorType") == "UnknownOperationException"
    record = _only_call(sandbox)
    assert (record["service"], record["operation"], record["region"], record["account"]) == (
        "nosuchservice",
        "DoThing",
        "eu-west-1",
        ADMIN,
    )


@pytest.mark.parametrize(
    ("service", "headers", "body", "code", "operation"),
    [
        (
            "sts",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=NoSuchAction&Version=2011-06-15",
            "InvalidAction",
            "NoSuchAction",
        ),
        (
            "organizations",
            {
                "X-Amz-Target": "AWSOrganizationsV20161128.NoSuchOperation",
                "Content-Type": "application/x-amz-json-1.1",
            },
            b"{}",
            "UnknownOperationException",
            "NoSuchOperation",
        ),
        ("guardduty", {}, b"", "UnknownOperationException", None),
    ],
)
def test_an_operation_a_served_service_does_not_have_is_a_501_too(
    sandbox: Sandbox,
    service: str,
    headers: dict[str, str],
    body: bytes,
    code: str,
    operation: str | None,
) -> None:
    # A client whose botocore is newer than the sandbox's knows operations the sandbox's model
    # lacks: that is the sandbox's limit, not AWS's 400 about the request.
    import http.client

    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIASANDBOX000000001/20260101/us-east-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=00"
    )
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    connection.request(
        "POST", "/no/such/route", body=body, headers={"Authorization": auth, **headers}
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    assert response.status == 501
    assert code.encode() in payload or response.getheader("x-amzn-ErrorType") == code
    record = _only_call(sandbox)
    assert (record["service"], record["operation"], record["region"], record["account"]) == (
        service,
        operation,
        "us-east-1",
        ADMIN,
    )
    assert record["error"] == code
