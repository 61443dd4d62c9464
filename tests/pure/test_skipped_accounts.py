"""Organization accounts that are not ACTIVE are skipped (issue 13, point 15): the pure half.

``DesiredState.skipped`` holds the accounts ``membersFrom`` selected that AWS Organizations
reports suspended, closing or closed. The differ reports each, per shard, as a non-blocking
``skipped`` item, and never counts one as unmanaged: with prune on, a suspended account that
Security Hub still lists as Enabled is not removed.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.diff import DriftKind, diff_shard
from reconciler.model import PruneSettings, Service
from reconciler.plan import build_plan
from tests.factories import ADMIN, SH_EAST, account, desired_members, desired_state, observed

ACTIVE, SUSPENDED, CLOSED, STRANGER = (account(n) for n in range(4))
PRUNE = PruneSettings(enabled=True)


def test_skipped_accounts_are_reported_and_never_pruned() -> None:
    desired = desired_state({SH_EAST: desired_members([ACTIVE])})
    observation = observed(SH_EAST, {ACTIVE: "Enabled", SUSPENDED: "Enabled", STRANGER: "Enabled"})
    skipped = {SUSPENDED: "SUSPENDED", CLOSED: "CLOSED"}
    difference = diff_shard(
        desired.shards[SH_EAST],
        observation,
        desired.services[Service("securityhub")],
        administrator_account_id=ADMIN,
        prune=PRUNE,
        skipped=skipped,
    )
    assert difference.prune == (STRANGER,)
    items = {(i.account_id, i.kind): i for i in difference.items}
    suspended = items[SUSPENDED, DriftKind.SKIPPED]
    assert suspended.detail == (
        "SUSPENDED in AWS Organizations, a member in AWS (Enabled): left alone, neither "
        "enrolled again nor removed"
    )
    assert items[CLOSED, DriftKind.SKIPPED].detail == "CLOSED in AWS Organizations: not enrolled"
    assert not suspended.blocking
    assert suspended.key == SH_EAST
    assert (SUSPENDED, DriftKind.UNMANAGED) not in items


def test_the_plan_passes_the_skipped_accounts_to_the_differ() -> None:
    desired = replace(
        desired_state({SH_EAST: desired_members([ACTIVE])}),
        prune=PRUNE,
        skipped={SUSPENDED: "SUSPENDED"},
    )
    plan = build_plan(desired, {SH_EAST: observed(SH_EAST, {SUSPENDED: "Enabled"})})
    assert {a for action in plan.actions for a in action.account_ids} == {ACTIVE}
    assert [(d.account_id, d.kind) for d in plan.drift if d.account_id == SUSPENDED] == [
        (SUSPENDED, DriftKind.SKIPPED)
    ]
