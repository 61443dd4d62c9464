"""A refused plan is kept whole and rendered, with every rail it breaks (plan, pipeline, report).

Aspects under test (no AWS):
- build_plan's refusal carries the whole plan and one entry per rail broken: a shard over its
  quota (no override) and a prune past ``prune.maxDeletions`` (``--allow-mass-prune``) are
  both named when both happen, in one message;
- the pipeline turns the refusal into a report (status failed) instead of an exception, for a
  dry run and for a real run, which calls nothing but the observation;
- text, markdown and JSON each show the whole refused plan, the reason and the override (or
  that no flag lifts a quota).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler import report
from reconciler.errors import PlanRefused
from reconciler.model import Mode, PruneSettings, Service, ShardObservation
from reconciler.pipeline import RunStatus, run
from reconciler.plan import Refusal, RefusedPlan, build_plan
from tests.factories import (
    GD_EAST,
    SH_EAST,
    ObservingPort,
    account,
    desired_members,
    desired_state,
    observed,
)

PRESENT = [account(i) for i in range(990)]
ADDED = [account(10_000 + i) for i in range(11)]
STRANGERS = [account(20_000 + i) for i in range(3)]
QUOTA_REASON = (
    "it would exceed the service quota (securityhub/us-east-1: 990 members + 11 to create = "
    "1001, over the invitation-mode quota of 1,000)"
)
PRUNE_REASON = (
    "prune would remove 3 accounts, more than prune.maxDeletions (2); check the manifest, or "
    "pass --allow-mass-prune if this is intended"
)


def _world() -> tuple[object, dict[object, ShardObservation]]:
    desired = desired_state(
        {SH_EAST: desired_members([*PRESENT, *ADDED]), GD_EAST: desired_members([])},
        modes={Service("securityhub"): Mode.INVITATION, Service("guardduty"): Mode.INVITATION},
    )
    desired = replace(desired, prune=PruneSettings(enabled=True, max_deletions=2))
    observations = {
        SH_EAST: observed(SH_EAST, dict.fromkeys(PRESENT, "Enabled")),
        GD_EAST: observed(GD_EAST, dict.fromkeys(STRANGERS, "Enabled")),
    }
    return desired, observations  # type: ignore[return-value]


def test_the_refusal_carries_the_whole_plan_and_every_rail() -> None:
    desired, observations = _world()
    with pytest.raises(RefusedPlan) as raised:
        build_plan(desired, observations)  # type: ignore[arg-type]
    refused = raised.value
    assert isinstance(refused, PlanRefused)
    assert refused.refusals == (
        Refusal("quota", QUOTA_REASON, None),
        Refusal("max-deletions", PRUNE_REASON, "--allow-mass-prune"),
    )
    assert str(refused) == f"plan refused, nothing applied: {QUOTA_REASON}; {PRUNE_REASON}"
    created = {a for x in refused.plan.actions if x.step.value == "create" for a in x.account_ids}
    assert created == set(ADDED)
    assert refused.plan.accounts_removed() == frozenset(STRANGERS)


def test_the_override_lifts_only_its_own_rail() -> None:
    desired, observations = _world()
    with pytest.raises(RefusedPlan) as raised:
        build_plan(desired, observations, allow_mass_prune=True)  # type: ignore[arg-type]
    assert [r.rail for r in raised.value.refusals] == ["quota"]


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_pipeline_reports_a_refused_plan_instead_of_raising(dry_run: bool) -> None:
    desired, observations = _world()
    ports = {key: ObservingPort(observation) for key, observation in observations.items()}
    outcome = run(desired, ports, dry_run=dry_run)  # type: ignore[arg-type]
    assert outcome.refused
    assert outcome.status is RunStatus.FAILED
    assert outcome.results is None  # nothing applied, nothing verified
    assert len(outcome.plan.actions) > 0


def _outcome(*, dry_run: bool = True) -> object:
    desired, observations = _world()
    ports = {key: ObservingPort(observation) for key, observation in observations.items()}
    return run(desired, ports, dry_run=dry_run)  # type: ignore[arg-type]


def test_text_shows_the_refusal_and_the_whole_plan() -> None:
    text = report.render_text(_outcome())  # type: ignore[arg-type]
    lines = text.splitlines()
    assert lines[2:7] == [
        "REFUSED: nothing will be applied; the plan breaks a safety rail:",
        f"  ! quota: {QUOTA_REASON}",
        "    no override: no flag lifts an AWS quota",
        f"  ! max-deletions: {PRUNE_REASON}",
        "    override: --allow-mass-prune",
    ]
    for stranger in STRANGERS:
        assert any(line.startswith(f"  - disassociate {stranger}") for line in lines)
    assert lines[-1] == "Refused: nothing will be applied (see the refusal above)."


def test_markdown_shows_the_refusal_and_the_whole_plan() -> None:
    text = report.render_markdown(_outcome())  # type: ignore[arg-type]
    assert (
        "> **Refused: nothing will be applied.** The plan below breaks a safety rail:\n"
        f"> - `quota`: {QUOTA_REASON}. No override: no flag lifts an AWS quota.\n"
        f"> - `max-deletions`: {PRUNE_REASON}. Override: `--allow-mass-prune`.\n"
    ) in text
    assert "- `+ create` securityhub/us-east-1: 11 accounts" in text
    assert f"- `- disassociate` guardduty/us-east-1: {', '.join(f'`{a}`' for a in STRANGERS)}" in (
        text
    )


def test_json_lists_each_rail_with_its_override() -> None:
    document = json.loads(report.render_json(_outcome(dry_run=False)))  # type: ignore[arg-type]
    assert document["refused"] == [
        {"rail": "quota", "reason": QUOTA_REASON, "override": None},
        {"rail": "max-deletions", "reason": PRUNE_REASON, "override": "--allow-mass-prune"},
    ]
    assert "results" not in document
    assert document["summary"]["status"] == "failed"
    assert document["summary"]["to_create"] == 11
