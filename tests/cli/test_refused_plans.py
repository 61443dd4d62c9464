"""A plan refused by a safety rail is still shown, whole, in every output format.

Aspects under test (end to end against the sandbox, a prune past ``prune.maxDeletions``):
- a dry run prints the whole plan (every account the prune would remove) marked refused, with
  the reason and the override (``--allow-mass-prune``), in text, markdown and JSON (which
  validates against the published schema); the markdown also lands in $GITHUB_STEP_SUMMARY;
  the exit code stays 1 (a refused plan), with ``--detailed-exitcode`` too, and the one-line
  error on stderr is unchanged; no mutating call;
- a real run that is refused makes no mutating call and shows the plan it refused;
- ``--out`` saves the refused plan marked refused: ``--plan`` refuses it again (exit 1) before
  any AWS call, naming the reason and the override, instead of applying it or an older file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from tests.cli.conftest import Bed, masked_email, org_account, root_email
from tests.cli.test_lifecycle import prune_manifest, prune_world

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text())
KEPT = 2
REMOVED = [org_account(i) for i in range(KEPT, 12)]
REASON = (
    "prune would remove 10 accounts, more than prune.maxDeletions (3); check the manifest, or "
    "pass --allow-mass-prune if this is intended"
)
ERROR = f"reconcile: error: plan refused, nothing applied: {REASON}"


def _bed(make_bed: Callable[..., Bed]) -> tuple[Bed, Path]:
    bed = make_bed(prune_world())
    return bed, bed.write_manifest(prune_manifest(KEPT, enabled=True, maxDeletions=3))


def test_a_refused_dry_run_prints_the_whole_plan_as_text(make_bed: Callable[..., Bed]) -> None:
    bed, path = _bed(make_bed)
    result = bed.run("--manifest", path, "--dry-run", "--detailed-exitcode")
    assert result.code == 1
    assert result.count(mutating=True) == 0
    assert result.stderr.splitlines()[-1] == ERROR
    lines = result.stdout.splitlines()
    assert lines[2:5] == [
        "REFUSED: nothing will be applied; the plan breaks a safety rail:",
        f"  ! max-deletions: {REASON}",
        "    override: --allow-mass-prune",
    ]
    for account in REMOVED:
        assert f"  - disassociate {account} ({masked_email(root_email(account))})" in lines
        assert f"  - delete       {account} ({masked_email(root_email(account))})" in lines
    assert lines[-1] == "Refused: nothing will be applied (see the refusal above)."


def test_a_refused_dry_run_prints_the_whole_plan_as_markdown(
    make_bed: Callable[..., Bed], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed, path = _bed(make_bed)
    summary_file = bed.tmp / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    result = bed.run("--manifest", path, "--dry-run", "--output", "markdown")
    assert result.code == 1
    assert result.count(mutating=True) == 0
    assert result.stderr.splitlines()[-1] == ERROR
    text = result.stdout
    assert text.startswith("### ❌ reconcile dry run: administrator `111111111111`")
    assert (
        "> **Refused: nothing will be applied.** The plan below breaks a safety rail:\n"
        f"> - `max-deletions`: {REASON}. Override: `--allow-mass-prune`.\n"
    ) in text
    assert "| guardduty | us-east-1 | ready | 2 | 12 | 10 delete, 10 disassociate | 10 |" in text
    listed = ", ".join(f"`{a}`" for a in REMOVED)
    assert "- `- disassociate` guardduty/us-east-1: 10 accounts" in text
    assert text.count(listed) == 3  # guardduty disassociate, delete; securityhub disassociate
    assert summary_file.read_text() == text + "\n"


def test_a_refused_dry_run_prints_the_whole_plan_as_json(make_bed: Callable[..., Bed]) -> None:
    bed, path = _bed(make_bed)
    result = bed.run("--manifest", path, "--dry-run", "--output", "json")
    assert result.code == 1
    assert result.count(mutating=True) == 0
    document = result.json()
    jsonschema.validate(document, SCHEMA)
    assert document["refused"] == [
        {"rail": "max-deletions", "reason": REASON, "override": "--allow-mass-prune"}
    ]
    assert document["summary"]["status"] == "failed"
    removed = {
        (a["service"], a["step"], account)
        for a in document["actions"]
        for account in a["account_ids"]
    }
    assert removed == {
        (service, step, account)
        for service, step in (
            ("guardduty", "disassociate"),
            ("guardduty", "delete"),
            ("securityhub", "disassociate"),
        )
        for account in REMOVED
    }
    # The schema is strict about the new key too.
    broken = {**document, "refused": [{"rail": "other", "reason": "x", "override": None}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    # A plan that is not refused says so too: the key is always there.
    allowed = bed.run("--manifest", path, "--dry-run", "--output", "json", "--allow-mass-prune")
    assert allowed.code == 0
    assert allowed.json()["refused"] == []
    jsonschema.validate(allowed.json(), SCHEMA)


def test_a_refused_apply_changes_nothing_and_shows_the_plan(make_bed: Callable[..., Bed]) -> None:
    bed, path = _bed(make_bed)
    result = bed.run("--manifest", path)
    assert result.code == 1
    assert result.count(mutating=True) == 0
    assert result.stderr.splitlines()[-1] == ERROR
    lines = result.stdout.splitlines()
    assert "apply" in lines[0]
    assert lines[2] == "REFUSED: nothing applied; the plan breaks a safety rail:"
    assert f"  - disassociate {REMOVED[0]} ({masked_email(root_email(REMOVED[0]))})" in lines
    assert "Apply:" not in result.stdout
    assert lines[-1] == "Refused: nothing applied (see the refusal above)."
    assert len(bed.sandbox.state.members("111111111111", "us-east-1", "guardduty")) == 12


def test_a_refused_plan_saved_with_out_is_refused_again(make_bed: Callable[..., Bed]) -> None:
    bed, path = _bed(make_bed)
    plan_file = bed.tmp / "plan.json"
    plan_file.write_text("an older plan, which must not be left to be applied\n")
    made = bed.run("--manifest", path, "--dry-run", "--out", plan_file)
    assert made.code == 1
    saved = json.loads(plan_file.read_text())
    assert saved["refused"] == [
        {"rail": "max-deletions", "reason": REASON, "override": "--allow-mass-prune"}
    ]
    applied = bed.run("--plan", plan_file, "--allow-mass-prune")
    assert applied.code == 1
    assert applied.calls == []
    assert applied.stderr.splitlines()[-1] == (
        "reconcile: error: saved plan refused, nothing applied: the plan was refused when it "
        f"was made ({REASON}); make a new plan (with --allow-mass-prune if this is intended)"
    )


def test_a_plan_made_with_the_override_needs_it_again(make_bed: Callable[..., Bed]) -> None:
    bed, path = _bed(make_bed)
    plan_file = bed.tmp / "plan.json"
    made = bed.run("--manifest", path, "--dry-run", "--out", plan_file, "--allow-mass-prune")
    assert made.code == 0
    assert "refused" not in json.loads(plan_file.read_text())
    without = bed.run("--plan", plan_file)
    assert without.code == 1
    assert without.count(mutating=True) == 0
    assert without.stderr.splitlines()[-1] == ERROR
    assert "REFUSED: nothing applied" in without.stdout
    applied = bed.run("--plan", plan_file, "--allow-mass-prune")
    assert applied.code == 0, applied.stderr
    assert len(bed.sandbox.state.members("111111111111", "us-east-1", "guardduty")) == KEPT
