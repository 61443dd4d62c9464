"""Read every shard's current membership from AWS, shards in parallel.

Receives the desired state (which shards are in scope) and one :class:`~reconciler.ports.MemberPort`
per shard; hands the planner one :class:`~reconciler.model.ShardObservation` per shard. Each
list is read once, every page, whatever the run does next.

A shard that cannot be observed (the service is not enabled for the administrator there, the
region is an opt-in region the account has not enabled, an AWS error survived the retries) is
recorded as *blocked* with the reason, and the other shards go on: one bad region must not
hide the state of the rest, as it does in the peer scripts.

With ``invitation.accept`` set, an apply run also reads the member side of every account it is
about to invite (:func:`observe_member_sides`): an invitation is an email to a root address,
and it goes out only once the member account can accept it. A dry run does not: it never
assumes a member role (the member role can write, and a read-only plan job must not hold it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import structlog

from reconciler.diff import diff_shard
from reconciler.errors import AwsError, RegionNotEnabledError
from reconciler.model import DesiredState, Mode, ShardKey, ShardObservation
from reconciler.ports import AcceptPort, MemberPort
from reconciler.workers import Workers

log = structlog.get_logger("reconciler.observe")


def observe_shard(
    port: MemberPort, *, wants_auto_enable: Callable[[ShardObservation], bool] | None = None
) -> ShardObservation:
    """One shard's observation; AWS failures become a blocked shard, never an exception.

    ``wants_auto_enable`` says, given the members just read, whether the plan will need the
    organization's auto-enable setting (only prune of organization members, in a service
    whose spec reads that setting, does);
    it is read then, and only then, so a converged run spends no call on it.
    """
    key = port.key
    try:
        observation = port.observe()
        if observation.ready and wants_auto_enable is not None and wants_auto_enable(observation):
            observation = replace(observation, auto_enable=port.organization_auto_enable())
    except RegionNotEnabledError as exc:
        observation = ShardObservation(
            key,
            ready=False,
            reason=f"region not enabled for this account ({exc.code}): {key.region} is an "
            "opt-in region; enable it in the account settings or remove it from the manifest",
        )
    except AwsError as exc:
        observation = ShardObservation(key, ready=False, reason=str(exc))
    log.info(
        "shard.observed",
        service=key.service,
        region=key.region,
        ready=observation.ready,
        reason=observation.reason,
        members=len(observation.members),
    )
    return observation


def observe_all(
    ports: Mapping[ShardKey, MemberPort],
    *,
    workers: Workers,
    wants_auto_enable: Callable[[ShardObservation], bool] | None = None,
) -> dict[ShardKey, ShardObservation]:
    """Observe every shard, as many at a time as the run's ``workers`` allow."""
    keys = sorted(ports)
    observed = workers.map(
        lambda key: observe_shard(ports[key], wants_auto_enable=wants_auto_enable), keys
    )
    return dict(zip(keys, observed, strict=True))


def observe_member_sides(
    desired: DesiredState,
    observations: Mapping[ShardKey, ShardObservation],
    acceptor: AcceptPort,
    *,
    workers: Workers,
) -> dict[ShardKey, ShardObservation]:
    """``observations`` with, per shard that accepts, the invitees that could not accept.

    The invitees are the accounts the plan would invite (the differ decides, as it will for
    the plan); only they are read, so a converged run makes no call here. Member accounts are
    read several at a time, each paced by its own limits.
    """
    candidates: list[tuple[ShardKey, str]] = []
    for key in sorted(observations):
        observation = observations[key]
        settings = desired.services.get(key.service)
        if (
            settings is None
            or settings.mode is not Mode.INVITATION
            or settings.accept is None
            or not observation.ready
            or key not in desired.shards
        ):
            continue
        difference = diff_shard(
            desired.shards[key],
            observation,
            settings,
            administrator_account_id=desired.administrator_account_id,
            prune=desired.prune,
            skipped=desired.skipped,
        )
        candidates.extend((key, account) for account in difference.invitees)
    if not candidates:
        return dict(observations)
    reasons = workers.map(lambda c: acceptor.cannot_accept(*c), candidates)
    blocked: dict[ShardKey, dict[str, str]] = {}
    for (key, account), reason in zip(candidates, reasons, strict=True):
        if reason is not None:
            blocked.setdefault(key, {})[account] = reason
    for key, accounts in sorted(blocked.items()):
        log.warning(
            "member_side.cannot_accept",
            service=key.service,
            region=key.region,
            accounts=len(accounts),
        )
    return {
        key: replace(observation, cannot_accept=blocked[key]) if key in blocked else observation
        for key, observation in observations.items()
    }
