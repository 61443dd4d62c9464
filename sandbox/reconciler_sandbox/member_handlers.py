"""The classic member API's handlers, written once for the services that share it.

``membership`` holds the life cycle; what each handler adds around it (check that the caller
may call, run one life-cycle step, shape the answer) is the same in those services but for
names: the member naming a relationship's status and the one naming why an account was left
unprocessed, how a bad pagination token is worded, how a member record is rendered. A
:class:`MemberApi` carries those names, and its methods are the services' handlers, so a fix
to one service's member handlers cannot miss another's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler_sandbox import membership
from reconciler_sandbox.context import (
    CallContext,
    Handler,
    Params,
    decode_token,
    encode_token,
    paginate_keys,
)
from reconciler_sandbox.membership import Flavor, Unprocessed
from reconciler_sandbox.records import Invitation, Member, ServiceRegion, invitation_id
from reconciler_sandbox.wire import ApiError

MemberFilter = Callable[[Member], bool]


@dataclass(frozen=True, slots=True)
class MemberApi:
    """What differs between the services' member handlers on the wire."""

    flavor: Flavor
    # Raises the service's error unless the caller may make a member call (it owns the
    # resource named in the path, or its resource is enabled); else the caller's shard.
    check: Callable[[CallContext, Params], ServiceRegion]
    # Whether ListInvitations is checked too (not when it names no resource to check).
    check_list_invitations: bool
    # The member naming a relationship's status, and the one naming why an account was
    # left unprocessed.
    status_field: str
    result_field: str
    bad_token: Callable[[], ApiError]
    # One member record as the caller (its administrator) sees it.
    render_member: Callable[[CallContext, Member], Params]
    # ListMembers' OnlyAssociated: the filter it asks for (None: every member), or the
    # service's error for a value it does not accept.
    only_associated: Callable[[Params], MemberFilter | None]
    # The members of a ListInvitations entry in the order each service writes them.
    invitation_fields: tuple[str, str, str, str]

    def handlers(self) -> dict[str, Handler]:
        """The member operations of the classic member API, by operation name."""
        return {
            "CreateMembers": self.create_members,
            "InviteMembers": self.invite_members,
            "ListMembers": self.list_members,
            "GetMembers": self.get_members,
            "DisassociateMembers": self.disassociate_members,
            "DeleteMembers": self.delete_members,
            "ListInvitations": self.list_invitations,
            "AcceptAdministratorInvitation": self.accept_administrator_invitation,
            "AcceptInvitation": self.accept_invitation,
            "GetAdministratorAccount": self.get_administrator_account,
            "GetMasterAccount": self.get_master_account,
            "DisassociateFromAdministratorAccount": self.disassociate_from_administrator_account,
            "DisassociateFromMasterAccount": self.disassociate_from_administrator_account,
        }

    def token(self, token: str | None) -> str | None:
        """The key a NextToken resumes after, or the service's error for a foreign token."""
        try:
            return decode_token(token)
        except ValueError:
            raise self.bad_token() from None

    def _unprocessed(self, entries: Unprocessed) -> list[Params]:
        return [{"AccountId": account, self.result_field: reason} for account, reason in entries]

    def _answer_unprocessed(self, entries: Unprocessed) -> Params:
        return {"UnprocessedAccounts": self._unprocessed(entries)}

    def _administrator(self, ctx: CallContext) -> Params | None:
        found = membership.administrator_of(ctx.state, self.flavor, ctx.account, ctx.region)
        if found is None:
            return None
        admin, record = found
        out: Params = {"AccountId": admin, self.status_field: record.status}
        if record.invited_at is not None:
            out["InvitedAt"] = record.invited_at
            out["InvitationId"] = invitation_id(
                self.flavor.service, ctx.region, admin, ctx.account, record.invited_at
            )
        return out

    def _invitation(self, admin: str, invitation: Invitation) -> Params:
        values: Params = {
            "AccountId": admin,
            "InvitationId": invitation.invitation_id,
            "InvitedAt": invitation.invited_at,
            self.status_field: "Invited",
        }
        return {name: values[name] for name in self.invitation_fields}

    # ----------------------------------------------------------------------------------------
    # Administrator side
    # ----------------------------------------------------------------------------------------

    def create_members(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        details = [(d["AccountId"], d.get("Email")) for d in params["AccountDetails"]]
        return self._answer_unprocessed(
            membership.create_members(
                ctx.state, self.flavor, ctx.account, ctx.region, details, ctx.now
            )
        )

    def invite_members(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        return self._answer_unprocessed(
            membership.invite_members(
                ctx.state, self.flavor, ctx.account, ctx.region, params["AccountIds"], ctx.now
            )
        )

    def list_members(self, ctx: CallContext, params: Params) -> Params:
        shard = self.check(ctx, params)
        keep = self.only_associated(params)
        after = self.token(params.get("NextToken"))
        page, more = shard.members.page(after, params.get("MaxResults", 50), keep)
        answer = {
            "Members": [self.render_member(ctx, m) for m in page],
            "NextToken": encode_token(page[-1].account_id) if more else None,
        }
        membership.note_reads(
            ctx.state, self.flavor.invitations, ctx.account, ctx.region, page, ctx.now
        )
        return answer

    def get_members(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        found, unprocessed = membership.get_members(
            ctx.state, self.flavor, ctx.account, ctx.region, params["AccountIds"]
        )
        answer = {
            "Members": [self.render_member(ctx, m) for m in found],
            "UnprocessedAccounts": self._unprocessed(unprocessed),
        }
        membership.note_reads(
            ctx.state, self.flavor.invitations, ctx.account, ctx.region, found, ctx.now
        )
        return answer

    def disassociate_members(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        return self._answer_unprocessed(
            membership.disassociate_members(
                ctx.state, self.flavor, ctx.account, ctx.region, params["AccountIds"], ctx.now
            )
        )

    def delete_members(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        return self._answer_unprocessed(
            membership.delete_members(
                ctx.state, self.flavor, ctx.account, ctx.region, params["AccountIds"]
            )
        )

    def set_monitoring(self, ctx: CallContext, params: Params, enabled: bool) -> Params:
        """Start or stop monitoring members (Start/StopMonitoringMembers, where served)."""
        self.check(ctx, params)
        return self._answer_unprocessed(
            membership.set_monitoring(
                ctx.state,
                self.flavor,
                ctx.account,
                ctx.region,
                params["AccountIds"],
                enabled,
                ctx.now,
            )
        )

    # ----------------------------------------------------------------------------------------
    # Member side
    # ----------------------------------------------------------------------------------------

    def list_invitations(self, ctx: CallContext, params: Params) -> Params:
        if self.check_list_invitations:
            self.check(ctx, params)
        invitations = {
            inv.administrator: inv
            for inv in membership.list_invitations(ctx.state, self.flavor, ctx.account, ctx.region)
        }
        try:
            page, token = paginate_keys(
                sorted(invitations), params.get("NextToken"), params.get("MaxResults", 50)
            )
        except ValueError:
            raise self.bad_token() from None
        return {
            "Invitations": [self._invitation(admin, invitations[admin]) for admin in page],
            "NextToken": token,
        }

    def _accept(self, ctx: CallContext, params: Params, admin: str) -> Params:
        self.check(ctx, params)
        membership.accept_invitation(
            ctx.state, self.flavor, ctx.account, ctx.region, admin, params["InvitationId"], ctx.now
        )
        return {}

    def accept_administrator_invitation(self, ctx: CallContext, params: Params) -> Params:
        return self._accept(ctx, params, params["AdministratorId"])

    def accept_invitation(self, ctx: CallContext, params: Params) -> Params:
        return self._accept(ctx, params, params["MasterId"])

    def get_administrator_account(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        return {"Administrator": self._administrator(ctx)}

    def get_master_account(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        return {"Master": self._administrator(ctx)}

    def disassociate_from_administrator_account(self, ctx: CallContext, params: Params) -> Params:
        self.check(ctx, params)
        membership.disassociate_from_administrator(
            ctx.state, self.flavor, ctx.account, ctx.region, ctx.now
        )
        return {}
