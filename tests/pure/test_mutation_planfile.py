"""Saved plans: what mutation testing showed the other planfile tests left unstated.

Aspects under test:
- the desired-state fingerprint changes with everything that can change a plan (administrator,
  partition, each service's settings, prune settings, shard membership and member emails) and
  with nothing else (member email case, the manifest's path);
- the observed fingerprint changes with readiness, auto-enable, status and folded email, and a
  scoped fingerprint only with its own accounts;
- a document is read back field by field as it was written (scope, fingerprints, actions,
  snapshots with their auto-enable setting);
- a document of another format or another version is not a saved plan, each on its own;
- a plan refused by a safety rail is saved with each rail, reason and override, and refused
  again when read back, naming every reason and each override once;
- the digest's definition (SHA-256 over compact, key-sorted UTF-8 JSON without the snapshots),
  so a plan saved by another release of the same version checks;
- every snapshot is checked, also after an action saved without one, and every account an
  edited snapshot lacks or adds is named;
- a manifest without several of the plan's services and regions is refused naming them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

from reconciler import planfile
from reconciler.errors import ManifestError, PlanRefused
from reconciler.manifest.values import Manifest
from reconciler.model import (
    AcceptSettings,
    DesiredMember,
    DesiredState,
    InvitationSettings,
    MemberStatus,
    Mode,
    ObservedMember,
    PruneSettings,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)
from reconciler.plan import Action, Refusal, Step, build_plan
from tests.factories import (
    ADMIN,
    GD_EAST,
    SH_EAST,
    account,
    desired_members,
    desired_state,
    email,
    observed,
)

A, B = account(1), account(2)
BASE = desired_state(
    {GD_EAST: desired_members([A, B]), SH_EAST: desired_members([A])},
    modes={Service("guardduty"): Mode.INVITATION},
)


def _with(desired: DesiredState, **changes: Any) -> DesiredState:
    return dataclasses.replace(desired, **changes)


def _with_service(desired: DesiredState, settings: ServiceSettings) -> DesiredState:
    return _with(desired, services={**desired.services, settings.service: settings})


def _with_member(desired: DesiredState, key: ShardKey, member: DesiredMember) -> DesiredState:
    shard = {**desired.shards[key], member.account_id: member}
    return _with(desired, shards={**desired.shards, key: shard})


GD_INV = BASE.services[Service("guardduty")]

CHANGED = {
    "administrator": _with(BASE, administrator_account_id="999999999999"),
    "partition": _with(BASE, partition="aws-us-gov"),
    "service mode": _with_service(BASE, dataclasses.replace(GD_INV, mode=Mode.ORGANIZATION)),
    "invitation message": _with_service(
        BASE, dataclasses.replace(GD_INV, invitation=InvitationSettings(message="Hello"))
    ),
    "invitation emails off": _with_service(
        BASE,
        dataclasses.replace(GD_INV, invitation=InvitationSettings(disable_email_notification=True)),
    ),
    "accept": _with_service(BASE, dataclasses.replace(GD_INV, accept=AcceptSettings("Role"))),
    "reinvite": _with_service(BASE, dataclasses.replace(GD_INV, reinvite=True)),
    "second service settings": _with_service(
        BASE, ServiceSettings(Service("securityhub"), Mode.INVITATION)
    ),
    "prune enabled": _with(BASE, prune=PruneSettings(enabled=True)),
    "prune maxDeletions": _with(BASE, prune=PruneSettings(max_deletions=11)),
    "prune protected": _with(BASE, prune=PruneSettings(protected_accounts=frozenset({B}))),
    "member email": _with_member(BASE, GD_EAST, DesiredMember(A, "other@example.com")),
    "member email dropped": _with_member(BASE, GD_EAST, DesiredMember(A, None)),
    "member added": _with_member(BASE, SH_EAST, DesiredMember(B, email(B))),
    "member moved between shards": _with(
        BASE, shards={GD_EAST: desired_members([A]), SH_EAST: desired_members([A, B])}
    ),
    "empty shard added": _with(
        BASE, shards={**BASE.shards, ShardKey(Service("guardduty"), "eu-west-1"): {}}
    ),
}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_the_desired_fingerprint_changes_with_everything_that_can_change_a_plan(
    name: str,
) -> None:
    assert planfile.desired_fingerprint(CHANGED[name]) != planfile.desired_fingerprint(BASE)


def test_the_desired_fingerprints_of_different_manifests_are_all_different() -> None:
    fingerprints = [planfile.desired_fingerprint(d) for d in (BASE, *CHANGED.values())]
    assert len(set(fingerprints)) == len(fingerprints)


def test_the_desired_fingerprint_ignores_email_case_and_the_manifest_path() -> None:
    upper = _with_member(BASE, GD_EAST, DesiredMember(A, email(A).upper()))
    moved = _with(BASE, source="elsewhere/manifest.yaml")
    expected = planfile.desired_fingerprint(BASE)
    assert planfile.desired_fingerprint(upper) == expected
    assert planfile.desired_fingerprint(moved) == expected
    assert len(expected) == 64
    assert set(expected) <= set("0123456789abcdef")


def _observation(
    members: dict[str, tuple[str, str | None]],
    *,
    key: ShardKey = GD_EAST,
    ready: bool = True,
    auto_enable: str | None = None,
) -> ShardObservation:
    return ShardObservation(
        key,
        ready=ready,
        members={
            a: ObservedMember(a, mail, MemberStatus.parse(status), status)
            for a, (status, mail) in members.items()
        },
        auto_enable=auto_enable,
    )


SEEN = {A: ("Created", email(A)), B: ("Enabled", email(B))}


@pytest.mark.parametrize(
    "after",
    [
        _observation(SEEN, ready=False),
        _observation(SEEN, auto_enable="ALL"),
        _observation({**SEEN, A: ("Invited", email(A))}),
        _observation({**SEEN, A: ("Created", "other@example.com")}),
        _observation({**SEEN, A: ("Created", None)}),
        _observation({A: SEEN[A]}),
        _observation(SEEN, key=SH_EAST),
    ],
    ids=["readiness", "auto-enable", "status", "email", "email gone", "member gone", "shard"],
)
def test_the_observed_fingerprint_changes_with_what_the_plan_was_made_from(
    after: ShardObservation,
) -> None:
    before = {GD_EAST: _observation(SEEN)}
    assert planfile.observed_fingerprint({after.key: after}) != planfile.observed_fingerprint(
        before
    )


def test_the_observed_fingerprint_ignores_case_and_accounts_outside_its_scope() -> None:
    before = {GD_EAST: _observation(SEEN)}
    folded = {GD_EAST: _observation({A: ("CREATED", email(A).upper()), B: SEEN[B]})}
    assert planfile.observed_fingerprint(folded) == planfile.observed_fingerprint(before)
    other = {GD_EAST: _observation({**SEEN, B: ("Resigned", None)})}
    assert planfile.observed_fingerprint(other, [A]) == planfile.observed_fingerprint(before, [A])
    assert planfile.observed_fingerprint(other, [B]) != planfile.observed_fingerprint(before, [B])
    # An account that is not there is part of a scoped fingerprint too: absent ≠ present.
    assert planfile.observed_fingerprint(before, [A, "999999999999"]) != (
        planfile.observed_fingerprint(before, [A])
    )
    assert planfile.observed_fingerprint(before, [A, A]) == planfile.observed_fingerprint(
        before, [A]
    )


def test_an_action_fingerprint_of_an_unobserved_shard_differs_from_an_observed_one() -> None:
    action = Action(GD_EAST, Step.CREATE, (DesiredMember(A, email(A)),))
    empty = planfile.action_fingerprint(action, {GD_EAST: _observation({})})
    assert planfile.action_fingerprint(action, {}) != empty
    assert planfile.action_fingerprint(action, {SH_EAST: _observation({}, key=SH_EAST)}) == (
        planfile.action_fingerprint(action, {})
    )
    assert planfile.action_snapshot(action, {}) == {
        "ready": None,
        "auto_enable": None,
        "members": {A: None},
    }


# --- a document read back ----------------------------------------------------------------------


def _saved_document() -> tuple[str, DesiredState, dict[ShardKey, ShardObservation]]:
    west = ShardKey(Service("guardduty"), "eu-west-1")
    desired = desired_state(
        {GD_EAST: desired_members([A, B]), west: desired_members([B]), SH_EAST: {}},
        modes={Service("guardduty"): Mode.INVITATION},
    )
    desired = _with(desired, source="team/manifest.yaml", regions=("us-east-1", "eu-west-1"))
    observations = {
        GD_EAST: _observation({A: ("Created", email(A))}, auto_enable="NEW"),
        west: observed(west),
        SH_EAST: observed(SH_EAST),
    }
    plan = build_plan(desired, observations)
    return planfile.dump(plan, desired=desired, observations=observations), desired, observations


def test_a_saved_plan_reads_back_exactly_as_it_was_written() -> None:
    text, desired, observations = _saved_document()
    plan = build_plan(desired, observations)
    saved = planfile.load(text, path="plan.json")
    assert saved.manifest == "team/manifest.yaml"
    assert saved.services == (Service("guardduty"), Service("securityhub"))
    assert saved.regions == ("us-east-1", "eu-west-1")
    assert saved.desired_fingerprint == planfile.desired_fingerprint(desired)
    assert saved.observed_fingerprint == planfile.observed_fingerprint(observations)
    assert saved.actions == plan.actions
    assert saved.action_fingerprints == tuple(
        planfile.action_fingerprint(a, observations) for a in plan.actions
    )
    assert saved.action_snapshots == tuple(
        planfile.action_snapshot(a, observations) for a in plan.actions
    )
    east = [
        s for a, s in zip(saved.actions, saved.action_snapshots, strict=True) if a.key == GD_EAST
    ]
    assert east
    assert all(s is not None and s["auto_enable"] == "NEW" for s in east)
    assert planfile.stale_actions(saved, observations) == []
    assert planfile.stale_changes(saved, observations) == []


def test_the_document_names_the_manifest_administrator_and_each_action_operation() -> None:
    text, _, _ = _saved_document()
    document = json.loads(text)
    assert (document["format"], document["version"]) == ("reconciler-plan", 1)
    assert document["manifest"] == "team/manifest.yaml"
    assert document["administrator"] == ADMIN
    assert document["scope"] == {
        "services": ["guardduty", "securityhub"],
        "regions": ["us-east-1", "eu-west-1"],
    }
    assert [(a["region"], a["step"], a["operation"]) for a in document["actions"]] == [
        ("eu-west-1", "create", "CreateMembers"),
        ("eu-west-1", "invite", "InviteMembers"),
        ("us-east-1", "create", "CreateMembers"),
        ("us-east-1", "invite", "InviteMembers"),
    ]
    assert document["actions"][2]["members"] == [{"account_id": B, "email": email(B)}]
    assert text.endswith("}\n")


def test_a_member_without_an_email_reads_back_without_one() -> None:
    desired = desired_state({SH_EAST: desired_members([A], with_email=False)})
    observations = {SH_EAST: observed(SH_EAST)}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    (action,) = planfile.load(text, path="plan.json").actions
    assert action.members == (DesiredMember(A, None),)


@pytest.mark.parametrize(
    ("field", "value"),
    [("format", "terraform-plan"), ("version", 2), ("format", None), ("version", None)],
)
def test_a_document_of_another_format_or_version_is_not_a_saved_plan(
    field: str, value: object
) -> None:
    document = json.loads(_saved_document()[0])
    if value is None:
        del document[field]
    else:
        document[field] = value
    with pytest.raises(ManifestError) as refused:
        planfile.load(json.dumps(document), path="my-plan.json")
    assert str(refused.value).startswith("my-plan.json")
    assert "not a saved plan: not a reconciler-plan version 1 document" in str(refused.value)


def test_a_member_aws_returns_without_email_reads_back_without_one() -> None:
    desired = desired_state(
        {GD_EAST: desired_members([A])}, modes={Service("guardduty"): Mode.INVITATION}
    )
    observations = {GD_EAST: observed(GD_EAST, {A: "Created"}, emails={A: None})}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    saved = planfile.load(text, path="plan.json")
    assert saved.action_snapshots == (
        {"ready": True, "auto_enable": None, "members": {A: {"status": "Created", "email": None}}},
    )


def _dumped_with(observations: dict[ShardKey, ShardObservation]) -> planfile.SavedPlan:
    """A plan made on a ready shard, saved with what ``observations`` show of it."""
    desired = desired_state({GD_EAST: desired_members([A])})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST)})
    text = planfile.dump(plan, desired=desired, observations=observations)
    return planfile.load(text, path="plan.json")


@pytest.mark.parametrize(
    ("observations", "ready"),
    [
        ({}, None),
        ({GD_EAST: observed(GD_EAST, ready=False, reason="no detector")}, False),
        ({GD_EAST: observed(GD_EAST)}, True),
    ],
    ids=["not observed", "blocked", "ready"],
)
def test_a_snapshot_readiness_is_kept(
    observations: dict[ShardKey, ShardObservation], ready: bool | None
) -> None:
    (snapshot,) = _dumped_with(observations).action_snapshots
    assert snapshot is not None
    assert snapshot["ready"] is ready


def test_the_document_is_indented_for_a_reviewer() -> None:
    text, _, _ = _saved_document()
    assert text.startswith('{\n  "format": "reconciler-plan",\n  "version": 1,\n')


# --- why a saved plan is stale -----------------------------------------------------------------


def _saved(count: int) -> planfile.SavedPlan:
    ids = [account(10 + i) for i in range(count)]
    desired = desired_state({GD_EAST: desired_members(ids)})
    observations = {GD_EAST: observed(GD_EAST)}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    return planfile.load(text, path="plan.json")


@pytest.mark.parametrize(
    ("count", "listed"),
    [
        (1, "{0}"),
        (5, "{0}, {1}, {2}, {3}, {4}"),
        (6, "{0}, {1}, {2}, {3}, {4} and 1 more"),
        (7, "{0}, {1}, {2}, {3}, {4} and 2 more"),
    ],
)
def test_a_stale_action_names_its_first_five_accounts_and_counts_the_rest(
    count: int, listed: str
) -> None:
    saved = _saved(count)
    ids = saved.actions[0].account_ids
    after = {GD_EAST: observed(GD_EAST, {ids[0]: "Enabled"})}
    assert planfile.stale_actions(saved, after) == [
        f"guardduty/us-east-1 create ({listed.format(*ids)}): the members changed since the "
        "plan was made"
    ]


def test_an_action_edited_by_hand_gets_the_action_level_reason() -> None:
    # The snapshot still matches, but the fingerprint does not: no field to name.
    saved = _saved(1)
    edited = dataclasses.replace(saved, action_fingerprints=("0" * 64,))
    (member,) = saved.actions[0].account_ids
    assert planfile.stale_changes(edited, {GD_EAST: observed(GD_EAST)}) == [
        f"guardduty/us-east-1 create ({member}): the members changed since the plan was made"
    ]


def test_a_stale_action_without_snapshot_beside_others_with_one_gets_its_action_reason() -> None:
    desired = desired_state(
        {GD_EAST: desired_members([A])}, modes={Service("guardduty"): Mode.INVITATION}
    )
    observations = {GD_EAST: observed(GD_EAST)}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    saved = planfile.load(text, path="plan.json")
    assert [a.step for a in saved.actions] == [Step.CREATE, Step.INVITE]
    partly = dataclasses.replace(saved, action_snapshots=(None, saved.action_snapshots[1]))
    after = {GD_EAST: observed(GD_EAST, {A: "Enabled"})}
    assert planfile.stale_changes(partly, after) == [
        f"guardduty/us-east-1 create ({A}): the members changed since the plan was made",
        f"guardduty us-east-1 invite {A}: member appeared (status Enabled)",
    ]


def test_a_change_of_readiness_and_auto_enable_is_named_readiness_first() -> None:
    saved = _saved(1)
    after = ShardObservation(GD_EAST, ready=False, reason="no detector", auto_enable="ALL")
    assert planfile.stale_changes(saved, {GD_EAST: after}) == [
        "guardduty us-east-1 create: shard ready → blocked",
        "guardduty us-east-1 create: organization auto-enable (none) → ALL",
    ]
    unobserved = planfile.stale_changes(saved, {})
    assert unobserved is not None
    assert unobserved[0] == ("guardduty us-east-1 create: shard ready → not observed")
    new = ShardObservation(GD_EAST, ready=True, auto_enable="NEW")
    back = dataclasses.replace(
        saved, action_snapshots=(planfile.action_snapshot(saved.actions[0], {GD_EAST: new}),)
    )
    back = dataclasses.replace(
        back, action_fingerprints=(planfile.action_fingerprint(saved.actions[0], {GD_EAST: new}),)
    )
    assert planfile.stale_changes(back, {GD_EAST: observed(GD_EAST)}) == [
        "guardduty us-east-1 create: organization auto-enable NEW → (none)"
    ]


def test_an_action_without_its_fingerprint_is_never_taken_as_unchanged() -> None:
    saved = _saved(1)
    unfingerprinted = dataclasses.replace(saved, action_fingerprints=())
    observations = {GD_EAST: observed(GD_EAST)}
    with pytest.raises(ValueError, match="zip"):
        planfile.stale_actions(unfingerprinted, observations)
    with pytest.raises(ValueError, match="zip"):
        planfile.stale_changes(unfingerprinted, observations)


# --- a plan refused by a safety rail, and the document's checks of itself ----------------------

INVITED = desired_state(
    {GD_EAST: desired_members([A, B, account(3)])}, modes={Service("guardduty"): Mode.INVITATION}
)
INVITED_SEEN = {GD_EAST: observed(GD_EAST, {A: "Created"})}


def _document(refusals: tuple[Refusal, ...] = ()) -> dict[str, Any]:
    """A plan of two actions (create B and C, invite A, B and C), saved."""
    text = planfile.dump(
        build_plan(INVITED, INVITED_SEEN),
        desired=INVITED,
        observations=INVITED_SEEN,
        refusals=refusals,
    )
    document: dict[str, Any] = json.loads(text)
    return document


QUOTA = Refusal("quota", "guardduty us-east-1 would have 5,001 members", None)
MASS_PRUNE = Refusal("max-deletions", "prune would remove 12 accounts", "--allow-mass-prune")


def test_a_refused_plan_is_saved_with_each_rail_reason_and_override() -> None:
    document = _document((QUOTA, MASS_PRUNE))
    assert document["refused"] == [
        {"rail": "quota", "reason": QUOTA.reason, "override": None},
        {"rail": "max-deletions", "reason": MASS_PRUNE.reason, "override": "--allow-mass-prune"},
    ]
    assert "refused" not in _document()
    # Read back as saved: each rail with its reason and override (None stays None).
    _, saved = planfile._parse(json.dumps(document), path="plan.json")
    assert saved.refusals == (QUOTA, MASS_PRUNE)


@pytest.mark.parametrize(
    ("refusals", "ending"),
    [
        ((QUOTA,), f"({QUOTA.reason}); make a new plan"),
        (
            (QUOTA, MASS_PRUNE),
            f"({QUOTA.reason}; {MASS_PRUNE.reason}); make a new plan "
            "(with --allow-mass-prune if this is intended)",
        ),
        (
            (
                Refusal("max-deletions", "b", "--allow-mass-prune"),
                Refusal("quota", "a", "--allow-quota"),
                Refusal("max-deletions", "c", "--allow-mass-prune"),
            ),
            "(b; a; c); make a new plan (with --allow-mass-prune, --allow-quota if this is "
            "intended)",
        ),
    ],
    ids=["no override", "one override", "overrides sorted, each once"],
)
def test_a_refused_plan_is_refused_again_when_read_back(
    refusals: tuple[Refusal, ...], ending: str
) -> None:
    with pytest.raises(PlanRefused) as refused:
        planfile.load(json.dumps(_document(refusals)), path="plan.json")
    assert str(refused.value) == (
        "saved plan refused, nothing applied: the plan was refused when it was made " + ending
    )


def test_the_digest_is_sha256_over_compact_sorted_utf8_json_without_the_snapshots() -> None:
    # The definition a plan saved by another release of this version is checked with.
    desired = _with(INVITED, source="équipe/manifest.yaml")
    text = planfile.dump(
        build_plan(desired, INVITED_SEEN), desired=desired, observations=INVITED_SEEN
    )
    document = json.loads(text)
    content = {key: value for key, value in document.items() if key != "digest"}
    content["actions"] = [
        {key: value for key, value in entry.items() if key != "observed"}
        for entry in document["actions"]
    ]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert document["digest"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _invalid(document: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as raised:
        planfile.load(json.dumps(document), path="plan.json")
    return str(raised.value)


def test_a_snapshot_after_an_action_saved_without_one_is_still_checked() -> None:
    document = _document()
    del document["actions"][0]["observed"]
    document["actions"][1]["observed"]["members"][A]["status"] = "Enabled"
    assert _invalid(document) == (
        "plan.json: not a valid saved plan: action 2 (guardduty us-east-1 invite): its observed "
        "state does not match its fingerprint; it was changed after it was saved: make a new plan"
    )


def test_every_account_missing_from_or_added_to_a_snapshot_is_named() -> None:
    document = _document()
    C, D, E = account(3), account(4), account(5)
    members = document["actions"][1]["observed"]["members"]
    del members[B], members[C]
    members[D] = members[E] = None
    assert _invalid(document) == (
        "plan.json: not a valid saved plan: action 2 (guardduty us-east-1 invite): its accounts "
        f"are not those its fingerprint was taken over (not observed: {B}, {C}; observed, not in "
        f"the action: {D}, {E}); it was changed after it was saved: make a new plan"
    )


def test_a_manifest_without_several_of_the_plans_services_and_regions_names_them_all() -> None:
    text, _, _ = _saved_document()
    saved = planfile.load(text, path="plan.json")
    manifest = Manifest(
        source="prod.yaml",
        files=("prod.yaml",),
        digest="",
        administrator_account_id=ADMIN,
        administrator_role_arn=None,
        partition="aws",
        regions=("ap-south-1",),
        services={},
        members=(),
        prune=PruneSettings(),
        members_from=None,
    )
    with pytest.raises(PlanRefused) as refused:
        planfile.scope_of(saved, manifest)
    assert str(refused.value) == (
        "saved plan refused, nothing applied: the plan covers service guardduty, securityhub, "
        "which the manifest prod.yaml does not configure (it configures none); the plan covers "
        "region us-east-1, eu-west-1, which the manifest prod.yaml does not list (it lists "
        "ap-south-1); the manifest changed since the plan was made: make a new plan"
    )
