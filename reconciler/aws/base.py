"""What the GuardDuty and Security Hub adapters share.

The two services expose the same member life cycle through differently cased, differently
shaped APIs (see the facts sheet: ``Result`` vs ``ProcessingResult``, ``RelationshipStatus`` vs
``MemberStatus``, a string vs a boolean ``OnlyAssociated``). The subclasses say how; this base
does the calling, the paging and the normalising, so both adapters behave identically where
the services do.

The member lists of ``ListMembers`` and ``GetMembers`` answers are read from the JSON body by
a ``before-parse`` hook, keeping only the three fields we use (account, email, status), and
botocore parses the rest of the answer (``NextToken``, ``UnprocessedAccounts``, errors) as
usual. botocore's shape-driven parser costs about 0.75 ms of CPU per page of 50 members, as
much as the rest of botocore's work for the call: 0.7 s of a 50,000-member dry-run. Anything
unexpected (not a 200, not a JSON object, no list of objects) is left to botocore untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
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
        _install_lean_member_parsing(self._client, self.status_field)

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
        # A shard has a handful of distinct statuses among tens of thousands of members.
        parsed: dict[str, MemberStatus] = {}
        for raw in raw_members:
            raw_status = str(raw.get(self.status_field) or "")
            status = parsed.get(raw_status)
            if status is None:
                status = parsed[raw_status] = MemberStatus.parse(raw_status)
            email = raw.get("Email") or None
            yield ObservedMember(
                account_id=str(raw["AccountId"]),
                email=str(email) if email else None,
                status=status,
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


#: The operations whose member lists the lean parser reads, and the fields it keeps.
LEAN_OPERATIONS = ("ListMembers", "GetMembers")
_LEAN_FIELDS = ("AccountId", "Email")


def _install_lean_member_parsing(client: Any, status_field: str) -> None:
    """Register the lean member-list parser on ``client`` (once per client, however many
    adapters share it)."""
    model = client.meta.service_model
    service_id = model.service_id.hyphenize()
    for operation in LEAN_OPERATIONS:
        output = model.operation_model(operation).output_shape
        members = output.members["Members"]
        fields = tuple(
            (name, members.member.members[name].serialization.get("name", name))
            for name in (*_LEAN_FIELDS, status_field)
        )
        client.meta.events.register(
            f"before-parse.{service_id}.{operation}",
            lean_member_parser(members.serialization.get("name", "Members"), fields),
            unique_id=f"reconciler-lean-members-{operation}",
        )


def lean_member_parser(wire_list: str, fields: tuple[tuple[str, str], ...]) -> Callable[..., None]:
    """A ``before-parse`` handler that takes the member list out of a 200 answer's body.

    ``fields`` pairs each kept field's botocore name with its name on the wire. Like botocore,
    it leaves out a field that is absent or null; unlike botocore it does not copy the fields
    nobody reads (detector id, timestamps, administrator id).
    """

    def handler(
        response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
    ) -> None:
        if response_dict.get("status_code") != 200:
            return
        try:
            document = json.loads(response_dict["body"])
        except (KeyError, TypeError, ValueError):
            return
        if not isinstance(document, dict):
            return
        raw_members = document.get(wire_list)
        if not isinstance(raw_members, list) or not all(isinstance(m, dict) for m in raw_members):
            return
        customized_response_dict["Members"] = [
            {name: raw[wire] for name, wire in fields if raw.get(wire) is not None}
            for raw in raw_members
        ]
        del document[wire_list]
        response_dict["body"] = json.dumps(document).encode()

    return handler
