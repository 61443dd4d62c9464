"""The Security Hub adapter: is the hub enabled, then its members.

DescribeHub is the probe: it answers 401 InvalidAccessException where Security Hub is not
enabled for the administrator. ``OnlyAssociated`` is a boolean here and defaults to TRUE (only
Enabled members), so we always send False to see every member.
"""

from __future__ import annotations

from typing import Any, ClassVar

from reconciler.aws import operations
from reconciler.aws.base import MemberAdapter
from reconciler.errors import PermanentAwsError
from reconciler.model import DesiredMember, Service

OPERATIONS = operations.declare(
    "securityhub",
    reads=("DescribeHub", "ListMembers", "GetMembers"),
    writes=("CreateMembers", "InviteMembers", "DeleteMembers", "DisassociateMembers"),
    needs={
        "InviteMembers": operations.INVITE,
        "DisassociateMembers": operations.DISASSOCIATE,
        "DeleteMembers": operations.DELETE,
    },
)

NOT_ENABLED_CODES = frozenset({"InvalidAccessException"})


class SecurityHubAdapter(MemberAdapter):
    service: ClassVar[Service] = Service.SECURITYHUB
    status_field: ClassVar[str] = "MemberStatus"
    unprocessed_reason_field: ClassVar[str] = "ProcessingResult"

    def _probe(self) -> str | None:
        try:
            self._call("DescribeHub")
        except PermanentAwsError as exc:
            if exc.code in NOT_ENABLED_CODES:
                return f"Security Hub is not enabled in {self.key.region} for {self.account_id}"
            raise
        return None

    def _list_filter(self) -> dict[str, Any]:
        return {"OnlyAssociated": False}

    def _account_detail(self, member: DesiredMember) -> dict[str, str]:
        detail = {"AccountId": member.account_id}
        if member.email:
            detail["Email"] = member.email
        return detail
