"""Render a run for people (text, in Terraform's spirit) and for machines (JSON, version 1).

Receives the :class:`~reconciler.pipeline.RunReport`; returns a string for stdout. Nothing here
decides anything: the same report gives the same bytes. Emails are masked unless the caller
asks otherwise, and every free text from AWS passes through the credential scrubber.

The JSON document (``--output json``) is a documented, versioned contract
(docs/reference/output.md, "JSON"); change it only by adding keys, or bump ``version``.

A plan refused by a safety rail is rendered whole, like any other, under a refusal that names
each rail, its reason and its override: the pull-request comment of a refused dry run is where
a reviewer sees exactly which accounts a mass prune would have removed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from reconciler.diff import DriftItem, DriftKind
from reconciler.model import ShardKey
from reconciler.pipeline import RunReport, RunStatus
from reconciler.plan import Action, Plan, Refusal
from reconciler.redact import clean
from reconciler.steps import Step, counted
from reconciler.verify import Outcome

JSON_VERSION = 1
MAX_ACCOUNT_LINES_PER_SHARD = 200
# Drift the plan's own +/~ lines already show; listing it again would double every line.
PLANNED_KINDS = frozenset({DriftKind.MISSING, DriftKind.NOT_INVITED, DriftKind.AWAITING_ACCEPTANCE})


def summary(report: RunReport, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    plan = report.plan
    per_step = _accounts_per_step(plan.actions)
    outcomes = Counter(result.outcome for result in report.results or ())
    data: dict[str, Any] = {
        "status": report.status.value,
        "shards": len(plan.shards),
        "blocked_shards": len(plan.blocked),
        "actions": len(plan.actions),
        # to_create, to_invite, ...: each step's count, as the step table declares it.
        **{count.key: per_step[step] for count, step in counted()},
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
        "refused": [
            {"rail": r.rail, "reason": text(r.reason), "override": r.override}
            for r in report.refusals
        ],
        "shards": [
            {
                "service": shard.key.service,
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
                "service": action.key.service,
                "region": action.key.region,
                "operation": action.operation,
                "step": action.step.value,
                "account_ids": list(action.account_ids),
            }
            for action in report.plan.actions
        ],
        "drift": [
            {
                "service": item.key.service,
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
                "service": result.key.service,
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


def render_text(
    report: RunReport, *, mask_emails: bool = True, color: bool = False, target: str | None = None
) -> str:
    """The Terraform-style plan; ``color`` adds ANSI colours (the CLI: TTY and no NO_COLOR).

    ``target`` names what the run talked to when it was not AWS (the sandbox, another
    endpoint), so that a run against a stand-in never reads like one against AWS.
    """
    paint = _Painter(color)
    plan = report.plan
    lines: list[str] = []
    mode = "dry run, nothing will be changed" if report.dry_run else "apply"
    where = f"; {target}" if target else ""
    lines.append(
        paint.bold(
            f"Reconcile plan for administrator {report.desired.administrator_account_id} "
            f"({report.desired.source}; {mode}{where})"
        )
    )
    lines.append("")
    if report.refused:
        lines.append(paint.red(f"REFUSED: {_nothing(report)}; the plan breaks a safety rail:"))
        for refusal in report.refusals:
            lines.append(
                paint.red(f"  ! {refusal.rail}: {clean(refusal.reason, mask=mask_emails)}")
            )
            lines.append(f"    {_override(refusal)}")
        lines.append("")
    drift_of = _drift_by_shard(plan)
    for shard in plan.shards:
        label = f"{shard.key.service} {shard.key.region}"
        if not shard.ready:
            reason = clean(shard.reason or "", mask=mask_emails)
            lines.append(paint.red(f"{label}: BLOCKED: {reason}"))
            continue
        actions = plan.actions_for(shard.key)
        drift = drift_of.get(shard.key, [])
        state = _shard_state(actions, drift)
        lines.append(f"{label}: {state} ({shard.desired} desired, {shard.observed} members in AWS)")
        entries: list[tuple[str, str]] = []
        width = max([len(a.step.value) for a in actions] + [len(d.kind.value) for d in drift] + [6])
        for action in actions:
            for member in action.members:
                email = f" ({member.email})" if member.email else ""
                entries.append(
                    (
                        action.step.symbol,
                        f"  {action.step.symbol} {action.step.value:<{width}} "
                        f"{member.account_id}{email}",
                    )
                )
        for item in drift:
            if item.kind in PLANNED_KINDS:
                continue  # already shown as the + / ~ line that fixes it
            marker = "!" if item.blocking else "?"
            entries.append(
                (marker, f"  {marker} {item.kind.value:<{width}} {item.account_id}: {item.detail}")
            )
        shown = entries[:MAX_ACCOUNT_LINES_PER_SHARD]
        lines.extend(paint.marker(mark, clean(entry, mask=mask_emails)) for mark, entry in shown)
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
            text = f"  x {result.key.service} {result.key.region} {result.account_id}: "
            lines.append(paint.red(clean(text + result.reason, mask=mask_emails)))
    verdict = _verdict(report)
    lines.append(paint.red(verdict) if report.status is RunStatus.FAILED else paint.bold(verdict))
    return "\n".join(lines) + "\n"


def _shard_state(actions: Sequence[Action], drift: Sequence[DriftItem]) -> str:
    """A shard's heading word: what a reader must do about it, not only whether it differs."""
    if actions:
        return "changes"
    if any(item.blocking for item in drift):
        return "needs attention, nothing to apply"
    if drift:
        return "drift to review, nothing to apply"
    return "up to date"


