"""The seam between the pipeline and AWS: one small Protocol per shard.

The observer, applier and verifier talk to a :class:`MemberPort` and never to boto3. The real
implementations live in ``reconciler.aws`` (one adapter per service); tests may hand in any
object with these methods. A port is bound to one shard (service × region) of the
administrator account, so its methods take no region or detector arguments.

Ports make no decisions: they translate our value types to API calls and back, raise
:class:`~reconciler.errors.AwsError` subclasses, and return every ``UnprocessedAccounts``
entry untouched for the applier to classify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reconciler.model import (
    DesiredMember,
    InvitationSettings,
    ObservedMember,
    ShardKey,
    ShardObservation,
    UnprocessedAccount,
)


class MemberPort(Protocol):
    """Administrator-side member operations for one shard."""

    @property
    def key(self) -> ShardKey: ...

    def observe(self) -> ShardObservation:
        """Check the prerequisite, then read every member (every page, associated or not)."""
        ...

    def create_members(self, members: Sequence[DesiredMember]) -> list[UnprocessedAccount]:
        """CreateMembers for at most 50 accounts; returns the unprocessed entries."""
        ...

    def invite_members(
        self, account_ids: Sequence[str], settings: InvitationSettings
    ) -> list[UnprocessedAccount]:
        """InviteMembers for at most 50 accounts; returns the unprocessed entries."""
        ...

    def get_members(
        self, account_ids: Sequence[str]
    ) -> tuple[list[ObservedMember], list[UnprocessedAccount]]:
        """GetMembers for at most 50 accounts."""
        ...

    def delete_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        """DeleteMembers for at most 50 accounts."""
        ...

    def disassociate_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        """DisassociateMembers for at most 50 accounts (some services report no entries)."""
        ...

    def start_monitoring_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        """StartMonitoringMembers for at most 50 accounts (where the service has the step)."""
        ...

    def organization_auto_enable(self) -> str | None:
        """The organization's auto-enable setting (NEW, ALL, NONE) where the service's spec
        reads one (``ServiceSpec.auto_enable``); None elsewhere."""
        ...


class AcceptPort(Protocol):
    """Member-side calls: accept the administrator's invitation inside a member account."""

    def accept(self, key: ShardKey, account_id: str, administrator_account_id: str) -> str:
        """Make the member side ready and accept; return what was done, in words.

        Raises :class:`~reconciler.errors.AwsError` or :class:`~reconciler.errors.AcceptError`.
        """
        ...

    def cannot_accept(self, key: ShardKey, account_id: str) -> str | None:
        """Before inviting: why the member side could not accept (with the fix); None if it can.

        Reads only, in the member account; never raises for an AWS error (it is the reason).
        """
        ...
