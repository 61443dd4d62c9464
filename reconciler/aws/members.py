"""Member-side calls: accept the administrator's invitation inside each member account.

Invitation mode leaves members in ``Invited`` until someone in the member account accepts.
With ``invitation.accept`` in the manifest, the reconciler does it: it assumes the given role
in the member account (a partition-aware ARN: ``arn:aws-us-gov:iam::…`` in GovCloud), makes
the member side ready (GuardDuty: a detector, created only if ``createMemberDetector`` says so;
Security Hub: the hub enabled, without the default standards, a 409 meaning it already was),
reads every page of ListInvitations and accepts only the invitation that comes from *our*
administrator — never "the last one", which is how the peer scripts accept a stranger's.

Before any invitation goes out (apply runs only), :meth:`MemberAccounts.cannot_accept` reads
the member side of each account about to be invited: the role must be assumable and, for
GuardDuty, a detector must exist or ``createMemberDetector`` allow one; an account that could
not accept is not invited (see ``observe.observe_member_sides``). The session and the detector
found are kept for the accept, which then makes no extra call.

Every member-side write survives a lost answer that botocore retries: a CreateDetector retried
into "a detector already exists" is confirmed by ListDetectors, an EnableSecurityHub retried
into 409 is what we want, an accept retried into "invitationId is not valid" is confirmed by
GetAdministratorAccount.

One assumed session per member account, shared across its services and regions (a role that
cannot be assumed is tried once). Calls made as a member are paced by that member's own
buckets (AWS's limits are per account).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from reconciler.aws import operations
from reconciler.aws.session import ClientFactory, assume_role, call, paginate
from reconciler.errors import AcceptError, AwsError, ConflictError
from reconciler.model import AcceptSettings, Service, ShardKey

OPERATIONS = (
    *operations.declare(
        "guardduty",
        reads=("ListDetectors", "ListInvitations", "GetAdministratorAccount"),
        writes=("CreateDetector", "AcceptAdministratorInvitation"),
        principal="member",
        needs={"CreateDetector": operations.CREATE_MEMBER_DETECTOR},
    ),
    *operations.declare(
        "securityhub",
        reads=("ListInvitations", "GetAdministratorAccount"),
        writes=("EnableSecurityHub", "AcceptAdministratorInvitation"),
        principal="member",
    ),
)


ANSWER_LOST = "accepted (the answer was lost; confirmed by GetAdministratorAccount)"
DETECTOR_ANSWER_LOST = "detector created (the answer was lost; confirmed by ListDetectors)"


class MemberAccounts:
    """Implements ``ports.AcceptPort`` with roles assumed from the administrator's session."""

    def __init__(
        self,
        administrator: ClientFactory,
        *,
        partition: str,
        accept: Mapping[Service, AcceptSettings],
        sts_region: str,
    ) -> None:
        self._administrator = administrator
        self._partition = partition
        self._accept = dict(accept)
        self._sts_region = sts_region
        self._factories: dict[tuple[str, str], ClientFactory] = {}
        # A role that could not be assumed is tried once per run, not once per shard.
        self._refused: dict[tuple[str, str], AwsError] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        # (account, region) → the detectors the pre-invitation check listed, for the accept.
        self._detectors_seen: dict[tuple[str, str], list[str]] = {}

    def role_arn(self, account_id: str, role_name: str) -> str:
        return f"arn:{self._partition}:iam::{account_id}:role/{role_name}"

    def _factory(self, account_id: str, role_name: str) -> ClientFactory:
        key = (account_id, role_name)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # One AssumeRole per member account, even when its shards accept concurrently.
        with lock:
            found = self._factories.get(key)
            if found is None:
                refused = self._refused.get(key)
                if refused is not None:
                    raise refused
                try:
                    found = assume_role(
                        self._administrator,
                        self.role_arn(account_id, role_name),
                        region=self._sts_region,
                        session_name="reconciler-accept",
                    )
                except AwsError as exc:
                    self._refused[key] = exc
                    raise
                self._factories[key] = found
            return found

    def cannot_accept(self, key: ShardKey, account_id: str) -> str | None:
        """Why ``account_id`` could not accept an invitation in ``key``'s shard; None: it can.

        Asked before inviting, so that no invitation email goes out that the accept step would
        then fail on. Reads only: the role is assumed (the session is kept for the accept) and,
        for GuardDuty, the member's detectors are listed (the one found is kept for the accept,
        which then lists nothing again). Security Hub needs nothing more: accepting enables the
        hub in the member when it is not (EnableSecurityHub).
        """
        settings = self._accept.get(key.service)
        if settings is None:
            return None
        role = self.role_arn(account_id, settings.role_name)
        try:
            factory = self._factory(account_id, settings.role_name)
        except AwsError as exc:
            return (
                f"the role {role} cannot be assumed ({exc.code or 'error'}: {exc.aws_message}); "
                "let the administrator assume it (the role's trust policy), or fix "
                "invitation.accept.roleName"
            )
        if key.service is not Service.GUARDDUTY:
            return None
        where = {"service": "guardduty", "region": key.region}
        try:
            detectors = self._detectors(factory.client("guardduty", key.region), where)
        except AwsError as exc:
            return f"its GuardDuty detectors could not be read as {role} ({exc})"
        with self._guard:
            self._detectors_seen[(account_id, key.region)] = detectors
        if detectors or settings.create_member_detector:
            return None
        return self._no_detector(account_id, key.region)

    @staticmethod
    def _no_detector(account_id: str, region: str) -> str:
        return (
            f"{account_id} has no GuardDuty detector in {region}; enable GuardDuty there, or "
            "set invitation.accept.createMemberDetector: true"
        )

    @staticmethod
    def _detectors(client: Any, where: dict[str, str]) -> list[str]:
        return [
            str(detector)
            for page in paginate(client, "ListDetectors", **where)
            for detector in page.get("DetectorIds", ())
        ]

    @classmethod
    def _create_detector(cls, client: Any, where: dict[str, str]) -> tuple[str, str]:
        """CreateDetector in the member; the detector's ID and what was done, in words.

        A CreateDetector whose answer was lost (a read timeout, a cut connection) is retried by
        botocore, and the retry is refused: "a detector already exists for the current
        account", made by the first attempt. The member's own list of detectors decides, as
        GetAdministratorAccount does for a lost accept.
        """
        try:
            reply = call(client, "CreateDetector", **where, Enable=True)
            return str(reply["DetectorId"]), "detector created"
        except AwsError as exc:
            try:
                found = cls._detectors(client, where)
            except AwsError:
                raise exc from None
            if not found:
                raise
            return found[0], DETECTOR_ANSWER_LOST

    def accept(self, key: ShardKey, account_id: str, administrator_account_id: str) -> str:
        settings = self._accept.get(key.service)
        if settings is None:
            raise AcceptError(f"{key.service.value} has no invitation.accept settings")
        factory = self._factory(account_id, settings.role_name)
        client = factory.client(key.service.value, key.region)
        if key.service is Service.GUARDDUTY:
            return self._accept_guardduty(
                client, key, account_id, administrator_account_id, settings
            )
        return self._accept_securityhub(client, key, account_id, administrator_account_id)

    def _accept_guardduty(
        self,
        client: Any,
        key: ShardKey,
        account_id: str,
        administrator_account_id: str,
        settings: AcceptSettings,
    ) -> str:
        where = {"service": "guardduty", "region": key.region}
        done: list[str] = []
        with self._guard:
            seen = self._detectors_seen.pop((account_id, key.region), None)
        detector_ids = seen if seen is not None else self._detectors(client, where)
        if detector_ids:
            detector_id = detector_ids[0]
        elif settings.create_member_detector:
            detector_id, created = self._create_detector(client, where)
            done.append(created)
        else:
            raise AcceptError(self._no_detector(account_id, key.region))
        invitation_id = self._invitation_from(client, where, administrator_account_id)
        if invitation_id is None:
            self._require_administrator(
                client, where, administrator_account_id, account_id, DetectorId=detector_id
            )
            return ", ".join([*done, "already accepted"])
        try:
            call(
                client,
                "AcceptAdministratorInvitation",
                **where,
                DetectorId=detector_id,
                AdministratorId=administrator_account_id,
                InvitationId=invitation_id,
            )
        except AwsError as exc:
            self._accepted_anyway(
                client, where, administrator_account_id, account_id, exc, DetectorId=detector_id
            )
            return ", ".join([*done, ANSWER_LOST])
        return ", ".join([*done, "accepted"])

    def _accept_securityhub(
        self, client: Any, key: ShardKey, account_id: str, administrator_account_id: str
    ) -> str:
        where = {"service": "securityhub", "region": key.region}
        done = "accepted"
        try:
            # Without the default standards: enabling them is a decision for the member's
            # owners, and a frequent complaint about the peer scripts.
            call(client, "EnableSecurityHub", **where, EnableDefaultStandards=False)
            done = "hub enabled, accepted"
        except ConflictError:
            pass  # 409: already subscribed, which is what we need
        invitation_id = self._invitation_from(client, where, administrator_account_id)
        if invitation_id is None:
            self._require_administrator(client, where, administrator_account_id, account_id)
            return "already accepted"
        try:
            call(
                client,
                "AcceptAdministratorInvitation",
                **where,
                AdministratorId=administrator_account_id,
                InvitationId=invitation_id,
            )
        except AwsError as exc:
            self._accepted_anyway(client, where, administrator_account_id, account_id, exc)
            return ANSWER_LOST
        return done

    @staticmethod
    def _invitation_from(
        client: Any, where: dict[str, str], administrator_account_id: str
    ) -> str | None:
        """The pending invitation from our administrator (every page), or None."""
        for page in paginate(client, "ListInvitations", **where):
            for invitation in page.get("Invitations", ()):
                if str(invitation.get("AccountId")) == administrator_account_id:
                    return str(invitation["InvitationId"])
        return None

    @classmethod
    def _accepted_anyway(
        cls,
        client: Any,
        where: dict[str, str],
        administrator_account_id: str,
        account_id: str,
        error: AwsError,
        **scope: str,
    ) -> None:
        """After a failed accept: fine if the member answers to us now, else ``error``.

        An accept whose answer was lost (a read timeout, a cut connection) is retried by
        botocore, and the retry finds the invitation already used: "invitationId is not
        valid", although the first attempt made the member ours. The member's own view
        (GetAdministratorAccount) decides, as it does when no invitation is pending.
        """
        try:
            cls._require_administrator(client, where, administrator_account_id, account_id, **scope)
        except (AcceptError, AwsError):
            raise error from None

    @staticmethod
    def _require_administrator(
        client: Any,
        where: dict[str, str],
        administrator_account_id: str,
        account_id: str,
        **scope: str,
    ) -> None:
        """No invitation is pending: fine if the member already answers to us, else fail.

        That happens when an earlier run accepted and was stopped before verifying, or when an
        organization account was associated directly by CreateMembers.
        """
        reply = call(client, "GetAdministratorAccount", **where, **scope)
        administrator = reply.get("Administrator") or {}
        status = str(
            administrator.get("RelationshipStatus") or administrator.get("MemberStatus") or ""
        )
        if (
            str(administrator.get("AccountId")) == administrator_account_id
            and status.casefold() == "enabled"
        ):
            return
        raise AcceptError(
            f"{account_id} has no pending {where['service']} invitation from "
            f"{administrator_account_id} in {where['region']}"
        )
