"""Check, after apply, that every account the run touched is now what the plan intended.

Receives a shard's :class:`~reconciler.apply.ShardApplication` and its port; hands the report
one :class:`AccountResult` per touched account. GetMembers is called on the accounts the apply
did not already give up on, in batches of the service's size (``ServiceSpec.batch_size``).

What "intended" means is declared per step (``reconciler.steps``, each step's ``after``) and
read here for the last step the applier recorded as done on the account: created or invited, a
status the mode accepts (organization mode: Enabled; invitation mode: Invited,
EmailVerificationInProgress or Enabled); accepted or restarted: Enabled; deleted: gone;
disassociated: Removed or gone. An account that does not match is a failure of the run, named
with its status; EmailVerificationFailed gets its cause spelled out, since it is the first thing
users of the peer scripts get stuck on. A member still in email verification
(EmailVerificationInProgress, where the service verifies emails) right after its invitation is
read again until the verification settles (``reconciler.invitations``), so a failed one is named
by the run that invited it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from reconciler.apply import AccountProgress, ShardApplication
from reconciler.errors import AwsError
from reconciler.invitations import VERIFICATION_FAILED, settle
from reconciler.model import MemberStatus, Mode, ObservedMember, ShardKey
from reconciler.plan import batched
from reconciler.ports import MemberPort
from reconciler.services.registry import spec_of
from reconciler.steps import NOTHING_DONE

log = structlog.get_logger("reconciler.verify")


class Outcome(StrEnum):
    CONVERGED = "converged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AccountResult:
    """The final word on one account the run touched."""

    key: ShardKey
    account_id: str
    outcome: Outcome
    reason: str
    status: str | None = None


def verify_shard(
    port: MemberPort, application: ShardApplication
) -> tuple[list[AccountResult], int]:
    """Results for every account of ``application``; also returns the GetMembers calls made."""
    key = application.key
    results: list[AccountResult] = []
    to_check = sorted(a for a, p in application.accounts.items() if not p.failed)
    for account_id in sorted(a for a, p in application.accounts.items() if p.failed):
        progress = application.accounts[account_id]
        reason = progress.failure or "failed"
        results.append(AccountResult(key, account_id, Outcome.FAILED, reason, progress.status))

    calls = 0
    by_account: dict[str, ObservedMember] = {}
    readable: list[str] = []
    for batch in batched(to_check, spec_of(key.service).batch_size):
        calls += 1
        try:
            found, _ = port.get_members(batch)
        except AwsError as exc:
            results.extend(
                AccountResult(key, a, Outcome.FAILED, f"could not verify: {exc}") for a in batch
            )
            continue
        by_account.update((member.account_id, member) for member in found)
        readable.extend(batch)
    # Invited this run and still in email verification: its outcome is this run's to report.
    verifying = [
        account_id
        for account_id in readable
        if account_id in by_account
        and by_account[account_id].status is MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS
    ]
    if verifying:
        settled, more, _ = settle(port, verifying, known={a: by_account[a] for a in verifying})
        calls += more
        by_account.update(settled)
    for account_id in readable:
        results.append(
            _judge(
                key,
                application.accounts[account_id],
                by_account.get(account_id),
                application.mode,
            )
        )
    results.sort(key=lambda result: result.account_id)
    failed = sum(1 for result in results if result.outcome is Outcome.FAILED)
    log.info(
        "shard.verified",
        service=key.service,
        region=key.region,
        accounts=len(results),
        failed=failed,
    )
    return results, calls


def _judge(
    key: ShardKey, progress: AccountProgress, member: ObservedMember | None, mode: Mode
) -> AccountResult:
    done = ", ".join(progress.done)
    account_id = progress.account_id
    after = progress.step.spec.after if progress.step is not None else NOTHING_DONE
    expect = after.statuses_in(mode)
    if member is None:
        if after.absent_ok:
            return AccountResult(key, account_id, Outcome.CONVERGED, done, None)
        return AccountResult(
            key, account_id, Outcome.FAILED, f"{done}, but not a member afterwards"
        )
    if expect is not None and member.status in expect:
        return AccountResult(key, account_id, Outcome.CONVERGED, done, member.raw_status)
    reason = _explain(member, expect)
    return AccountResult(key, account_id, Outcome.FAILED, reason, member.raw_status)


def _explain(member: ObservedMember, expected: frozenset[MemberStatus] | None) -> str:
    if member.status is MemberStatus.EMAIL_VERIFICATION_FAILED:
        return VERIFICATION_FAILED
    if expected is None:
        return f"still a member ({member.raw_status}) after it was removed"
    wanted = " or ".join(sorted(status.value for status in expected))
    return f"status {member.raw_status or 'unknown'} after apply; expected {wanted}"
