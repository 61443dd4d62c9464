"""Run the pipeline once: observe → diff/plan → apply → verify, and collect the outcome.

Receives the desired state and one port per shard (the CLI builds both); hands the reporter a
:class:`RunReport`. This module owns the order of the steps and the two safety rules that span
them: the plan is complete (and may be refused) before any mutating call, and with dry-run
nothing after the plan runs at all. Shards are applied and verified in parallel, bounded by
``max_concurrency`` threads for the whole run (one :class:`~reconciler.workers.Workers`, which
the accepts inside each shard share); within a shard, the administrator's calls are sequential
and paced by the shard's bucket.

A plan refused by a safety rail is not an exception past this module: the report carries it,
whole, with the rails it breaks, and nothing of it is applied, so every output format can show
what was refused (a saved plan that no longer holds is still raised: there is no plan to show).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

import structlog

from reconciler import observe, planfile
from reconciler.apply import apply_shard
from reconciler.diff import is_prune_candidate
from reconciler.errors import PlanRefused
from reconciler.invitations import refuse_uninvitable
from reconciler.model import DesiredState, Mode, ShardKey, ShardObservation
from reconciler.observe import observe_all
from reconciler.plan import Plan, Refusal, RefusedPlan, build_plan
from reconciler.planfile import SavedPlan
from reconciler.ports import AcceptPort, MemberPort
from reconciler.progress import NoProgress, Progress
from reconciler.services.registry import spec_of
from reconciler.verify import AccountResult, Outcome, verify_shard
from reconciler.workers import Workers

log = structlog.get_logger("reconciler.pipeline")


class RunStatus(StrEnum):
    """How the run ended; the CLI maps it to an exit code."""

    CONVERGED = "converged"  # nothing to do, or everything applied and verified
    CHANGES_PENDING = "changes-pending"  # dry-run with a non-empty plan
    FAILED = "failed"  # a blocked shard, a failed account, or blocking drift


@dataclass(frozen=True, slots=True)
class RunReport:
    desired: DesiredState
    observations: Mapping[ShardKey, ShardObservation]
    plan: Plan
    dry_run: bool
    results: tuple[AccountResult, ...] | None
    duration_seconds: float
    # The safety rails the plan breaks: then nothing was (or would be) applied, but the plan
    # is kept whole so every output format can show what was refused.
    refusals: tuple[Refusal, ...] = ()

    @property
    def failed_results(self) -> tuple[AccountResult, ...]:
        return tuple(r for r in self.results or () if r.outcome is Outcome.FAILED)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def status(self) -> RunStatus:
        if self.refused:
            return RunStatus.FAILED
        if self.plan.blocked or self.plan.blocking_drift or self.failed_results:
            return RunStatus.FAILED
        if self.dry_run and not self.plan.is_empty:
            return RunStatus.CHANGES_PENDING
        return RunStatus.CONVERGED


def run(
    desired: DesiredState,
    ports: Mapping[ShardKey, MemberPort],
    *,
    dry_run: bool,
    max_concurrency: int = 8,
    acceptor: AcceptPort | None = None,
    allow_mass_prune: bool = False,
    saved: SavedPlan | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """One reconcile run; with ``saved``, apply exactly that reviewed plan, or refuse.

    At most ``max_concurrency`` threads work at once, for the whole run.
    """
    with Workers(max_concurrency) as workers:
        return _run(
            desired,
            ports,
            dry_run=dry_run,
            workers=workers,
            acceptor=acceptor,
            allow_mass_prune=allow_mass_prune,
            saved=saved,
            progress=progress,
        )


def _run(
    desired: DesiredState,
    ports: Mapping[ShardKey, MemberPort],
    *,
    dry_run: bool,
    workers: Workers,
    acceptor: AcceptPort | None,
    allow_mass_prune: bool,
    saved: SavedPlan | None,
    progress: Progress | None,
) -> RunReport:
    started = time.monotonic()
    observations = observe_all(
        ports,
        workers=workers,
        wants_auto_enable=lambda observation: needs_auto_enable(desired, observation),
    )
    if acceptor is not None and not dry_run:
        observations = observe.observe_member_sides(
            desired, observations, acceptor, workers=workers
        )
    # The desired state and the observations live until the run ends, and at 50,000 members
    # they are hundreds of thousands of objects: frozen, the cyclic collector stops rescanning
    # them on every collection that planning and applying trigger (0.1-0.2 s of CPU per run
    # at that size). Unfrozen at the end, so a caller running many reconciles in one process
    # (the tests) gets its memory back.
    gc.freeze()
    try:
        refusals: tuple[Refusal, ...] = ()
        try:
            plan = build_plan(desired, observations, allow_mass_prune=allow_mass_prune)
        except RefusedPlan as refused:
            # Refused as a whole: shown, never applied (nor checked against a saved plan).
            plan, refusals = refused.plan, refused.refusals
            log.warning("plan.refused", rails=[r.rail for r in refusals], dry_run=dry_run)
        if saved is not None and not refusals:
            plan = _saved_plan(desired, observations, plan, saved)
            refuse_uninvitable(plan)
        log.info(
            "plan.built",
            actions=len(plan.actions),
            drift=len(plan.drift),
            blocked=len(plan.blocked),
            dry_run=dry_run,
        )
        results: tuple[AccountResult, ...] | None = None
        if not dry_run and not refusals:
            results = _apply_and_verify(
                desired,
                ports,
                plan,
                workers=workers,
                acceptor=acceptor,
                progress=progress or NoProgress(),
            )
        return RunReport(
            desired=desired,
            observations=observations,
            plan=plan,
            dry_run=dry_run,
            results=results,
            duration_seconds=time.monotonic() - started,
            refusals=refusals,
        )
    finally:
        gc.unfreeze()


def _saved_plan(
    desired: DesiredState,
    observations: Mapping[ShardKey, ShardObservation],
    fresh: Plan,
    saved: SavedPlan,
) -> Plan:
    """The saved actions, if they are still exactly right; PlanRefused otherwise."""
    if planfile.desired_fingerprint(desired) != saved.desired_fingerprint:
        raise PlanRefused(
            "saved plan refused, nothing applied: the manifest (or the Organizations accounts it "
            "selects) changed since the plan was made; make a new plan"
        )
    if fresh.is_empty:
        log.info("plan.saved.already_applied", actions=len(saved.actions))
        return fresh
    stale = planfile.stale_actions(saved, observations)
    if stale:
        changes = planfile.stale_changes(saved, observations)
        if changes is None:  # saved without snapshots: the actions are all we can name
            raise PlanRefused(
                "saved plan refused, nothing applied: " + "; ".join(stale) + "; make a new plan"
            )
        raise PlanRefused(
            "saved plan refused, nothing applied: changed since the plan was made: "
            + "; ".join(_listed(changes))
            + "; make a new plan"
        )
    log.info("plan.saved.valid", actions=len(saved.actions))
    return replace(fresh, actions=saved.actions)


# Enough to see what happened; a refusal over a whole organization stays one readable line.
LISTED_CHANGES = 20


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= LISTED_CHANGES:
        return lines
    return [*lines[:LISTED_CHANGES], f"and {len(lines) - LISTED_CHANGES} more"]


def needs_auto_enable(desired: DesiredState, observation: ShardObservation) -> bool:
    """Whether planning this shard needs the organization's auto-enable setting.

    Only to prune organization members: AWS refuses to disassociate them while auto-enable is
    ALL, and we want to plan that refusal rather than hit it at apply time.
    """
    key = observation.key
    if spec_of(key.service).auto_enable is None or not desired.prune.enabled:
        return False
    if desired.settings_for(key).mode is not Mode.ORGANIZATION:
        return False
    wanted = desired.shards.get(key, {})
    return any(
        is_prune_candidate(
            account,
            wanted,
            administrator_account_id=desired.administrator_account_id,
            prune=desired.prune,
        )
        for account in observation.members
    )


def _apply_and_verify(
    desired: DesiredState,
    ports: Mapping[ShardKey, MemberPort],
    plan: Plan,
    *,
    workers: Workers,
    acceptor: AcceptPort | None,
    progress: Progress,
) -> tuple[AccountResult, ...]:
    keys = sorted({action.key for action in plan.actions})
    if not keys:
        log.info("apply.skipped", reason="everything up to date")
        return ()

    def one_shard(key: ShardKey) -> list[AccountResult]:
        application = apply_shard(
            ports[key],
            plan.actions_for(key),
            desired.settings_for(key),
            administrator_account_id=desired.administrator_account_id,
            acceptor=acceptor,
            workers=workers,
            on_progress=lambda accounts: progress.advance(key, accounts),
        )
        results, _ = verify_shard(ports[key], application)
        return results

    progress.start({key: sum(len(a.account_ids) for a in plan.actions_for(key)) for key in keys})
    try:
        per_shard = workers.map(one_shard, keys)
    finally:
        progress.finish()
    return tuple(result for results in per_shard for result in results)
