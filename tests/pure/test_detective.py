"""Amazon Detective through the pure core: plan, refusals, report, and its member-side accept.

Aspects under test:
- invitation mode: missing accounts get one CreateMembers (which invites) and no invite step;
  the accept step calls AcceptInvitation; the plan's actions name the operations called;
- prune is DeleteMembers in both modes (Detective has no DisassociateMembers);
- VERIFICATION_FAILED with a changed email is deleted and created again; ACCEPTED_BUT_DISABLED
  is a blocking status no step fixes;
- the 1,200-member graph limit refuses the plan, in one line;
- the JSON document and the text plan list the Detective shards and actions;
- the member side accepts our administrator's invitation only, finds an accepted one done,
  and confirms a lost answer with ListInvitations.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from reconciler import report
from reconciler.diff import DriftKind
from reconciler.errors import AcceptError, PermanentAwsError
from reconciler.model import (
    AcceptSettings,
    InvitationSettings,
    Mode,
    PruneSettings,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.pipeline import run
from reconciler.plan import RefusedPlan, Step, build_plan
from reconciler.services import detective
from reconciler.services.spec import AcceptContext
from tests.factories import ADMIN, account, desired_members, desired_state, email, observed

DT = Service("detective")
DT_EAST = ShardKey(DT, "us-east-1")
GRAPH = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"


def _observed(members: dict[str, str], **kwargs: Any) -> ShardObservation:
    """An observation with Detective's statuses parsed by its spec."""
    found = observed(DT_EAST, members, **kwargs)
    return replace(
        found,
        members={
            a: replace(m, status=detective.SPEC.parse_status(m.raw_status))
            for a, m in found.members.items()
        },
    )


def _invitation_state(ids: list[str], *, accept: bool = False) -> Any:
    desired = desired_state({DT_EAST: desired_members(ids)}, modes={DT: Mode.INVITATION})
    settings = ServiceSettings(
        DT,
        Mode.INVITATION,
        InvitationSettings(message="hi"),
        accept=AcceptSettings("OrganizationAccountAccessRole") if accept else None,
    )
    return replace(desired, services={DT: settings})


def test_invitation_mode_creates_once_and_never_invites_separately() -> None:
    ids = [account(i) for i in range(60)]
    plan = build_plan(_invitation_state(ids, accept=True), {DT_EAST: _observed({})})
    steps = [(a.step, a.operation, len(a.account_ids)) for a in plan.actions]
    assert steps[:2] == [(Step.CREATE, "CreateMembers", 50), (Step.CREATE, "CreateMembers", 10)]
    assert not [a for a in plan.actions if a.step is Step.INVITE]
    accepts = [a for a in plan.actions if a.step is Step.ACCEPT]
    assert [a.account_ids[0] for a in accepts] == sorted(ids)
    assert {a.operation for a in accepts} == {"AcceptInvitation"}


def test_prune_is_delete_members_in_both_modes() -> None:
    strangers = {account(900): "ENABLED", account(901): "INVITED"}
    for mode in Mode:
        desired = desired_state({DT_EAST: desired_members([])}, modes={DT: mode})
        desired = replace(desired, prune=PruneSettings(enabled=True))
        plan = build_plan(desired, {DT_EAST: _observed(strangers)})
        assert [(a.step, a.operation, a.account_ids) for a in plan.actions] == [
            (Step.DELETE, "DeleteMembers", tuple(sorted(strangers)))
        ], mode


def test_a_failed_verification_with_a_new_email_is_deleted_and_created_again() -> None:
    one = account(1)
    plan = build_plan(
        _invitation_state([one]),
        {DT_EAST: _observed({one: "VERIFICATION_FAILED"}, emails={one: "old@example.com"})},
    )
    assert [(a.step, a.operation) for a in plan.actions] == [
        (Step.DELETE_FOR_REPAIR, "DeleteMembers"),
        (Step.CREATE, "CreateMembers"),
    ]
    assert plan.actions[1].members[0].email == email(one)


def test_accepted_but_disabled_is_blocking_and_planned_for_nothing() -> None:
    one = account(1)
    desired = desired_state({DT_EAST: desired_members([one])})
    plan = build_plan(desired, {DT_EAST: _observed({one: "ACCEPTED_BUT_DISABLED"})})
    assert plan.is_empty
    assert [(d.kind, d.blocking) for d in plan.drift] == [(DriftKind.UNEXPECTED_STATUS, True)]
    assert "ACCEPTED_BUT_DISABLED" in plan.drift[0].detail


