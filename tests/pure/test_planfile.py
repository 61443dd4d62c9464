"""Saved plans explain a refusal field by field (planfile + pipeline, no AWS).

Aspects under test:
- a stale saved plan is refused naming each change under its stale actions: a status that
  changed, a member removed, a member that appeared, an email that changed; one line per
  change, at most 20 listed;
- the snapshot differs exactly when the fingerprint does (a change of email case alone is
  neither stale nor reported);
- a version-1 document saved before snapshots still loads and is refused with the
  action-level reason, word for word as before; a malformed snapshot is an invalid input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler import planfile
from reconciler.errors import ManifestError, PlanRefused
from reconciler.model import DesiredState, Mode, Service, ShardKey, ShardObservation
from reconciler.pipeline import run
from reconciler.plan import build_plan
from tests.factories import GD_EAST, account, desired_members, desired_state, observed

A, B, C = account(1), account(2), account(3)
# Invitation mode: A exists (Created) and is invited; B and C are created, then invited.
DESIRED = desired_state(
    {GD_EAST: desired_members([A, B, C])}, modes={Service("guardduty"): Mode.INVITATION}
)
BEFORE = observed(GD_EAST, {A: "Created"})


@dataclass
class _Port:
    """Observation only: a refused plan makes no other call."""

    observation: ShardObservation

    @property
    def key(self) -> ShardKey:
        return self.observation.key

    def observe(self) -> ShardObservation:
        return self.observation


def _save(desired: DesiredState, before: ShardObservation) -> str:
    observations = {before.key: before}
    return planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )


def _refusal(text: str, desired: DesiredState, after: ShardObservation) -> str:
    saved = planfile.load(text, path="plan.json")
    with pytest.raises(PlanRefused) as refused:
        run(desired, {after.key: _Port(after)}, dry_run=False, saved=saved)  # type: ignore[dict-item]
    return str(refused.value)


def _changes(after: ShardObservation) -> str:
    message = _refusal(_save(DESIRED, BEFORE), DESIRED, after)
    head = "saved plan refused, nothing applied: changed since the plan was made: "
    tail = "; make a new plan"
    assert message.startswith(head)
    assert message.endswith(tail)
    return message[len(head) : -len(tail)]


def test_the_saved_document_holds_a_snapshot_beside_each_fingerprint() -> None:
    document = json.loads(_save(DESIRED, BEFORE))
    assert document["version"] == 1
    created = {"status": "Created", "email": f"aws+{A}@example.com"}
    assert [(a["step"], a["observed"]) for a in document["actions"]] == [
        ("create", {"ready": True, "auto_enable": None, "members": {B: None, C: None}}),
        ("invite", {"ready": True, "auto_enable": None, "members": {A: created, B: None, C: None}}),
    ]


def test_a_changed_status_is_named() -> None:
    assert _changes(observed(GD_EAST, {A: "Invited"})) == (
        f"guardduty us-east-1 invite {A}: status Created → Invited"
    )


def test_a_removed_member_is_named() -> None:
    assert _changes(observed(GD_EAST, {})) == f"guardduty us-east-1 invite {A}: member removed"


def test_a_member_that_appeared_is_named_under_every_action_it_makes_stale() -> None:
    assert _changes(observed(GD_EAST, {A: "Created", B: "Enabled"})) == (
        f"guardduty us-east-1 create {B}: member appeared (status Enabled); "
        f"guardduty us-east-1 invite {B}: member appeared (status Enabled)"
    )


def test_a_changed_email_is_named() -> None:
    after = observed(GD_EAST, {A: "Created"}, emails={A: "Other@Example.com"})
    assert _changes(after) == (
        f"guardduty us-east-1 invite {A}: email aws+{A}@example.com → other@example.com"
    )


def test_several_changes_of_one_account_status_first_then_email() -> None:
    after = observed(GD_EAST, {A: "Invited"}, emails={A: None})
    assert _changes(after) == (
        f"guardduty us-east-1 invite {A}: status Created → Invited; "
        f"guardduty us-east-1 invite {A}: email aws+{A}@example.com → (none)"
    )


def test_a_change_of_the_shard_itself_is_named() -> None:
    after = observed(GD_EAST, {A: "Created"}, ready=False, reason="no detector")
    # A blocked shard plans nothing, so the saved plan would be a no-op; ask planfile directly.
    saved = planfile.load(_save(DESIRED, BEFORE), path="plan.json")
    assert planfile.stale_changes(saved, {GD_EAST: after}) == [
        "guardduty us-east-1 create: shard ready → blocked",
        "guardduty us-east-1 invite: shard ready → blocked",
    ]


def test_at_most_twenty_changes_are_listed() -> None:
    ids = [account(100 + i) for i in range(25)]
    desired = desired_state({GD_EAST: desired_members(ids)})
    appeared = observed(GD_EAST, dict.fromkeys(ids[:22], "Enabled"))
    message = _refusal(_save(desired, observed(GD_EAST)), desired, appeared)
    listed = [f"guardduty us-east-1 create {a}: member appeared (status Enabled)" for a in ids[:20]]
    assert message == (
        "saved plan refused, nothing applied: changed since the plan was made: "
        + "; ".join(listed)
        + "; and 2 more; make a new plan"
    )


def test_snapshots_differ_exactly_when_fingerprints_do() -> None:
    saved = planfile.load(_save(DESIRED, BEFORE), path="plan.json")
    same_but_case = observed(GD_EAST, {A: "CREATED"}, emails={A: f"AWS+{A}@EXAMPLE.COM"})
    assert planfile.stale_actions(saved, {GD_EAST: same_but_case}) == []
    assert planfile.stale_changes(saved, {GD_EAST: same_but_case}) == []
    observations: Mapping[ShardKey, ShardObservation] = {GD_EAST: same_but_case}
    assert [planfile.action_snapshot(a, observations) for a in saved.actions] == list(
        saved.action_snapshots
    )


def _without_snapshots(text: str) -> str:
    document: dict[str, Any] = json.loads(text)
    for action in document["actions"]:
        del action["observed"]
    return json.dumps(document)


def test_a_plan_saved_without_snapshots_is_refused_with_the_action_level_reason() -> None:
    text = _without_snapshots(_save(DESIRED, BEFORE))
    saved = planfile.load(text, path="plan.json")
    assert saved.action_snapshots == (None, None)
    after = observed(GD_EAST, {A: "Invited"})
    assert planfile.stale_changes(saved, {GD_EAST: after}) is None
    assert _refusal(text, DESIRED, after) == (
        "saved plan refused, nothing applied: "
        f"guardduty/us-east-1 invite ({A}, {B}, {C}): the members changed since the plan was made; "
        "make a new plan"
    )


def test_a_malformed_snapshot_is_an_invalid_saved_plan() -> None:
    document = json.loads(_save(DESIRED, BEFORE))
    document["actions"][0]["observed"] = {"ready": "yes", "auto_enable": None, "members": {}}
    with pytest.raises(ManifestError, match=r"observed\.ready"):
        planfile.load(json.dumps(document), path="plan.json")
    document["actions"][0]["observed"] = {"ready": True, "auto_enable": None, "members": []}
    with pytest.raises(ManifestError, match="not a saved plan"):
        planfile.load(json.dumps(document), path="plan.json")
