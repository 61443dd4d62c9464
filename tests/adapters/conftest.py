"""Adapters on real botocore clients with ``botocore.stub.Stubber``.

Every request an adapter makes is serialised and validated by botocore against AWS's own
service model before the Stubber answers it, and every canned response is checked against
the model's output shape, so these tests catch a wrong parameter name, type or casing.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from reconciler.aws.base import MemberAdapter
from reconciler.aws.registry import OPERATIONS
from reconciler.aws.session import ClientFactory
from reconciler.services.guardduty import SPEC as GUARDDUTY
from reconciler.services.securityhub import SPEC as SECURITYHUB
from tests.factories import ADMIN

REGION = "us-east-1"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"


def make_factory(*, dry_run: bool = False) -> ClientFactory:
    return ClientFactory(boto3.Session(region_name=REGION), operations=OPERATIONS, dry_run=dry_run)


@pytest.fixture
def factory() -> ClientFactory:
    return make_factory()


@pytest.fixture
def guardduty(factory: ClientFactory) -> Iterator[tuple[MemberAdapter, Stubber]]:
    adapter = MemberAdapter(GUARDDUTY, factory, REGION, account_id=ADMIN)
    with Stubber(factory.client("guardduty", REGION)) as stubber:
        yield adapter, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def securityhub(factory: ClientFactory) -> Iterator[tuple[MemberAdapter, Stubber]]:
    adapter = MemberAdapter(SECURITYHUB, factory, REGION, account_id=ADMIN)
    with Stubber(factory.client("securityhub", REGION)) as stubber:
        yield adapter, stubber
        stubber.assert_no_pending_responses()


def stub_detector(stubber: Stubber, status: str = "ENABLED") -> None:
    stubber.add_response("list_detectors", {"DetectorIds": [DETECTOR]}, {"MaxResults": 50})
    stubber.add_response(
        "get_detector",
        {"ServiceRole": "arn:aws:iam::111111111111:role/gd", "Status": status},
        {"DetectorId": DETECTOR},
    )


def gd_member(account_id: str, status: str, email: str | None = None) -> dict[str, str]:
    return {
        "AccountId": account_id,
        "DetectorId": DETECTOR,
        "MasterId": ADMIN,
        "Email": email or f"aws+{account_id}@example.com",
        "RelationshipStatus": status,
        "UpdatedAt": "2026-11-22T00:00:00.000Z",
    }
