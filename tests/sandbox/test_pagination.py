"""ListMembers pagination and OnlyAssociated, for both services, counted in the calls log."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reconciler_sandbox import Sandbox
from tests.sandbox.conftest import ADMIN, Assume, ClientFactory, detector

GD_STATUSES = [
    "Created",
    "Invited",
    "Enabled",
    "Disabled",
    "Removed",
    "Resigned",
    "EmailVerificationFailed",
]
SH_STATUSES = ["Created", "Invited", "Enabled", "Removed", "Resigned"]


def _seed(sandbox: Sandbox, service: str, count: int, statuses: list[str]) -> None:
    sandbox.state.add_members(
        ADMIN,
        "eu-west-1",
        service,
        (
            {
                "accountId": f"{700000000000 + i}",
                "email": f"m{i}@example.com",
                "status": statuses[i % len(statuses)],
            }
            for i in range(count)
        ),
    )


def _list_pages(client: ClientFactory, service: str, **params: Any) -> list[dict[str, Any]]:
    api = client(service)
    if service == "guardduty":
        params["DetectorId"] = detector(client)
    pages = list(api.get_paginator("list_members").paginate(**params))
    return pages


def _list_calls(sandbox: Sandbox, service: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.calls if c["service"] == service and c["operation"] == "ListMembers"]


@pytest.mark.parametrize("service", ["guardduty", "securityhub"])
@pytest.mark.parametrize("count", [0, 50, 51, 120])
def test_every_member_in_ceil_pages(
    client: ClientFactory, sandbox: Sandbox, service: str, count: int
) -> None:
    _seed(sandbox, service, count, ["Enabled"])
    only = "false" if service == "guardduty" else False
    pages = _list_pages(client, service, OnlyAssociated=only)
    expected_pages = max(1, math.ceil(count / 50))
    assert len(pages) == expected_pages
    assert len(_list_calls(sandbox, service)) == expected_pages
    assert all(len(page.get("Members", [])) <= 50 for page in pages)
    assert "NextToken" not in pages[-1]
    ids = [m["AccountId"] for page in pages for m in page.get("Members", [])]
    assert len(ids) == count
    assert len(set(ids)) == count


@pytest.mark.parametrize("service", ["guardduty", "securityhub"])
def test_small_pages_and_filters_never_overflow(
    client: ClientFactory, sandbox: Sandbox, service: str
) -> None:
    statuses = GD_STATUSES if service == "guardduty" else SH_STATUSES
    _seed(sandbox, service, 120, statuses)
    pages = _list_pages(client, service, PaginationConfig={"PageSize": 7})
    sizes = [len(page.get("Members", [])) for page in pages]
    assert all(size <= 7 for size in sizes)
    associated = {"Enabled", "Disabled"} if service == "guardduty" else {"Enabled"}
    expected = sum(1 for i in range(120) if statuses[i % len(statuses)] in associated)
    assert sum(sizes) == expected
    assert len(pages) == math.ceil(expected / 7)


def test_guardduty_only_associated(client: ClientFactory, sandbox: Sandbox) -> None:
    _seed(sandbox, "guardduty", len(GD_STATUSES), GD_STATUSES)
    gd = client("guardduty")
    detector_id = detector(client)
    default = gd.list_members(DetectorId=detector_id)["Members"]
    assert sorted(m["RelationshipStatus"] for m in default) == ["Disabled", "Enabled"]
    explicit = gd.list_members(DetectorId=detector_id, OnlyAssociated="true")["Members"]
    assert explicit == default
    everyone = gd.list_members(DetectorId=detector_id, OnlyAssociated="false")["Members"]
    assert sorted(m["RelationshipStatus"] for m in everyone) == sorted(GD_STATUSES)


def test_securityhub_only_associated(client: ClientFactory, sandbox: Sandbox) -> None:
    _seed(sandbox, "securityhub", len(SH_STATUSES), SH_STATUSES)
    sh = client("securityhub")
    assert [m["MemberStatus"] for m in sh.list_members()["Members"]] == ["Enabled"]
    assert [m["MemberStatus"] for m in sh.list_members(OnlyAssociated=True)["Members"]] == [
        "Enabled"
    ]
    everyone = sh.list_members(OnlyAssociated=False)["Members"]
    assert sorted(m["MemberStatus"] for m in everyone) == sorted(SH_STATUSES)


def test_pages_stay_consistent_across_writes(client: ClientFactory, sandbox: Sandbox) -> None:
    # A token resumes after the last account seen, so members added or removed between
    # pages neither repeat nor shift the rest.
    _seed(sandbox, "securityhub", 100, ["Enabled"])
    sh = client("securityhub")
    first = sh.list_members(MaxResults=50)
    sh.delete_members(AccountIds=[m["AccountId"] for m in first["Members"][:10]])
    second = sh.list_members(MaxResults=50, NextToken=first["NextToken"])
    seen = [m["AccountId"] for m in first["Members"] + second["Members"]]
    assert len(seen) == len(set(seen)) == 100
    assert "NextToken" not in second


def test_invitations_paginate(client: ClientFactory, sandbox: Sandbox, assume: Assume) -> None:
    admins = [f"{800000000000 + i}" for i in range(3)]
    for admin in admins:
        sandbox.state.add_members(
            admin,
            "eu-west-1",
            "guardduty",
            [{"accountId": "888888888888", "email": "aws+888@example.com", "status": "Invited"}],
        )
    member = client("guardduty", credentials=assume("888888888888"))
    pages = list(
        member.get_paginator("list_invitations").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [[i["AccountId"] for i in p["Invitations"]] for p in pages] == [admins[:2], admins[2:]]
