"""What the GuardDuty and Security Hub adapters share.

The two services expose the same member life cycle through differently cased, differently
shaped APIs (see the facts sheet: ``Result`` vs ``ProcessingResult``, ``RelationshipStatus`` vs
``MemberStatus``, a string vs a boolean ``OnlyAssociated``). The subclasses say how; this base
does the calling, the paging and the normalising, so both adapters behave identically where
the services do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import botocore.exceptions

from reconciler.aws.session import ClientFactory, call, snake_case, translate_error
from reconciler.model import (
    DesiredMember,
    InvitationSettings,
    MemberStatus,
    ObservedMember,
    Service,
    ShardKey,
    ShardObservation,
    UnprocessedAccount,
)

PAGE_SIZE = 50


class MemberAdapter:
    """Administrator-side member calls for one shard; implements ``ports.MemberPort``."""

    service: ClassVar[Service]
    status_field: ClassVar[str]
    unprocessed_reason_field: ClassVar[str]

    def __init__(self, factory: ClientFactory, region: str, *, account_id: str) -> None:
        self._key = ShardKey(self.service, region)
        self._client = factory.client(self.service.value, region)
        self.account_id = account_id

    @property
    def key(self) -> ShardKey:
        return self._key

    # -- hooks for the subclasses -------------------------------------------------------------

    def _probe(self) -> str | None:
        """Check the administrator side; return why the shard is blocked, or None."""
        raise NotImplementedError

    def _scope(self) -> dict[str, Any]:
        """Parameters every member call of this service needs (GuardDuty: the detector)."""
        return {}

    def _list_filter(self) -> dict[str, Any]:
        raise NotImplementedError

    def _account_detail(self, member: DesiredMember) -> dict[str, str]:
        raise NotImplementedError

    def _invite_params(self, settings: InvitationSettings) -> dict[str, Any]:
        return {}

    # -- the port -----------------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return call(
            self._client, operation, service=self.service.value, region=self._key.region, **params
        )

    def observe(self) -> ShardObservation:
        blocked = self._probe()
        if blocked is not None:
            return ShardObservation(self._key, ready=False, reason=blocked)
        members: dict[str, ObservedMember] = {}
        # Streamed page by page: at 50,000 members we keep the normalised members only.
        for page in self._pages("ListMembers", **self._scope(), **self._list_filter()):
            for member in self._normalise(page.get("Members", ())):
                members[member.account_id] = member
        return ShardObservation(self._key, ready=True, members=members)

    def create_members(self, members: Sequence[DesiredMember]) -> list[UnprocessedAccount]:
        reply = self._call(
            "CreateMembers",
            **self._scope(),
            AccountDetails=[self._account_detail(member) for member in members],
        )
        return self._unprocessed(reply)

    def invite_members(
        self, account_ids: Sequence[str], settings: InvitationSettings
    ) -> list[UnprocessedAccount]:
        reply = self._call(
            "InviteMembers",
            **self._scope(),
            AccountIds=list(account_ids),
            **self._invite_params(settings),
        )
        return self._unprocessed(reply)

    def get_members(
        self, account_ids: Sequence[str]
    ) -> tuple[list[ObservedMember], list[UnprocessedAccount]]:
        reply = self._call("GetMembers", **self._scope(), AccountIds=list(account_ids))
        return list(self._normalise(reply.get("Members", ()))), self._unprocessed(reply)

    def delete_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        reply = self._call("DeleteMembers", **self._scope(), AccountIds=list(account_ids))
        return self._unprocessed(reply)

    def disassociate_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        reply = self._call("DisassociateMembers", **self._scope(), AccountIds=list(account_ids))
        return self._unprocessed(reply)

    def start_monitoring_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        raise NotImplementedError(f"{self.service.value} has no StartMonitoringMembers")

    def organization_auto_enable(self) -> str | None:
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _pages(self, operation: str, **params: Any) -> Iterable[dict[str, Any]]:
        paginator = self._client.get_paginator(snake_case(operation))
        iterator = paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE})
        try:
            yield from iterator
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate_error(
                exc, service=self.service.value, region=self._key.region, operation=operation
            ) from exc

    def _normalise(self, raw_members: Iterable[Mapping[str, Any]]) -> Iterable[ObservedMember]:
        for raw in raw_members:
            raw_status = str(raw.get(self.status_field) or "")
            email = raw.get("Email") or None
            yield ObservedMember(
                account_id=str(raw["AccountId"]),
                email=str(email) if email else None,
                status=MemberStatus.parse(raw_status),
                raw_status=raw_status,
            )

    def _unprocessed(self, reply: Mapping[str, Any]) -> list[UnprocessedAccount]:
        # Security Hub may omit the list altogether; GuardDuty always sends it.
        return [
            UnprocessedAccount(
                account_id=str(entry.get("AccountId", "")),
                reason=str(entry.get(self.unprocessed_reason_field) or "no reason given"),
            )
            for entry in reply.get("UnprocessedAccounts") or ()
        ]
