"""The GuardDuty adapter: the administrator's detector, then its members.

Every GuardDuty member call is scoped to the administrator's detector in the region, so the
probe finds it first (ListDetectors: at most one per account and region) and checks that it is
enabled (GetDetector). ``OnlyAssociated`` is a *string* on this service; without ``"false"``,
Created, Invited and Removed members would be hidden from us.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from reconciler.aws import operations
from reconciler.aws.base import PAGE_SIZE, MemberAdapter
from reconciler.errors import PermanentAwsError
from reconciler.model import DesiredMember, InvitationSettings, Service, UnprocessedAccount

OPERATIONS = operations.declare(
    "guardduty",
    reads=(
        "ListDetectors",
        "GetDetector",
        "ListMembers",
        "GetMembers",
        "DescribeOrganizationConfiguration",
    ),
    writes=(
        "CreateMembers",
        "InviteMembers",
        "DeleteMembers",
        "DisassociateMembers",
        "StartMonitoringMembers",
    ),
    needs={
        "InviteMembers": operations.INVITE,
        "DisassociateMembers": operations.DISASSOCIATE,
        "DeleteMembers": operations.DELETE,
        "DescribeOrganizationConfiguration": operations.PRUNE_ORGANIZATION,
    },
)


class GuardDutyAdapter(MemberAdapter):
    service: ClassVar[Service] = Service.GUARDDUTY
    status_field: ClassVar[str] = "RelationshipStatus"
    unprocessed_reason_field: ClassVar[str] = "Result"

    detector_id: str | None = None

    def _probe(self) -> str | None:
        detector_ids = [
            detector_id
            for page in self._pages("ListDetectors")
            for detector_id in page.get("DetectorIds", ())
        ]
        where = f"in {self.key.region} for {self.account_id}"
        if not detector_ids:
            return f"GuardDuty is not enabled {where} (no detector)"
        self.detector_id = str(detector_ids[0])
        detector = self._call("GetDetector", DetectorId=self.detector_id)
        if str(detector.get("Status", "")).upper() != "ENABLED":
            return f"GuardDuty is not enabled {where} (detector {self.detector_id} is DISABLED)"
        return None

    def _scope(self) -> dict[str, Any]:
        if self.detector_id is None:
            raise RuntimeError("GuardDuty member call before the detector was found (observe)")
        return {"DetectorId": self.detector_id}

    def _list_filter(self) -> dict[str, Any]:
        return {"OnlyAssociated": "false"}

    def _account_detail(self, member: DesiredMember) -> dict[str, str]:
        # The manifest guarantees an email for every GuardDuty member (the model requires it).
        return {"AccountId": member.account_id, "Email": member.email or ""}

    def start_monitoring_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        reply = self._call("StartMonitoringMembers", **self._scope(), AccountIds=list(account_ids))
        return self._unprocessed(reply)

    def organization_auto_enable(self) -> str | None:
        # Read only when prune may disassociate organization members: AWS refuses to while
        # autoEnableOrganizationMembers is ALL, and we would rather plan that than fail on it.
        try:
            reply = self._call("DescribeOrganizationConfiguration", **self._scope())
        except PermanentAwsError as exc:
            if exc.status == 400:
                return None  # not the organization's delegated administrator: no such setting
            raise
        setting = reply.get("AutoEnableOrganizationMembers")
        if setting is None and reply.get("AutoEnable"):
            return "NEW"  # the older boolean form: new accounts only
        return None if setting is None else str(setting)

    def _invite_params(self, settings: InvitationSettings) -> dict[str, Any]:
        params: dict[str, Any] = {"DisableEmailNotification": settings.disable_email_notification}
        if settings.message:
            params["Message"] = settings.message
        return params


__all__ = ["OPERATIONS", "PAGE_SIZE", "GuardDutyAdapter"]