def test_the_graph_limit_refuses_the_plan_in_one_line() -> None:
    present = {account(i): "ENABLED" for i in range(1_190)}
    added = [account(5_000 + i) for i in range(11)]
    desired = desired_state({DT_EAST: desired_members([*present, *added])})
    with pytest.raises(RefusedPlan) as raised:
        build_plan(desired, {DT_EAST: _observed(present)})
    assert str(raised.value) == (
        "plan refused, nothing applied: it would exceed the service quota (detective/us-east-1: "
        "1190 members + 11 to create = 1201, over the organization-mode quota of 1,200)"
    )


class _Port:
    def __init__(self, observation: ShardObservation) -> None:
        self.observation = observation

    @property
    def key(self) -> ShardKey:
        return self.observation.key

    def observe(self) -> ShardObservation:
        return self.observation


def test_the_json_document_and_the_text_plan_list_detective_shards() -> None:
    ids = [account(1), account(2)]
    blocked = ShardKey(DT, "eu-west-1")
    desired = desired_state({DT_EAST: desired_members(ids), blocked: desired_members(ids)})
    reason = "Detective is not enabled in eu-west-1 for 111111111111 (no behavior graph)"
    ports = {
        DT_EAST: _Port(_observed({})),
        blocked: _Port(ShardObservation(blocked, ready=False, reason=reason)),
    }
    outcome = run(desired, ports, dry_run=True)  # type: ignore[arg-type]
    document = json.loads(report.render_json(outcome))
    assert [(s["service"], s["region"], s["status"]) for s in document["shards"]] == [
        ("detective", "eu-west-1", "blocked"),
        ("detective", "us-east-1", "ready"),
    ]
    assert document["shards"][0]["reason"] == reason
    assert document["actions"] == [
        {
            "service": "detective",
            "region": "us-east-1",
            "operation": "CreateMembers",
            "step": "create",
            "account_ids": ids,
        }
    ]
    text = report.render_text(outcome)
    assert f"detective eu-west-1: BLOCKED: {reason}" in text
    lines = report.render_text(outcome, mask_emails=False).splitlines()
    assert f"  + create  {ids[0]} ({email(ids[0])})" in lines


class _MemberCalls:
    """The member account's side of Detective, scripted."""

    service = "detective"
    region = "us-east-1"
    account_id = account(1)

    def __init__(self, pages: list[list[dict[str, Any]]], accept_error: bool = False) -> None:
        self.pages_seen = list(pages)
        self.accept_error = accept_error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, operation: str, /, **params: Any) -> dict[str, Any]:
        self.calls.append((operation, params))
        if self.accept_error:
            raise PermanentAwsError(
                "already a member",
                service=self.service,
                region=self.region,
                operation=operation,
                code="ValidationException",
                status=400,
            )
        return {}

    def pages(self, operation: str, /, **params: Any) -> list[dict[str, Any]]:
        assert operation == "ListInvitations"
        current = self.pages_seen.pop(0) if len(self.pages_seen) > 1 else self.pages_seen[0]
        return [{"Invitations": current}]


def _invitation(administrator: str, status: str, graph: str = GRAPH) -> dict[str, Any]:
    return {"AccountId": account(1), "GraphArn": graph, "AdministratorId": administrator,
            "Status": status}  # fmt: skip


CONTEXT = AcceptContext(ADMIN, AcceptSettings("Role"), "arn:aws:iam::200000000001:role/Role")


def test_the_member_accepts_our_administrators_invitation_only() -> None:
    stranger = "arn:aws:detective:us-east-1:999999999999:graph:" + "f" * 32
    calls = _MemberCalls([[_invitation("999999999999", "INVITED", stranger),
                           _invitation(ADMIN, "INVITED")]])  # fmt: skip
    assert detective.accept(calls, CONTEXT) == "accepted"
    assert calls.calls == [("AcceptInvitation", {"GraphArn": GRAPH})]


def test_an_accepted_invitation_is_already_done_and_none_is_an_error() -> None:
    done = _MemberCalls([[_invitation(ADMIN, "ENABLED")]])
    assert detective.accept(done, CONTEXT) == "already accepted"
    assert done.calls == []
    with pytest.raises(AcceptError, match="no pending detective invitation from 111111111111"):
        detective.accept(_MemberCalls([[]]), CONTEXT)


def test_a_lost_accept_is_confirmed_by_list_invitations() -> None:
    lost = _MemberCalls(
        [[_invitation(ADMIN, "INVITED")], [_invitation(ADMIN, "ENABLED")]], accept_error=True
    )
    assert detective.accept(lost, CONTEXT) == detective.ANSWER_LOST
    refused = _MemberCalls([[_invitation(ADMIN, "INVITED")]], accept_error=True)
    with pytest.raises(PermanentAwsError):
        detective.accept(refused, CONTEXT)
