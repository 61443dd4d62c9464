"""A saved plan checks itself when it is read back (planfile, no AWS).

Aspects under test:
- a document edited after it was saved is "not a valid saved plan" (an invalid input, exit 3)
  whatever the edit: an account added to or removed from an action, an action removed, an
  email, a step, a service or region changed, the scope, a fingerprint or the digest itself,
  the digest removed, an observed snapshot that no longer matches its fingerprint;
- the check is on content, not bytes: the same document re-indented, its keys reordered, is
  still valid; a document without snapshots (older, or stripped) keeps the action-level
  refusal, as before;
- the scope check: a manifest that no longer configures one of the plan's services, or lists
  one of its regions, is a refused plan that says so (not a ``--service``/``--region`` flag
  the user never passed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from reconciler import planfile
from reconciler.errors import ManifestError, PlanRefused
from reconciler.manifest.values import Manifest
from reconciler.model import Mode, PruneSettings, Service
from reconciler.plan import Action, Step, build_plan
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

A, B, C, D = account(1), account(2), account(3), account(4)
DESIRED = desired_state(
    {GD_EAST: desired_members([A, B, C])}, modes={Service("guardduty"): Mode.INVITATION}
)
BEFORE = {GD_EAST: observed(GD_EAST, {A: "Created"})}


def _saved() -> dict[str, Any]:
    text = planfile.dump(build_plan(DESIRED, BEFORE), desired=DESIRED, observations=BEFORE)
    document: dict[str, Any] = json.loads(text)
    return document


def _invalid(document: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as raised:
        planfile.load(json.dumps(document), path="plan.json")
    message = str(raised.value)
    assert message.startswith("plan.json: not a valid saved plan: "), message
    assert message.endswith("; it was changed after it was saved: make a new plan"), message
    return message


def test_an_untouched_plan_loads() -> None:
    document = _saved()
    assert document["digest"].startswith("sha256:")
    saved = planfile.load(json.dumps(document), path="plan.json")
    assert [a.step.value for a in saved.actions] == ["create", "invite"]


def test_the_check_is_on_content_not_on_bytes() -> None:
    document = _saved()
    reformatted = json.dumps(dict(reversed(list(document.items()))), indent=7)
    assert (
        planfile.load(reformatted, path="plan.json").actions
        == planfile.load(json.dumps(document), path="plan.json").actions
    )


def _add_account(document: dict[str, Any]) -> None:
    document["actions"][0]["members"].append({"account_id": D, "email": email(D)})


def _drop_account(document: dict[str, Any]) -> None:
    document["actions"][1]["members"].pop()


def _swap_account(document: dict[str, Any]) -> None:
    document["actions"][0]["members"][0]["account_id"] = D


EDITS_NAMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "account added",
        _add_account,
        f"action 1 (guardduty us-east-1 create): its accounts are not those its fingerprint "
        f"was taken over (not observed: {D})",
    ),
    (
        "account dropped",
        _drop_account,
        f"action 2 (guardduty us-east-1 invite): its accounts are not those its fingerprint "
        f"was taken over (observed, not in the action: {C})",
    ),
    (
        "account swapped",
        _swap_account,
        f"action 1 (guardduty us-east-1 create): its accounts are not those its fingerprint "
        f"was taken over (not observed: {D}; observed, not in the action: {B})",
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [(e, x) for _, e, x in EDITS_NAMED], ids=[n for n, _, _ in EDITS_NAMED]
)
def test_an_action_whose_accounts_do_not_match_its_fingerprint_is_named(
    edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    document = _saved()
    edit(document)
    assert expected in _invalid(document)


def test_an_observed_state_edited_to_match_the_accounts_still_fails_its_fingerprint() -> None:
    document = _saved()
    _add_account(document)
    document["actions"][0]["observed"]["members"][D] = None
    assert (
        "action 1 (guardduty us-east-1 create): its observed state does not match its fingerprint"
        in _invalid(document)
    )


def test_a_snapshot_edited_alone_does_not_match_its_fingerprint() -> None:
    document = _saved()
    document["actions"][1]["observed"]["members"][A]["status"] = "Enabled"
    assert "action 2 (guardduty us-east-1 invite): its observed state does not match" in (
        _invalid(document)
    )


def test_an_action_outside_the_plans_scope_is_named() -> None:
    document = _saved()
    document["actions"][0]["region"] = "eu-west-1"
    assert (
        "action 1 (guardduty eu-west-1 create): eu-west-1 is not one of the plan's regions"
        in _invalid(document)
    )


def test_an_operation_that_is_not_its_steps_is_named() -> None:
    document = _saved()
    document["actions"][0]["operation"] = "DeleteMembers"
    assert (
        "action 1 (guardduty us-east-1 create): operation DeleteMembers is not the create "
        "step's (CreateMembers)" in _invalid(document)
    )


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        node = document
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return edit


def _remove(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        node = document
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]

    return edit


def _accounts_with_fingerprint(document: dict[str, Any]) -> None:
    # The most careful hand edit: an account added with a snapshot and a fingerprint that agree.
    _add_account(document)
    entry = document["actions"][0]
    entry["observed"]["members"][D] = None
    grown = Action(GD_EAST, Step.CREATE, tuple(desired_members([B, C, D]).values()))
    entry["fingerprint"] = planfile.action_fingerprint(grown, BEFORE)


def _step_and_operation(document: dict[str, Any]) -> None:
    document["actions"][0]["step"] = "delete"
    document["actions"][0]["operation"] = "DeleteMembers"


# Edits that keep each action consistent with its own fingerprint: only the digest sees them.
EDITS_DIGEST: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("email changed", _set(("actions", 0, "members", 0, "email"), "attacker@example.com")),
    ("action removed", lambda d: d["actions"].pop()),
    ("step and operation changed", _step_and_operation),
    ("accounts and fingerprint edited together", _accounts_with_fingerprint),
    ("scope service added", lambda d: d["scope"]["services"].append("securityhub")),
    ("scope region added", lambda d: d["scope"]["regions"].append("eu-west-1")),
    ("desired fingerprint", _set(("desired_fingerprint",), "0" * 64)),
    ("observed fingerprint", _set(("observed_fingerprint",), "0" * 64)),
    ("manifest path", _set(("manifest",), "other.yaml")),
    ("administrator", _set(("administrator",), "999999999999")),
    ("digest changed", _set(("digest",), "sha256:" + "0" * 64)),
    ("refusal marker added", _set(("refused",), [])),
]


@pytest.mark.parametrize("edit", [e for _, e in EDITS_DIGEST], ids=[n for n, _ in EDITS_DIGEST])
def test_any_other_edit_fails_the_digest(edit: Callable[[dict[str, Any]], None]) -> None:
    document = _saved()
    edit(document)
    assert "not a valid saved plan: its content does not match its digest" in _invalid(document)


def test_an_edited_fingerprint_does_not_match_its_observed_state() -> None:
    document = _saved()
    document["actions"][0]["fingerprint"] = "0" * 64
    assert (
        "action 1 (guardduty us-east-1 create): its observed state does not match its fingerprint"
        in _invalid(document)
    )


def test_a_missing_digest_is_named() -> None:
    document = _saved()
    del document["digest"]
    assert "not a valid saved plan: it has no digest" in _invalid(document)


def test_a_plan_without_snapshots_keeps_its_digest_valid() -> None:
    # The snapshots only explain a refusal; the fingerprints they explain are under the digest.
    document = _saved()
    for action in document["actions"]:
        del action["observed"]
    saved = planfile.load(json.dumps(document), path="plan.json")
    assert saved.action_snapshots == (None, None)


def _manifest(services: tuple[Service, ...], regions: tuple[str, ...]) -> Manifest:
    return Manifest(
        source="prod.yaml",
        files=("prod.yaml",),
        digest="",
        administrator_account_id=ADMIN,
        administrator_role_arn=None,
        partition="aws",
        regions=regions,
        services={s: DESIRED.services[Service("guardduty")] for s in services},
        members=(),
        prune=PruneSettings(),
        members_from=None,
    )


def test_the_scope_is_the_plans_when_the_manifest_has_it() -> None:
    saved = planfile.load(json.dumps(_saved()), path="plan.json")
    manifest = _manifest((Service("guardduty"), Service("securityhub")), ("us-east-1", "eu-west-1"))
    assert planfile.scope_of(saved, manifest) == ([Service("guardduty")], ["us-east-1"])


def test_a_manifest_without_one_of_the_plans_services_says_so() -> None:
    desired = desired_state(
        {GD_EAST: desired_members([A]), SH_EAST: desired_members([A])},
    )
    observations = {GD_EAST: observed(GD_EAST), SH_EAST: observed(SH_EAST)}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    saved = planfile.load(text, path="plan.json")
    with pytest.raises(PlanRefused) as refused:
        planfile.scope_of(saved, _manifest((Service("guardduty"),), ("us-east-1",)))
    assert str(refused.value) == (
        "saved plan refused, nothing applied: the plan covers service securityhub, which the "
        "manifest prod.yaml does not configure (it configures guardduty); the manifest changed "
        "since the plan was made: make a new plan"
    )
    assert "--service" not in str(refused.value)


def test_the_services_a_manifest_still_configures_are_listed_in_registry_order() -> None:
    desired = desired_state(
        {GD_EAST: desired_members([A]), SH_EAST: desired_members([A])},
    )
    observations = {GD_EAST: observed(GD_EAST), SH_EAST: observed(SH_EAST)}
    text = planfile.dump(
        build_plan(desired, observations), desired=desired, observations=observations
    )
    saved = planfile.load(text, path="plan.json")
    manifest = _manifest((Service("detective"), Service("guardduty")), ("us-east-1",))
    with pytest.raises(PlanRefused) as refused:
        planfile.scope_of(saved, manifest)
    assert "(it configures guardduty, detective)" in str(refused.value)


def test_a_manifest_without_one_of_the_plans_regions_says_so() -> None:
    saved = planfile.load(json.dumps(_saved()), path="plan.json")
    with pytest.raises(PlanRefused) as refused:
        planfile.scope_of(saved, _manifest((Service("guardduty"),), ("eu-west-1", "eu-west-2")))
    assert str(refused.value) == (
        "saved plan refused, nothing applied: the plan covers region us-east-1, which the "
        "manifest prod.yaml does not list (it lists eu-west-1, eu-west-2); the manifest changed "
        "since the plan was made: make a new plan"
    )
    assert "--region" not in str(refused.value)
