"""The state file: strict loading, the programmatic API, and save/load round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from reconciler_sandbox import SandboxState, SandboxStateError
from tests.sandbox.conftest import (
    ADMIN,
    EXTERNAL,
    MANAGEMENT,
    QUICKSTART_STATE,
    detector,
    make_client_factory,
    quickstart_state,
    start_sandbox,
)


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": 1, "defaultAccount": ADMIN}
    doc.update(overrides)
    return doc


def test_quickstart_state_matches_the_documented_ids() -> None:
    state = quickstart_state()
    org = state.organization
    assert org is not None
    assert org.management_account == MANAGEMENT
    assert org.delegated_administrators == {
        "guardduty": ADMIN,
        "securityhub": ADMIN,
        "detective": ADMIN,
    }
    assert set(org.accounts) == {f"{d}" * 12 for d in "123456789" if d != "8"}
    for digit in "234567":
        assert state.root_email(digit * 12) == f"aws+{digit * 3}@example.com"
    assert state.root_email(EXTERNAL) == "aws+888@example.com"
    assert EXTERNAL not in org.accounts
    for region in ("us-east-1", "eu-west-1"):
        assert state.detector_status(ADMIN, region) == "ENABLED"
        assert state.hub_enabled(ADMIN, region)
        assert state.graph_exists(ADMIN, region)
        for service in ("guardduty", "securityhub", "detective"):
            assert state.members(ADMIN, region, service) == []
    assert state.detector_status(ADMIN, "ap-south-1") is None
    assert not state.hub_enabled(ADMIN, "ap-south-1")
    assert not state.graph_exists(ADMIN, "ap-south-1")


def test_save_load_round_trip_after_a_run(
    tmp_path: Path, boto_session: boto3.session.Session
) -> None:
    sb = start_sandbox(quickstart_state())
    try:
        client = make_client_factory(boto_session, sb)
        gd = client("guardduty")
        detector_id = detector(client)
        gd.create_members(
            DetectorId=detector_id,
            AccountDetails=[
                {"AccountId": "222222222222", "Email": "aws+222@example.com"},
                {"AccountId": EXTERNAL, "Email": "aws+888@example.com"},
                {"AccountId": "123456789012", "Email": "x@example.com"},
            ],
        )
        gd.invite_members(DetectorId=detector_id, AccountIds=[EXTERNAL, "123456789012"])
        client("securityhub").create_members(AccountDetails=[{"AccountId": "333333333333"}])
        client("guardduty", region="ap-south-1").create_detector(Enable=True)
        first = tmp_path / "first.yaml"
        sb.state.save(first)
        invitations = sb.state.invitations_for(EXTERNAL, "eu-west-1", "guardduty")
    finally:
        sb.stop()

    reloaded = SandboxState.load(first)
    assert reloaded.to_dict() == sb.state.to_dict()
    second = tmp_path / "second.yaml"
    reloaded.save(second)
    assert second.read_text() == first.read_text()
    # The member side is rebuilt from the administrator's records, ids included.
    assert reloaded.invitations_for(EXTERNAL, "eu-west-1", "guardduty") == invitations
    assert reloaded.administrator_of("222222222222", "eu-west-1", "guardduty") == ADMIN
    assert reloaded.detector_status("222222222222", "eu-west-1") == "ENABLED"
    assert reloaded.detector_status(ADMIN, "ap-south-1") == "ENABLED"
    assert reloaded.hub_enabled("333333333333", "eu-west-1")
    statuses = {
        m["accountId"]: m["status"] for m in reloaded.members(ADMIN, "eu-west-1", "guardduty")
    }
    assert statuses == {
        "222222222222": "Enabled",
        EXTERNAL: "Invited",
        "123456789012": "EmailVerificationFailed",
    }


def test_quickstart_file_round_trips_semantically(tmp_path: Path) -> None:
    state = SandboxState.load(QUICKSTART_STATE)
    out = tmp_path / "out.yaml"
    state.save(out)
    assert SandboxState.load(out).to_dict() == state.to_dict()


def test_programmatic_world() -> None:
    state = SandboxState.empty(default_account="123456789012")
    state.add_account("210987654321", email="member@example.com", roles=["Reconciler"])
    state.set_detector("123456789012", "eu-west-1", "ENABLED")
    state.set_security_hub("123456789012", "eu-west-1", True)
    state.add_members(
        "123456789012",
        "eu-west-1",
        "securityhub",
        [
            {"accountId": "210987654321", "email": "member@example.com", "status": "Invited"},
            {"accountId": "210987654322", "status": "Enabled", "type": "invitation"},
        ],
    )
    assert state.root_email("210987654321") == "member@example.com"
    assert [m["status"] for m in state.members("123456789012", "eu-west-1", "securityhub")] == [
        "Invited",
        "Enabled",
    ]
    assert len(state.invitations_for("210987654321", "eu-west-1", "securityhub")) == 1
    assert state.administrator_of("210987654322", "eu-west-1", "securityhub") == "123456789012"
    data = state.to_dict()
    assert data["defaultAccount"] == "123456789012"
    assert data["accounts"]["210987654321"]["roles"] == ["Reconciler"]
    assert SandboxState.from_dict(data).to_dict() == data

    with pytest.raises(SandboxStateError, match=r"members\[0\]\.status"):
        state.add_members("123456789012", "eu-west-1", "guardduty", [{"accountId": "1" * 12}])
    with pytest.raises(SandboxStateError, match="listed twice"):
        state.add_members(
            "123456789012",
            "eu-west-1",
            "securityhub",
            [{"accountId": "210987654322", "status": "Created"}],
        )
    with pytest.raises(SandboxStateError, match="service"):
        state.add_members("123456789012", "eu-west-1", "macie", [])


def test_fifty_thousand_members_in_one_shard() -> None:
    state = SandboxState.empty()
    state.set_detector(ADMIN, "eu-west-1", "ENABLED")
    state.add_members(
        ADMIN,
        "eu-west-1",
        "guardduty",
        (
            {"accountId": f"{100000000000 + i}", "email": "m@example.com", "status": "Enabled"}
            for i in range(50_000)
        ),
    )
    table = state.account(ADMIN).service("guardduty", "eu-west-1").members
    assert len(table) == 50_000
    page, more = table.page("100000049949", 50)
    assert [m.account_id for m in page][:2] == ["100000049950", "100000049951"]
    assert more is False
    assert len(page) == 50


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_doc(extra=1), "extra"),
        (_doc(version=2), "version"),
        ({"version": 1}, "defaultAccount"),
        (_doc(defaultAccount=111111111111), "defaultAccount"),
        (_doc(defaultAccount="1111"), "defaultAccount"),
        (_doc(accounts={ADMIN: {"regions": {"eu-west1": {}}}}), f"accounts.{ADMIN}.regions"),
        (
            _doc(accounts={ADMIN: {"regions": {"eu-west-1": {"guardduty": {"detector": "ON"}}}}}),
            f"accounts.{ADMIN}.regions.eu-west-1.guardduty.detector",
        ),
        (
            _doc(accounts={ADMIN: {"regions": {"*": {"guardduty": {"members": []}}}}}),
            f"accounts.{ADMIN}.regions.*.guardduty.members",
        ),
        (
            _doc(accounts={ADMIN: {"regions": {"eu-west-1": {"macie": {}}}}}),
            f"accounts.{ADMIN}.regions.eu-west-1.macie",
        ),
        (
            _doc(
                accounts={
                    ADMIN: {
                        "regions": {
                            "eu-west-1": {
                                "securityhub": {
                                    "enabled": True,
                                    "members": [{"accountId": EXTERNAL, "status": "Disabled"}],
                                }
                            }
                        }
                    }
                }
            ),
            f"accounts.{ADMIN}.regions.eu-west-1.securityhub.members[0].status",
        ),
        (
            _doc(
                accounts={
                    ADMIN: {
                        "regions": {
                            "eu-west-1": {
                                "guardduty": {
                                    "members": [{"accountId": EXTERNAL, "status": "Bogus"}]
                                }
                            }
                        }
                    }
                }
            ),
            "members[0].status",
        ),
        (
            _doc(
                accounts={
                    ADMIN: {
                        "regions": {
                            "eu-west-1": {
                                "guardduty": {
                                    "members": [{"accountId": ADMIN, "status": "Enabled"}]
                                }
                            }
                        }
                    }
                }
            ),
            "members[0].accountId",
        ),
        (
            _doc(
                accounts={
                    account: {
                        "regions": {
                            "eu-west-1": {
                                "guardduty": {
                                    "members": [{"accountId": EXTERNAL, "status": "Enabled"}]
                                }
                            }
                        }
                    }
                    for account in (ADMIN, "222222222222")
                }
            ),
            "members[0].status",
        ),
        (_doc(accounts={ADMIN: {"email": "not-an-email"}}), f"accounts.{ADMIN}.email"),
        (_doc(accounts={ADMIN: {"roles": ["bad role"]}}), f"accounts.{ADMIN}.roles[0]"),
        (_doc(accounts={ADMIN: {"disabledRegions": "ap-east-1"}}), "disabledRegions"),
        (_doc(organization={"id": "o-1", "managementAccount": ADMIN, "rootId": "r-ab12"}), "id"),
        (
            _doc(
                organization={
                    "id": "o-example12345",
                    "managementAccount": ADMIN,
                    "rootId": "r-ab12",
                    "accounts": [{"accountId": EXTERNAL, "email": "a@b.cc", "parent": "ou-x"}],
                }
            ),
            "organization.accounts[0].parent",
        ),
        (
            _doc(
                organization={
                    "id": "o-example12345",
                    "managementAccount": ADMIN,
                    "rootId": "r-ab12",
                    "organizationalUnits": [
                        {"id": "ou-ab12-11111111", "name": "A", "parent": "ou-ab12-22222222"}
                    ],
                }
            ),
            "organization.organizationalUnits[0].parent",
        ),
        (
            _doc(
                organization={
                    "id": "o-example12345",
                    "managementAccount": ADMIN,
                    "rootId": "r-ab12",
                    "delegatedAdministrators": {"inspector": ADMIN},
                }
            ),
            "delegatedAdministrators.inspector",
        ),
        (_doc(quotas={"guarddutyMembers": -1}), "quotas.guarddutyMembers"),
        ([1, 2], "top level"),
    ],
)
def test_strict_validation_names_the_field(doc: Any, field: str) -> None:
    with pytest.raises(SandboxStateError) as excinfo:
        SandboxState.from_dict(doc, source="state.yaml")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("state.yaml: ")
    assert field in message


def test_yaml_errors_and_unquoted_keys(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ndefaultAccount: '111111111111'\naccounts: [\n")
    with pytest.raises(SandboxStateError) as excinfo:
        SandboxState.load(broken)
    assert str(excinfo.value).startswith(f"{broken}:")
    assert "\n" not in str(excinfo.value)

    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(
        yaml.safe_dump({"version": 1, "defaultAccount": ADMIN}) + "accounts:\n  222222222222: {}\n"
    )
    with pytest.raises(SandboxStateError, match="quote account ids"):
        SandboxState.load(unquoted)

    with pytest.raises(SandboxStateError, match="cannot read"):
        SandboxState.load(tmp_path / "missing.yaml")


def test_json_state_files(tmp_path: Path) -> None:
    state = quickstart_state()
    state.add_members(
        ADMIN,
        "eu-west-1",
        "guardduty",
        [{"accountId": EXTERNAL, "email": "aws+888@example.com", "status": "Invited"}],
    )
    as_json = tmp_path / "state.json"
    state.save(as_json)
    assert as_json.read_text().startswith("{")
    assert SandboxState.load(as_json).to_dict() == state.to_dict()
    # JSON is YAML: the YAML path reads it too.
    assert yaml.safe_load(as_json.read_text()) == state.to_dict()
