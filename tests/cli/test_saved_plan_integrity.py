"""Saved plans edited by hand, or applied with a manifest that lost part of their scope.

Aspects under test (end to end, ``reconcile --plan`` against the sandbox):
- a plan edited after ``--dry-run --out`` (an account added to an action, an email changed) is
  "not a valid saved plan": exit 3, one line naming the file, no AWS call at all; it is not
  reported as members that changed (exit 1), and an edited email is never applied;
- a manifest that no longer configures one of the plan's services, or lists one of its
  regions, refuses the plan in those words (exit 1, no AWS call), never naming a ``--service``
  or ``--region`` flag the user did not pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli.conftest import Bed, manifest, org_account, root_email

MEMBERS = [org_account(i) for i in range(3)]


def _saved(bed: Bed, data: dict[str, Any]) -> tuple[Path, Path]:
    path = bed.write_manifest(data)
    plan_file = bed.tmp / "plan.json"
    made = bed.run("--manifest", path, "--dry-run", "--out", plan_file)
    assert made.code == 0, made.stderr
    return path, plan_file


def _edit(plan_file: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(plan_file.read_text())
    change(document)
    plan_file.write_text(json.dumps(document, indent=2))


def test_an_account_added_by_hand_is_not_a_valid_saved_plan(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    _, plan_file = _saved(bed, manifest(MEMBERS[:2], regions=["us-east-1"], securityhub=None))
    extra = MEMBERS[2]

    def add(document: dict[str, Any]) -> None:
        document["actions"][0]["members"].append({"account_id": extra, "email": root_email(extra)})

    _edit(plan_file, add)
    result = bed.run("--plan", plan_file)
    assert result.code == 3
    assert result.calls == []
    assert result.stderr.splitlines()[-1] == (
        f"reconcile: error: {plan_file}: not a valid saved plan: action 1 (guardduty us-east-1 "
        f"create): its accounts are not those its fingerprint was taken over (not observed: "
        f"{extra}); it was changed after it was saved: make a new plan"
    )
    assert "members changed" not in result.stderr


def test_an_email_edited_by_hand_is_never_applied(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    data = manifest(MEMBERS[:1], regions=["us-east-1"], guardduty="invitation", securityhub=None)
    _, plan_file = _saved(bed, data)

    def redirect(document: dict[str, Any]) -> None:
        for action in document["actions"]:
            for member in action["members"]:
                member["email"] = "someone-else@example.com"

    _edit(plan_file, redirect)
    result = bed.run("--plan", plan_file)
    assert result.code == 3
    assert result.calls == []
    assert result.stderr.splitlines()[-1] == (
        f"reconcile: error: {plan_file}: not a valid saved plan: its content does not match its "
        "digest; it was changed after it was saved: make a new plan"
    )
    assert "someone-else" not in result.stderr


def test_a_manifest_without_one_of_the_plans_services_says_so(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed()
    path, plan_file = _saved(bed, manifest(MEMBERS, regions=["us-east-1"]))
    bed.write_manifest(manifest(MEMBERS, regions=["us-east-1"], securityhub=None))
    result = bed.run("--plan", plan_file)
    assert result.code == 1
    assert result.calls == []
    assert result.stderr.splitlines()[-1] == (
        "reconcile: error: saved plan refused, nothing applied: the plan covers service "
        f"securityhub, which the manifest {path} does not configure (it configures guardduty); "
        "the manifest changed since the plan was made: make a new plan"
    )
    assert "--service" not in result.stderr


def test_a_manifest_without_one_of_the_plans_regions_says_so(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed()
    path, plan_file = _saved(bed, manifest(MEMBERS, securityhub=None))
    bed.write_manifest(manifest(MEMBERS, regions=["eu-west-1"], securityhub=None))
    result = bed.run("--plan", plan_file)
    assert result.code == 1
    assert result.calls == []
    assert result.stderr.splitlines()[-1] == (
        "reconcile: error: saved plan refused, nothing applied: the plan covers region "
        f"us-east-1, which the manifest {path} does not list (it lists eu-west-1); the manifest "
        "changed since the plan was made: make a new plan"
    )
    assert "--region" not in result.stderr
