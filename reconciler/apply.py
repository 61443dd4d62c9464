"""Carry out a shard's planned actions, and record what happened to every account.

Receives one shard's actions from the plan (already batched and ordered) and the shard's port;
hands the verifier an :class:`ShardApplication`: per account, the operations that succeeded or
found the work already done, or the reason it failed.

HTTP 200 does not mean every account succeeded: each ``UnprocessedAccounts`` entry is
classified. "Already a member" / "already invited" means the work was done before (by an
earlier, interrupted run, or by a retried request whose first answer was lost), so the account
counts as converged; any other text is a failure of that account, carrying AWS's own words.
Security Hub's 409 on CreateMembers is checked rather than trusted: GetMembers on the batch
tells which accounts really are members, and only the rest are created again, once.

One account's failure never stops the others, and one shard's never stops another shard's:
an account that failed to be created is simply not invited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from reconciler.errors import AwsError, ConflictError
from reconciler.model import (
    DesiredMember,
    ServiceSettings,
    ShardKey,
    UnprocessedAccount,
)
from reconciler.plan import Action, Operation
from reconciler.ports import MemberPort

log = structlog.get_logger("reconciler.apply")

# Lower-case fragments of AWS's free-text results that mean "this was already done". The
# strings are undocumented and may change: anything we do not recognise is a failure.
ALREADY_DONE: dict[Operation, tuple[str, ...]] = {
    Operation.CREATE_MEMBERS: (
        "already a member",
        "already an associated member",
        "already associated",
        "already exists",
    ),
    Operation.INVITE_MEMBERS: (
        "already invited",
        "already the guardduty master",
        "already the guardduty administrator",
        "already the administrator",
        "already a member",
        "already associated",
    ),
}


def is_already_done(operation: Operation, reason: str) -> bool:
    text = reason.casefold()
    return any(fragment in text for fragment in ALREADY_DONE[operation])


@dataclass
class AccountProgress:
    """What happened to one account during apply."""

    account_id: str
    done: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass
class ShardApplication:
    key: ShardKey
    accounts: dict[str, AccountProgress]
    calls: int = 0

    def progress(self, account_id: str) -> AccountProgress:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = AccountProgress(account_id)
        return found


def apply_shard(
    port: MemberPort, actions: Sequence[Action], settings: ServiceSettings
) -> ShardApplication:
    """Run ``actions`` (one shard's, in plan order) against ``port``."""
    application = ShardApplication(port.key, {})
    for action in actions:
        # An account whose creation failed is not invited: there is nothing to invite.
        members = [m for m in action.members if not application.progress(m.account_id).failed]
        if not members:
            continue
        _run_action(port, action.operation, members, settings, application)
    return application


def _run_action(
    port: MemberPort,
    operation: Operation,
    members: Sequence[DesiredMember],
    settings: ServiceSettings,
    application: ShardApplication,
) -> None:
    account_ids = [member.account_id for member in members]
    try:
        application.calls += 1
        if operation is Operation.CREATE_MEMBERS:
            unprocessed = _create(port, members, application)
        else:
            unprocessed = port.invite_members(account_ids, settings.invitation)
    except AwsError as exc:
        for account_id in account_ids:
            application.progress(account_id).failure = f"{operation.value} failed: {exc}"
        log.warning(
            "action.failed",
            service=port.key.service.value,
            region=port.key.region,
            operation=operation.value,
            accounts=len(account_ids),
            error=str(exc),
        )
        return

    rejected = {entry.account_id: entry.reason for entry in unprocessed}
    already = 0
    for account_id in account_ids:
        progress = application.progress(account_id)
        reason = rejected.get(account_id)
        if reason is None:
            progress.done.append(operation.verb + "d")
        elif is_already_done(operation, reason):
            progress.done.append(f"already {operation.verb}d")
            already += 1
        else:
            progress.failure = f"{operation.value}: {reason}"
    failed = sum(1 for account_id in account_ids if application.progress(account_id).failed)
    log.info(
        "action.applied",
        service=port.key.service.value,
        region=port.key.region,
        operation=operation.value,
        accounts=len(account_ids),
        already=already,
        failed=failed,
    )


def _create(
    port: MemberPort, members: Sequence[DesiredMember], application: ShardApplication
) -> list[UnprocessedAccount]:
    try:
        return port.create_members(members)
    except ConflictError:
        # 409: some of the batch already exist. Ask which, then create only the others, once.
        application.calls += 1
        found, _ = port.get_members([member.account_id for member in members])
        present = {member.account_id for member in found}
        confirmed = [
            UnprocessedAccount(account_id, "already a member (409, confirmed by GetMembers)")
            for account_id in sorted(present)
        ]
        remaining = [member for member in members if member.account_id not in present]
        if not remaining:
            return confirmed
        application.calls += 1
        try:
            return confirmed + port.create_members(remaining)
        except AwsError as exc:
            return confirmed + [
                UnprocessedAccount(member.account_id, f"retry after 409 failed: {exc}")
                for member in remaining
            ]
