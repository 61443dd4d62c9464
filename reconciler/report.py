"""Render a run for people (text, in Terraform's spirit) and for machines (JSON, version 1).

Receives the :class:`~reconciler.pipeline.RunReport`; returns a string for stdout. Nothing here
decides anything: the same report gives the same bytes. Emails are masked unless the caller
asks otherwise, and every free text from AWS passes through the credential scrubber.

The JSON document (``--output json``) is a documented, versioned contract (README: "JSON
output"); change it only by adding keys, or bump ``version``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from reconciler.diff import DriftKind
from reconciler.pipeline import RunReport, RunStatus
from reconciler.plan import Step
from reconciler.redact import clean
from reconciler.verify import Outcome

JSON_VERSION = 1
MAX_ACCOUNT_LINES_PER_SHARD = 200
# Drift the plan's own +/~ lines already show; listing it again would double every line.
PLANNED_KINDS = frozenset({DriftKind.MISSING, DriftKind.NOT_INVITED, DriftKind.AWAITING_ACCEPTANCE})


def summary(report: RunReport, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    plan = report.plan
    per_step = Counter(action.step for action in plan.actions for _ in action.account_ids)
    outcomes = Counter(result.outcome for result in report.results or ())
    data: dict[str, Any] = {
        "status": report.status.value,
        "shards": len(plan.shards),
        "blocked_shards": len(plan.blocked),
        "actions": len(plan.actions),
        "to_create": per_step[Step.CREATE],
        "to_invite": per_step[Step.INVITE],
        "to_repair": per_step[Step.DELETE_FOR_REPAIR],
        "to_restart": per_step[Step.START_MONITORING],
        "to_accept": per_step[Step.ACCEPT],
        "to_remove": per_step[Step.DISASSOCIATE],
        "drift": sum(1 for item in plan.drift if item.kind not in PLANNED_KINDS),
        "blocking_drift": len(plan.blocking_drift),
        "desired_members": sum(shard.desired for shard in plan.shards),
        "observed_members": sum(shard.observed for shard in plan.shards),
    }
    if report.results is not None:
        data["converged"] = outcomes[Outcome.CONVERGED]
        data["failed"] = outcomes[Outcome.FAILED]
    data["duration_seconds"] = round(report.duration_seconds, 3)
    if extra:
        data.update(extra)
    return data


def render_json(
    report: RunReport, *, mask_emails: bool = True, extra: Mapping[str, Any] | None = None
) -> str:
    def text(value: str | None) -> str | None:
        return None if value is None else clean(value, mask=mask_emails)

    document: dict[str, Any] = {
        "version": JSON_VERSION,
        "dry_run": report.dry_run,
        "administrator": report.desired.administrator_account_id,
        "manifest": report.desired.source,
        "shards": [
            {
                "service": shard.key.service.value,
                "region": shard.key.region,
                "status": "ready" if shard.ready else "blocked",
                "reason": text(shard.reason),
                "desired": shard.desired,
                "observed": shard.observed,
            }
            for shard in report.plan.shards
        ],
        "actions": [
            {
                "service": action.key.service.value,
                "region": action.key.region,
                "operation": action.operation,
                "step": action.step.value,
                "account_ids": list(action.account_ids),
            }
            for action in report.plan.actions
        ],
        "drift": [
            {
                "service": item.key.service.value,
                "region": item.key.region,
                "account_id": item.account_id,
                "kind": item.kind.value,
                "detail": text(item.detail),
                "blocking": item.blocking,
            }
            for item in report.plan.drift
        ],
    }
    if report.results is not None:
        document["results"] = [
            {
                "service": result.key.service.value,
                "region": result.key.region,
                "account_id": result.account_id,
                "outcome": result.outcome.value,
                "reason": text(result.reason),
                "status": result.status,
            }
            for result in report.results
        ]
    document["summary"] = summary(report, extra)
    return json.dumps(document, indent=2) + "\n"


def render_text(report: RunReport, *, mask_emails: bool = True) -> str:
    plan = report.plan
    lines: list[str] = []
    mode = "dry run, nothing will be changed" if report.dry_run else "apply"
    lines.append(
        f"Reconcile plan for administrator {report.desired.administrator_account_id} "
        f"({report.desired.source}; {mode})"
    )
    lines.append("")
    for shard in plan.shards:
        label = f"{shard.key.service.value} {shard.key.region}"
        if not shard.ready:
            lines.append(f"{label}: BLOCKED: {clean(shard.reason or '', mask=mask_emails)}")
            continue
        actions = plan.actions_for(shard.key)
        drift = [item for item in plan.drift if item.key == shard.key]
        state = "up to date" if not actions and not drift else "changes"
        lines.append(f"{label}: {state} ({shard.desired} desired, {shard.observed} members in AWS)")
        entries: list[str] = []
        for action in actions:
            for member in action.members:
                email = f" ({member.email})" if member.email else ""
                entries.append(
                    f"  {action.step.symbol} {action.step.value:<17} {member.account_id}{email}"
                )
        for item in drift:
            if item.kind in PLANNED_KINDS:
                continue  # already shown as the + / ~ line that fixes it
            marker = "!" if item.blocking else "?"
            entries.append(f"  {marker} {item.kind.value:<17} {item.account_id}: {item.detail}")
        shown = entries[:MAX_ACCOUNT_LINES_PER_SHARD]
        lines.extend(clean(entry, mask=mask_emails) for entry in shown)
        if len(entries) > len(shown):
            lines.append(
                f"  … and {len(entries) - len(shown)} more lines (the full list: --output json)"
            )
    counts = summary(report)
    lines.append("")
    lines.append(f"Plan: {_plan_sentence(counts, calls=len(plan.actions))}.")
    if report.results is not None:
        failed = report.failed_results
        lines.append(f"Apply: {counts['converged']} converged, {counts['failed']} failed.")
        for result in failed:
            lines.append(
                clean(
                    f"  x {result.key.service.value} {result.key.region} {result.account_id}: "
                    f"{result.reason}",
                    mask=mask_emails,
                )
            )
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


def _plan_sentence(counts: Mapping[str, Any], *, calls: int) -> str:
    parts = [f"{counts['to_create']} to create", f"{counts['to_invite']} to invite"]
    for key, words in (
        ("to_repair", "to re-create"),
        ("to_restart", "to restart"),
        ("to_accept", "to accept"),
        ("to_remove", "to remove"),
    ):
        if counts[key]:
            parts.append(f"{counts[key]} {words}")
    blocked = counts["blocked_shards"]
    return (
        f"{', '.join(parts)} ({calls} action{'s' if calls != 1 else ''}), {counts['drift']} "
        f"drift ({counts['blocking_drift']} blocking), {blocked} blocked "
        f"shard{'s' if blocked != 1 else ''}"
    )


def _verdict(report: RunReport) -> str:
    status = report.status
    if status is RunStatus.CHANGES_PENDING:
        return "Changes pending: run without --dry-run to apply them."
    if status is RunStatus.FAILED:
        return "Not converged: see the blocked shards, failures and blocking drift above."
    if report.plan.is_empty:
        return "Everything up to date."
    return "Converged: every change applied and verified."
