"""Carry out a shard's planned actions, and record what happened to every account.

Receives one shard's actions from the plan (already batched and ordered), the shard's port and,
when invitations are accepted, the member-side port; hands the verifier a
:class:`ShardApplication`: per account, what was done (or found already done), the last step
that succeeded (whose declared outcome verification checks), or the reason it failed. Each
step's port call, wording, and the AWS texts that mean "already done" are read from its
declaration in ``reconciler.steps``; this module holds the mechanism only.

HTTP 200 does not mean every account succeeded: each ``UnprocessedAccounts`` entry is
classified. "Already a member" / "already invited" (and, when removing, "not a member") means
the work was done before — by an earlier, interrupted run, or by a retried request whose first
answer was lost — so the account counts as done; any other text is a failure of that account,
carrying AWS's own words. A 409 on CreateMembers (one service answers so) is checked rather
than trusted: GetMembers on the batch tells which accounts really are members, and only the
rest are created again, once.

One account's failure never stops the others, and one shard's never stops another's: an account
whose creation failed is simply not invited. Accepting runs in the member accounts, several at a
time (bounded), each paced by the member's own rate limit, once the service's email verification of
the invitations (where it has one) has settled (an invitation does not exist before; one that failed
verification is named then, with its fix). AWS's refusal of the organization's management account
gets the fix added to AWS's words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from reconciler.errors import AcceptError, AwsError, ConflictError
from reconciler.invitations import VERIFICATION_FAILED, settle
from reconciler.model import (
    DesiredMember,
    MemberStatus,
    Mode,
    Service,
    ServiceSettings,
    ShardKey,
    UnprocessedAccount,
)
from reconciler.plan import Action
from reconciler.ports import AcceptPort, MemberPort
from reconciler.services.registry import spec_of
from reconciler.steps import PortCall, Step, already_done, operation_of
from reconciler.workers import SEQUENTIAL, Workers

log = structlog.get_logger("reconciler.apply")


def with_fix(step: Step, reason: str) -> str:
    """AWS's words for a refused account, with the fix when we know one."""
    for known in step.spec.known_refusals:
        if known.matches(reason):
            return f"{reason.rstrip('. ')}; {known.fix}"
    return reason


def is_already_done(step: Step, reason: str, service: Service | None = None) -> bool:
    """Whether AWS's ``reason`` means the step was already done (the step's words, and the
    service's own when ``service`` is given)."""
    text = reason.casefold()
    fragments = step.spec.already_done if service is None else already_done(step, service)
    return any(fragment in text for fragment in fragments)


@dataclass
class AccountProgress:
    """What happened to one account during apply, and what verification must then see."""

    account_id: str
    done: list[str] = field(default_factory=list)
    failure: str | None = None
    # The last step that succeeded on the account: verification checks what it leaves behind.
    step: Step | None = None
    # The status that made the account fail, when apply read it (email verification).
    status: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass
class ShardApplication:
    key: ShardKey
    accounts: dict[str, AccountProgress]
    # The shard's mode: what some steps leave behind depends on it (steps.After.joined).
    mode: Mode

    def progress(self, account_id: str) -> AccountProgress:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = AccountProgress(account_id)
        return found


def apply_shard(
    port: MemberPort,
    actions: Sequence[Action],
    settings: ServiceSettings,
    *,
    administrator_account_id: str = "",
    acceptor: AcceptPort | None = None,
    workers: Workers = SEQUENTIAL,
    on_progress: Callable[[int], None] | None = None,
) -> ShardApplication:
    """Run ``actions`` (one shard's, in plan order) against ``port``.

    Accepts run through ``workers`` (the run's, shared with the other shards: the bound is for
    the whole run). ``on_progress`` is told how many accounts each action covered, as it
    completes.
    """
    application = ShardApplication(port.key, {}, settings.mode)
    accepts: list[Action] = []
    for action in actions:
        if action.step.member_side:
            accepts.append(action)
            continue
        # An account whose earlier step failed goes no further: nothing to invite, to accept.
        members = [m for m in action.members if not application.progress(m.account_id).failed]
        if members:
            _run_batch(port, action.step, members, settings, application)
        if on_progress is not None:
            on_progress(len(action.members))
    if accepts:
        _run_accepts(
            port,
            accepts,
            application,
            acceptor=acceptor,
            administrator_account_id=administrator_account_id,
            workers=workers,
        )
        if on_progress is not None:
            on_progress(len(accepts))
    return application


