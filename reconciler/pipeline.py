"""Run the pipeline once: observe → diff/plan → apply → verify, and collect the outcome.

Receives the desired state and one port per shard (the CLI builds both); hands the reporter a
:class:`RunReport`. This module owns the order of the steps and the two safety rules that span
them: the plan is complete (and may be refused) before any mutating call, and with dry-run
nothing after the plan runs at all. Shards are applied and verified in parallel, bounded by
``max_concurrency``; within a shard, calls are sequential and paced by the shard's bucket.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import structlog

from reconciler.apply import apply_shard
from reconciler.model import DesiredState, ShardKey, ShardObservation
from reconciler.observe import observe_all
from reconciler.plan import Plan, build_plan
from reconciler.ports import MemberPort
from reconciler.verify import AccountResult, Outcome, verify_shard

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

    @property
    def failed_results(self) -> tuple[AccountResult, ...]:
        return tuple(r for r in self.results or () if r.outcome is Outcome.FAILED)

    @property
    def status(self) -> RunStatus:
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
) -> RunReport:
    started = time.monotonic()
    observations = observe_all(ports, max_concurrency=max_concurrency)
    plan = build_plan(desired, observations)
    log.info(
        "plan.built",
        actions=len(plan.actions),
        drift=len(plan.drift),
        blocked=len(plan.blocked),
        dry_run=dry_run,
    )
    results: tuple[AccountResult, ...] | None = None
    if not dry_run:
        results = _apply_and_verify(desired, ports, plan, max_concurrency=max_concurrency)
    return RunReport(
        desired=desired,
        observations=observations,
        plan=plan,
        dry_run=dry_run,
        results=results,
        duration_seconds=time.monotonic() - started,
    )


def _apply_and_verify(
    desired: DesiredState,
    ports: Mapping[ShardKey, MemberPort],
    plan: Plan,
    *,
    max_concurrency: int,
) -> tuple[AccountResult, ...]:
    keys = sorted({action.key for action in plan.actions})
    if not keys:
        log.info("apply.skipped", reason="everything up to date")
        return ()

    def one_shard(key: ShardKey) -> list[AccountResult]:
        settings = desired.settings_for(key)
        application = apply_shard(ports[key], plan.actions_for(key), settings)
        results, _ = verify_shard(ports[key], application, settings.mode)
        return results

    with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        per_shard = list(pool.map(one_shard, keys))
    return tuple(result for results in per_shard for result in results)