def render_markdown(report: RunReport, *, mask_emails: bool = True) -> str:
    """A compact pull-request comment: a summary table per shard, the actions, the drift.

    Account lists longer than a few entries fold into ``<details>`` so the comment stays
    readable at thousands of members. :func:`render_markdown_parts` splits the same comment
    into numbered parts that each fit in one GitHub comment.
    """
    return _joined(*_markdown_sections(report, mask_emails=mask_emails))


def _joined(summary_lines: list[str], blocks: list[_Block]) -> str:
    """The summary, then each block under its section heading (given once per section)."""
    body = [*summary_lines]
    heading = None
    for block in blocks:
        if block.heading != heading:
            body += ["", block.heading, ""]
            heading = block.heading
        body.append(block.text)
    return "\n".join(body) + "\n"


#: GitHub refuses a comment body over 65,536 characters; each part keeps this much headroom for
#: what a poster adds around it (a marker to find its comment again, a footer with the run).
GITHUB_COMMENT_LIMIT = 65_536
COMMENT_HEADROOM = 1_024
PART_MARKER = "<!-- reconcile-plan part {index} of {count} -->"


def render_markdown_parts(
    report: RunReport, *, mask_emails: bool = True, limit: int = GITHUB_COMMENT_LIMIT
) -> list[str]:
    """The comment of :func:`render_markdown`, as parts of at most ``limit − headroom`` characters.

    One part when it fits. Otherwise the summary (headline, refusal, plan sentence, the table
    per shard) opens part 1, then the actions, drift and failures follow in order, each part
    starting with :data:`PART_MARKER` and a line naming the part; a section cut between parts is
    headed "(continued)". Lengths are counted as GitHub does, in UTF-16 code units.
    """
    budget = limit - COMMENT_HEADROOM
    # Folded lists in chunks small enough that one always fits in a part with the summary
    # (at GitHub's limit, the comment's own chunks: the sections are built once).
    per_item = max(1, min(MARKDOWN_ACCOUNTS_PER_ITEM, budget // 32))
    summary_lines, blocks = _markdown_sections(
        report, mask_emails=mask_emails, accounts_per_item=per_item
    )
    whole = _joined(summary_lines, blocks)
    if _length(whole) <= budget:
        return [whole]
    title = summary_lines[0]
    # Room for the marker and the part line, whose numbers are not known until packed.
    reserve = _length(PART_MARKER.format(index=99_999, count=99_999)) + _length(title) + 64
    parts: list[list[str]] = [[*summary_lines]]
    used = _length("\n".join(summary_lines)) + reserve
    heading: str | None = None
    for block in blocks:
        opens = block.heading != heading
        lines = ["", block.heading, "", block.text] if opens else [block.text]
        size = _length("\n".join(lines)) + 1
        # A block that does not fit opens the next part (part 1 keeps at least the summary).
        if used + size > budget and (len(parts) == 1 or parts[-1]):
            parts.append([])
            used = reserve
            heading_line = block.heading if opens else f"{block.heading} (continued)"
            lines = ["", heading_line, "", block.text]
            size = _length("\n".join(lines)) + 1
        parts[-1] += lines
        used += size
        heading = block.heading
    count = len(parts)
    rendered = []
    for index, lines in enumerate(parts, start=1):
        marker = PART_MARKER.format(index=index, count=count)
        head = [marker] if index == 1 else [marker, f"{title} (part {index} of {count})"]
        note = [f"_Part {index} of {count}: the plan is split to fit GitHub's comment limit._"]
        rendered.append("\n".join([*head, *lines, "", *note]) + "\n")
    return rendered


def _length(text: str) -> int:
    """Characters as GitHub counts them: UTF-16 code units (an emoji may count two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class _Block:
    """One unit of a comment's body that stays whole in one part, under its section heading."""

    heading: str
    text: str


def _markdown_sections(
    report: RunReport, *, mask_emails: bool, accounts_per_item: int | None = None
) -> tuple[list[str], list[_Block]]:
    """The comment's summary lines, and its body as blocks in order."""
    plan = report.plan
    counts = summary(report)
    title = "dry run" if report.dry_run else "apply"
    icon = {"converged": "✅", "changes-pending": "📝", "failed": "❌"}[report.status.value]
    out: list[str] = [
        f"### {icon} reconcile {title}: administrator `{report.desired.administrator_account_id}`",
        "",
    ]
    if report.refused:
        out.append(f"> **Refused: {_nothing(report)}.** The plan below breaks a safety rail:")
        for refusal in report.refusals:
            reason = _md(clean(refusal.reason, mask=mask_emails))
            override = (
                f"Override: `{refusal.override}`."
                if refusal.override
                else "No override: no flag lifts an AWS quota."
            )
            out.append(f"> - `{refusal.rail}`: {reason}. {override}")
        out.append("")
    out += [
        f"**{_plan_sentence(counts, calls=len(plan.actions))}.** {_verdict(report)}",
        "",
        "| service | region | status | desired | in AWS | changes | drift |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    drift_of = _drift_by_shard(plan)
    for shard in plan.shards:
        actions = plan.actions_for(shard.key)
        per_step = _accounts_per_step(actions)
        changes = ", ".join(f"{n} {step.value}" for step, n in sorted(per_step.items())) or "–"
        drift = sum(1 for d in drift_of.get(shard.key, ()) if d.kind not in PLANNED_KINDS)
        status = (
            "ready"
            if shard.ready
            else f"**blocked**: {_md(clean(shard.reason or '', mask=mask_emails))}"
        )
        out.append(
            f"| {shard.key.service} | {shard.key.region} | {status} | {shard.desired} "
            f"| {shard.observed} | {changes} | {drift} |"
        )
    blocks: list[_Block] = []
    grouped: dict[tuple[str, str], list[str]] = {}
    for action in plan.actions:
        label = (f"{action.step.symbol} {action.step.value}", f"{action.key}")
        grouped.setdefault(label, []).extend(action.account_ids)
    for (step, where), accounts in grouped.items():
        items = _md_accounts(f"`{step}` {where}", accounts, accounts_per_item)
        blocks += [_Block("#### Actions", text) for text in items]
    reported = [d for d in plan.drift if d.kind not in PLANNED_KINDS]
    if reported:
        table = "| | service | region | account | kind | detail |\n|---|---|---|---|---|---|"
        rows = [table]
        shown = reported[:MARKDOWN_MAX_DRIFT_ROWS]
        for item in shown:
            mark = "❗" if item.blocking else "ℹ️"
            detail = _md(clean(item.detail, mask=mask_emails))
            rows.append(
                f"| {mark} | {item.key.service} | {item.key.region} | `{item.account_id}` "
                f"| {item.kind.value} | {detail} |"
            )
        if len(reported) > len(shown):
            rows.append(f"\n… and {len(reported) - len(shown)} more (see the JSON output).")
        blocks.append(_Block("#### Drift", "\n".join(rows)))
    if report.results is not None and report.failed_results:
        for result in report.failed_results:
            reason = _md(clean(result.reason, mask=mask_emails))
            blocks.append(
                _Block("#### Failures", f"- `{result.account_id}` {result.key}: {reason}")
            )
    return out, blocks


def _accounts_per_step(actions: Iterable[Action]) -> Counter[Step]:
    per_step: Counter[Step] = Counter()
    for action in actions:
        per_step[action.step] += len(action.members)
    return per_step


def _drift_by_shard(plan: Plan) -> dict[ShardKey, list[DriftItem]]:
    """The plan's drift grouped by shard, in plan order: one pass, not one per shard (which
    made rendering shards × members: 0.5 s after onboarding 10,000 accounts in 8 shards)."""
    grouped: dict[ShardKey, list[DriftItem]] = {}
    for item in plan.drift:
        grouped.setdefault(item.key, []).append(item)
    return grouped


MARKDOWN_INLINE_ACCOUNTS = 5
MARKDOWN_MAX_DRIFT_ROWS = 100


#: Accounts per folded list item: a longer list becomes several items ("accounts 1–1,000 of
#: 10,000"), each whole, so that a comment split into parts never cuts a <details> block.
MARKDOWN_ACCOUNTS_PER_ITEM = 1_000


def _md_accounts(label: str, accounts: list[str], per_item: int | None = None) -> list[str]:
    """The list items of one step in one shard: inline when short, else folded, in chunks."""
    per_item = per_item or MARKDOWN_ACCOUNTS_PER_ITEM
    if len(accounts) <= MARKDOWN_INLINE_ACCOUNTS:
        return [f"- {label}: " + ", ".join(f"`{a}`" for a in accounts)]
    items = []
    total = len(accounts)
    for start in range(0, total, per_item):
        chunk = accounts[start : start + per_item]
        listed = ", ".join(f"`{a}`" for a in chunk)
        which = (
            f"{total} accounts"
            if total <= per_item
            else f"accounts {start + 1:,}–{start + len(chunk):,} of {total:,}"
        )
        items.append(
            f"- {label}: {which}\n  <details><summary>accounts</summary>\n\n"
            f"  {listed}\n\n  </details>"
        )
    return items


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class _Painter:
    """ANSI colours, or nothing: decided once, by the caller, from the terminal and NO_COLOR."""

    CODES: ClassVar[dict[str, str]] = {
        "+": "32",
        "~": "33",
        "±": "33",
        "-": "31",
        "!": "31",
        "?": "36",
    }

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def marker(self, mark: str, text: str) -> str:
        code = self.CODES.get(mark)
        return self._wrap(code, text) if code else text

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def _plan_sentence(counts: Mapping[str, Any], *, calls: int) -> str:
    parts = [
        f"{counts[count.key]} {count.words}"
        for count, _ in counted()
        if count.always or counts[count.key]
    ]
    blocked = counts["blocked_shards"]
    return (
        f"{', '.join(parts)} ({calls} action{'s' if calls != 1 else ''}), {counts['drift']} "
        f"drift ({counts['blocking_drift']} blocking), {blocked} blocked "
        f"shard{'s' if blocked != 1 else ''}"
    )


def _nothing(report: RunReport) -> str:
    return "nothing will be applied" if report.dry_run else "nothing applied"


def _override(refusal: Refusal) -> str:
    if refusal.override:
        return f"override: {refusal.override}"
    return "no override: no flag lifts an AWS quota"


def _verdict(report: RunReport) -> str:
    if report.refused:
        return f"Refused: {_nothing(report)} (see the refusal above)."
    status = report.status
    if status is RunStatus.CHANGES_PENDING:
        return "Changes pending: run without --dry-run to apply them."
    if status is RunStatus.FAILED:
        return "Not converged: see the blocked shards, failures and blocking drift above."
    if report.plan.is_empty:
        return "Everything up to date."
    return "Converged: every change applied and verified."