def _run_batch(
    port: MemberPort,
    step: Step,
    members: Sequence[DesiredMember],
    settings: ServiceSettings,
    application: ShardApplication,
) -> None:
    spec = step.spec
    account_ids = [member.account_id for member in members]
    operation = operation_of(step, port.key.service)
    call = spec.call
    if call is None:  # member-side steps are routed to _run_accepts by apply_shard
        raise TypeError(f"step {step.value} has no administrator-side call")
    try:
        if spec.confirms_conflict:
            unprocessed = _confirming_conflicts(call, port, members, settings)
        else:
            unprocessed = call(port, members, settings)
    except AwsError as exc:
        for account_id in account_ids:
            application.progress(account_id).failure = f"{operation} failed: {exc}"
        log.warning(
            "action.failed",
            service=port.key.service,
            region=port.key.region,
            operation=operation,
            step=step.value,
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
            progress.done.append(spec.past)
        elif is_already_done(step, reason, port.key.service):
            progress.done.append(f"already {spec.past}")
            already += 1
        else:
            progress.failure = f"{operation}: {with_fix(step, reason)}"
            continue
        progress.step = step
    failed = sum(1 for account_id in account_ids if application.progress(account_id).failed)
    log.info(
        "action.applied",
        service=port.key.service,
        region=port.key.region,
        operation=operation,
        step=step.value,
        accounts=len(account_ids),
        already=already,
        failed=failed,
    )


def _run_accepts(
    port: MemberPort,
    accepts: Sequence[Action],
    application: ShardApplication,
    *,
    acceptor: AcceptPort | None,
    administrator_account_id: str,
    workers: Workers,
) -> None:
    key = port.key
    # One member-side step (accept) today, one account per action.
    step = accepts[0].step
    operation = operation_of(step, key.service)
    account_ids = [
        member.account_id
        for action in accepts
        for member in action.members
        if not application.progress(member.account_id).failed
    ]
    # A service that verifies the invitee's email sends the invitation only once it is checked.
    if acceptor is not None and account_ids and spec_of(key.service).email.verified:
        account_ids = _invitations_sent(port, account_ids, application)

    def accept_one(account_id: str) -> tuple[str, str | None, str | None]:
        if acceptor is None:
            return account_id, None, "no member-side access configured"
        try:
            return account_id, acceptor.accept(key, account_id, administrator_account_id), None
        except (AwsError, AcceptError) as exc:
            return account_id, None, str(exc)

    outcomes = workers.map(accept_one, account_ids)
    for account_id, done, failure in outcomes:
        progress = application.progress(account_id)
        if failure is not None:
            progress.failure = f"{operation} in {account_id}: {failure}"
        else:
            progress.done.append(done or step.spec.past)
            progress.step = step
    log.info(
        "action.applied",
        service=key.service,
        region=key.region,
        operation=operation,
        step=step.value,
        accounts=len(account_ids),
        failed=sum(1 for _, _, failure in outcomes if failure is not None),
    )


def _invitations_sent(
    port: MemberPort, account_ids: Sequence[str], application: ShardApplication
) -> list[str]:
    """The accounts whose invitation exists, to accept; the others fail with their status.

    Right after the invitation a member of a service that verifies emails is still in email
    verification, and its invitation does not exist yet: accepting then would fail as "no pending
    invitation", and an email that failed verification would only be named by the next run.
    """
    found, _, _ = settle(port, account_ids)
    ready: list[str] = []
    for account_id in account_ids:
        member = found.get(account_id)
        progress = application.progress(account_id)
        if member is None:
            ready.append(account_id)  # unread (the error was retried): the accept decides
        elif member.status is MemberStatus.EMAIL_VERIFICATION_FAILED:
            progress.failure, progress.status = VERIFICATION_FAILED, member.raw_status
        elif member.status is MemberStatus.EMAIL_VERIFICATION_IN_PROGRESS:
            progress.failure, progress.status = (
                "status EmailVerificationInProgress after waiting for it: the invitation is not "
                "sent yet, so it cannot be accepted; the next run accepts it",
                member.raw_status,
            )
        else:
            ready.append(account_id)
    return ready


def _confirming_conflicts(
    call: PortCall,
    port: MemberPort,
    members: Sequence[DesiredMember],
    settings: ServiceSettings,
) -> list[UnprocessedAccount]:
    """``call``, checking a 409 rather than trusting it (a service's CreateMembers)."""
    try:
        return call(port, members, settings)
    except ConflictError:
        # 409: some of the batch already exist. Ask which, then send only the others, once.
        found, _ = port.get_members([member.account_id for member in members])
        present = {member.account_id for member in found}
        confirmed = [
            UnprocessedAccount(account_id, "already a member (409, confirmed by GetMembers)")
            for account_id in sorted(present)
        ]
        remaining = [member for member in members if member.account_id not in present]
        if not remaining:
            return confirmed
        try:
            return confirmed + call(port, remaining, settings)
        except AwsError as exc:
            return confirmed + [
                UnprocessedAccount(member.account_id, f"retry after 409 failed: {exc}")
                for member in remaining
            ]
