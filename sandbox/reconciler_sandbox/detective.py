"""Amazon Detective: behavior graphs, both sides of their membership, organization configuration.

Detective's member API is not the classic one (no InviteMembers, no Created status, removal
deletes the record), so its life cycle is written here, on the shared records and the shared
email verification (``membership.send_invitation`` / ``membership.note_reads``). Sources, cited
where they decide a behaviour:

- [model] botocore's service model (``detective/2018-10-26``): shapes, limits, error codes and
  the operations' documentation, which is the API Reference's text;
- [CreateGraph] https://docs.aws.amazon.com/detective/latest/APIReference/API_CreateGraph.html
- [CreateMembers] https://docs.aws.amazon.com/detective/latest/APIReference/API_CreateMembers.html
- [Account] https://docs.aws.amazon.com/detective/latest/APIReference/API_Account.html
- [Quota] the ServiceQuotaExceededException reference (boto3 docs,
  docs.aws.amazon.com/botocore/latest/reference/services/detective/client/exceptions/
  ServiceQuotaExceededException.html): "A behavior graph cannot have more than 1,200 member
  accounts";
- [issue6] aws-samples/amazon-detective-multiaccount-scripts#6, AWS's own answer to a 100-account
  CreateMembers: "CreateMembersRequest.Accounts must have length less than or equal to 50.
  Found 100." (ValidationException).

Where no source says, the choice is marked UNVERIFIED.

In the state file a region's ``detective`` section is ``{graph: bool, autoEnable: bool,
members: [...]}``, members with Detective's statuses (INVITED, VERIFICATION_IN_PROGRESS,
VERIFICATION_FAILED, ENABLED, ACCEPTED_BUT_DISABLED with an optional disabledReason) and
``type: organization|invitation`` (InvitationType); the quota is ``quotas.detectiveMembers``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Required, Self

from pydantic import with_config

from reconciler_sandbox import membership, statefile
from reconciler_sandbox.context import (
    CallContext,
    Handler,
    Params,
    ServiceBehaviour,
    decode_token,
    encode_token,
    paginate_keys,
)
from reconciler_sandbox.plugin import ServicePlugin
from reconciler_sandbox.records import (
    Member,
    MemberTable,
    ServiceRegion,
    World,
    now,
    replace_member,
)
from reconciler_sandbox.wire import ApiError, InvalidRequest

NAME = "detective"
QUOTA = "detectiveMembers"
INVITED = "INVITED"
VERIFYING = "VERIFICATION_IN_PROGRESS"
VERIFICATION_FAILED = "VERIFICATION_FAILED"
ENABLED = "ENABLED"
ACCEPTED_BUT_DISABLED = "ACCEPTED_BUT_DISABLED"
# [model] MemberStatus.
Status = Literal[
    "INVITED", "VERIFICATION_IN_PROGRESS", "VERIFICATION_FAILED", "ENABLED", "ACCEPTED_BUT_DISABLED"
]
ASSOCIATED = frozenset({ENABLED, ACCEPTED_BUT_DISABLED})
DisabledReason = Literal["VOLUME_TOO_HIGH", "VOLUME_UNKNOWN"]  # [model] MemberDisabledReason
# [model] MemberResultsLimit: 1..200, "the overall limit ... which is currently 200". The
# default when MaxResults is absent is not documented: UNVERIFIED, the limit itself.
PAGE_LIMIT = 200

INVITATIONS = membership.Invitations(
    service=NAME,
    verify_email=True,
    invited=INVITED,
    verifying=VERIFYING,
    verification_failed=VERIFICATION_FAILED,
)

# The model's documentation of each error shape, which is all AWS publishes of their wording.
ACCESS_DENIED = (
    "The request issuer does not have permission to access this resource or perform this operation."
)
CONFLICT = "The request attempted an invalid action."
NOT_FOUND = "The request refers to a nonexistent resource."
INVALID = "The request parameters are invalid."
INTERNAL = "The request was valid but failed because of a problem with the service."

# UnprocessedAccount.Reason is a free string in the model; these texts are the sandbox's.
ALREADY_MEMBER = "The account is already a member of the behavior graph."
NOT_MEMBER = "The account is not a member of the behavior graph."
SELF_MEMBER = "The administrator account cannot be a member of its own behavior graph."
SELF_DELETE = "The administrator account cannot be removed from its own behavior graph."
OTHER_ADMIN = "The account is already a member of another behavior graph of the organization."
INACTIVE_ORG_ACCOUNT = "The account is not an active account of the organization."

_GRAPH_ARN = re.compile(r"^arn:([-\w]+):detective:([-\w]+):(\d{12}):graph:([a-f\d]{32})$")


# --------------------------------------------------------------------------------------------
# Records: the behavior graph of one account and region, and its state-file section
# --------------------------------------------------------------------------------------------


@with_config(statefile.ENTRY_CONFIG)
class DetectiveMember(statefile.MemberEntry, total=False):
    """A Detective member in the state file (``type`` is its InvitationType)."""

    status: Required[Status]
    disabledReason: DisabledReason | None


class DetectiveSection(statefile.Section):
    """``regions.<region>.detective``: whether there is a behavior graph, AutoEnable, members."""

    graph: statefile.StrictBool | None = None
    autoEnable: statefile.StrictBool | None = None
    members: list[DetectiveMember] | None = None


@dataclass(slots=True)
class DetectiveRegion(ServiceRegion):
    """Detective in one account and region: whether it has a behavior graph."""

    graph: bool = False
    auto_enable: bool = False
    created_at: datetime | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any] | None) -> Self:
        if not entry:
            return cls()
        return cls(
            graph=bool(entry.get("graph", False)),
            auto_enable=bool(entry.get("autoEnable", False)),
        )

    def to_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.graph:
            out["graph"] = True
        if self.auto_enable:
            out["autoEnable"] = True
        return out

    @property
    def ready(self) -> bool:
        return self.graph

    def turn_on(self, at: datetime) -> None:
        self.graph = True
        self.created_at = at

    def loaded(self, at: datetime) -> None:
        if self.graph:
            self.created_at = at


def region_of(state: World, account: str, region: str) -> DetectiveRegion:
    found = state.account(account).service(NAME, region)
    assert isinstance(found, DetectiveRegion)
    return found


def graph_arn(partition: str, region: str, account: str) -> str:
    """The graph's ARN, derived so a reload gives the same one ([model] GraphArn's pattern)."""
    digest = hashlib.md5(f"{account}/{region}".encode(), usedforsecurity=False).hexdigest()
    return f"arn:{partition}:detective:{region}:{account}:graph:{digest}"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def validation(message: str, code: str = "INVALID_REQUEST_BODY", **extra: Any) -> ApiError:
    # [model] ValidationException carries ErrorCode (INVALID_GRAPH_ARN, INVALID_REQUEST_BODY).
    return ApiError("ValidationException", message, fields={"ErrorCode": code}, **extra)


def invalid(error: InvalidRequest) -> ApiError:
    issue = error.issues[0]
    code = "INVALID_GRAPH_ARN" if issue.field == "GraphArn" else "INVALID_REQUEST_BODY"
    detail = error.smithy_message()
    if (
        issue.kind in ("max_length", "min_length")
        and isinstance(issue.value, list)
        and error.shape is not None
    ):
        # AWS's own words for a batch over its limit [issue6].
        bound = "less" if issue.kind == "max_length" else "greater"
        message = (
            f"{error.shape}.{issue.field} must have length {bound} than or equal to "
            f"{issue.limit}. Found {len(issue.value)}."
        )
        return validation(message, code, detail=detail)
    return validation(detail, code, detail=detail)


def throttled() -> ApiError:
    # [model] TooManyRequestsException (429); the text is UNVERIFIED.
    return ApiError("TooManyRequestsException", "Rate exceeded", status=429)


def internal() -> ApiError:
    return ApiError("InternalServerException", INTERNAL)


def region_disabled() -> ApiError:
    return ApiError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        status=403,
    )


def _not_found() -> ApiError:
    return ApiError("ResourceNotFoundException", NOT_FOUND)


def _conflict() -> ApiError:
    return ApiError("ConflictException", CONFLICT)


def _access_denied() -> ApiError:
    return ApiError("AccessDeniedException", ACCESS_DENIED)


def _bad_token() -> ApiError:
    # An expired or foreign NextToken is a ValidationException (UNVERIFIED wording).
    return validation("The pagination token is not valid.")


def _over_quota(limit: int) -> ApiError:
    # [Quota]: the request as a whole is refused, 402 ServiceQuotaExceededException.
    return ApiError(
        "ServiceQuotaExceededException",
        "This request cannot be completed if it would cause the number of member accounts in "
        "the behavior graph to exceed the maximum allowed. A behavior graph cannot have more "
        f"than {limit:,} member accounts.",
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _own_graph(ctx: CallContext, params: Params) -> DetectiveRegion:
    """The caller's graph, which ``GraphArn`` must name; ResourceNotFoundException if not."""
    shard = region_of(ctx.state, ctx.account, ctx.region)
    if not shard.graph or params["GraphArn"] != graph_arn(ctx.partition, ctx.region, ctx.account):
        raise _not_found()
    return shard


def _administrator_graph(ctx: CallContext, params: Params) -> tuple[str, Member]:
    """For the member side: the graph's administrator and the caller's record in it."""
    match = _GRAPH_ARN.match(params["GraphArn"])
    if match is None:
        raise validation(INVALID, "INVALID_GRAPH_ARN")
    partition, region, admin, _ = match.groups()
    if (
        region != ctx.region
        or partition != ctx.partition
        or params["GraphArn"] != graph_arn(partition, region, admin)
        or not region_of(ctx.state, admin, region).graph
    ):
        raise _not_found()
    record = region_of(ctx.state, admin, region).members.get(ctx.account)
    if record is None:
        raise _not_found()
    return admin, record


def _detail(ctx: CallContext, admin: str, member: Member, *, account: str | None = None) -> Params:
    out: Params = {
        "AccountId": account or member.account_id,
        "EmailAddress": member.email,
        "GraphArn": graph_arn(ctx.partition, ctx.region, admin),
        "MasterId": admin,
        "AdministratorId": admin,
        "Status": member.status,
        "InvitedTime": member.invited_at,
        "UpdatedTime": member.updated_at,
        "InvitationType": member.type.upper(),
    }
    if member.status == ACCEPTED_BUT_DISABLED and member.disabled_reason is not None:
        out["DisabledReason"] = member.disabled_reason
    return out


def _delegated(state: World, account: str) -> bool:
    org = state.organization
    return org is not None and org.delegated_administrators.get(NAME) == account


def _remove(state: World, admin: str, region: str, table: MemberTable, account: str) -> None:
    table.remove(account)
    state.unlink(NAME, region, account, admin)
    state.drop_invitation(NAME, region, account, admin)


def _token(token: str | None) -> str | None:
    try:
        return decode_token(token)
    except ValueError:
        raise _bad_token() from None


# --------------------------------------------------------------------------------------------
# Behavior graphs
# --------------------------------------------------------------------------------------------


def create_graph(ctx: CallContext, params: Params) -> Params:
    # [CreateGraph]: "If the same account calls CreateGraph with the same administrator
    # account, it always returns the same behavior graph ARN. It does not create a new
    # behavior graph." So a second call is no ConflictException but the same answer.
    shard = region_of(ctx.state, ctx.account, ctx.region)
    if not shard.graph:
        shard.turn_on(ctx.now)
    return {"GraphArn": graph_arn(ctx.partition, ctx.region, ctx.account)}


def list_graphs(ctx: CallContext, params: Params) -> Params:
    _token(params.get("NextToken"))
    shard = region_of(ctx.state, ctx.account, ctx.region)
    graphs = []
    if shard.graph:
        graphs.append(
            {
                "Arn": graph_arn(ctx.partition, ctx.region, ctx.account),
                "CreatedTime": shard.created_at or ctx.state.loaded_at,
            }
        )
    return {"GraphList": graphs}


def delete_graph(ctx: CallContext, params: Params) -> Params:
    # [model] DeleteGraph "removes the behavior graph from each member account's list".
    shard = _own_graph(ctx, params)
    for account in list(shard.members.sorted_ids()):
        _remove(ctx.state, ctx.account, ctx.region, shard.members, account)
    shard.graph = False
    shard.auto_enable = False
    shard.created_at = None
    return {}


# --------------------------------------------------------------------------------------------
# Administrator side
# --------------------------------------------------------------------------------------------


def create_members(ctx: CallContext, params: Params) -> Params:
    """[CreateMembers]: creates and invites in one call; organization accounts are enabled.

    Invited accounts are verified first (VERIFICATION_IN_PROGRESS, for the state's
    emailVerificationReads reads), then INVITED or VERIFICATION_FAILED; organization accounts
    of the caller's organization, when it is Detective's delegated administrator, join as
    ENABLED with InvitationType ORGANIZATION and no verification nor invitation. EmailAddress
    is required for every account ([Account], "Required: Yes"; the client enforces it), but
    only an invited account's is checked. Accounts already in the graph are unprocessed.
    """
    state, admin, region = ctx.state, ctx.account, ctx.region
    shard = _own_graph(ctx, params)
    table = shard.members
    org = state.organization if _delegated(state, admin) else None
    unprocessed: list[tuple[str, str]] = []
    planned: list[Member] = []
    seen: set[str] = set()
    for account in params["Accounts"]:
        account_id, email = account["AccountId"], account.get("EmailAddress")
        if account_id == admin:
            unprocessed.append((account_id, SELF_MEMBER))
            continue
        if account_id in seen or table.get(account_id) is not None:
            unprocessed.append((account_id, ALREADY_MEMBER))
            continue
        seen.add(account_id)
        org_account = org.accounts.get(account_id) if org is not None else None
        if org_account is None:
            planned.append(Member(account_id, email, VERIFYING, "invitation", None, ctx.now))
            continue
        if org_account.status != "ACTIVE":
            unprocessed.append((account_id, INACTIVE_ORG_ACCOUNT))
            continue
        other = state.administrator(NAME, region, account_id)
        if other is not None and other != admin:
            unprocessed.append((account_id, OTHER_ADMIN))
            continue
        planned.append(Member(account_id, email, ENABLED, "organization", None, ctx.now))
    limit = state.quotas[QUOTA]
    if len(table) + len(planned) > limit:
        # UNVERIFIED whether the 1,200 is raisable: the quota is the state file's.
        raise _over_quota(limit)
    for member in planned:
        table.put(member)
        state.events[("create", NAME, region, admin, member.account_id)] += 1
        if member.type == "organization":
            state.link(NAME, region, member.account_id, admin)
        elif state.email_verification_reads:
            table.put(replace_member(member, verification_reads=state.email_verification_reads))
        else:
            membership.send_invitation(state, INVITATIONS, table, admin, region, member, ctx.now)
    return {
        "Members": [_detail(ctx, admin, table.get(m.account_id) or m) for m in planned],
        "UnprocessedAccounts": [{"AccountId": a, "Reason": r} for a, r in unprocessed],
    }


def get_members(ctx: CallContext, params: Params) -> Params:
    table = _own_graph(ctx, params).members
    found: list[Member] = []
    unprocessed: list[Params] = []
    for account_id in params["AccountIds"]:
        member = table.get(account_id)
        if member is None:
            unprocessed.append({"AccountId": account_id, "Reason": NOT_MEMBER})
        else:
            found.append(member)
    answer = {
        "MemberDetails": [_detail(ctx, ctx.account, m) for m in found],
        "UnprocessedAccounts": unprocessed,
    }
    membership.note_reads(ctx.state, INVITATIONS, ctx.account, ctx.region, found, ctx.now)
    return answer


def list_members(ctx: CallContext, params: Params) -> Params:
    table = _own_graph(ctx, params).members
    after = _token(params.get("NextToken"))
    page, more = table.page(after, params.get("MaxResults", PAGE_LIMIT))
    answer = {
        "MemberDetails": [_detail(ctx, ctx.account, m) for m in page],
        "NextToken": encode_token(page[-1].account_id) if more else None,
    }
    membership.note_reads(ctx.state, INVITATIONS, ctx.account, ctx.region, page, ctx.now)
    return answer


def delete_members(ctx: CallContext, params: Params) -> Params:
    # [model] DeleteMembers: invited accounts are deleted from the graph's list; organization
    # accounts can always be enabled again; the administrator cannot remove itself.
    table = _own_graph(ctx, params).members
    deleted: list[str] = []
    unprocessed: list[Params] = []
    for account_id in params["AccountIds"]:
        if account_id == ctx.account:
            unprocessed.append({"AccountId": account_id, "Reason": SELF_DELETE})
        elif table.get(account_id) is None:
            unprocessed.append({"AccountId": account_id, "Reason": NOT_MEMBER})
        else:
            _remove(ctx.state, ctx.account, ctx.region, table, account_id)
            deleted.append(account_id)
    return {"AccountIds": deleted, "UnprocessedAccounts": unprocessed}


# --------------------------------------------------------------------------------------------
# Member side
# --------------------------------------------------------------------------------------------


def list_invitations(ctx: CallContext, params: Params) -> Params:
    # [model] ListInvitations: "the list of open and accepted behavior graph invitations for
    # the member account" (invited accounts only), as MemberDetail records.
    state, me, region = ctx.state, ctx.account, ctx.region
    admins = set(state.invitations(NAME, region, me))
    current = state.administrator(NAME, region, me)
    if current is not None:
        admins.add(current)
    records: dict[str, Member] = {}
    for admin in admins:
        record = region_of(state, admin, region).members.get(me)
        if record is not None and record.type == "invitation":
            records[admin] = record
    try:
        page, token = paginate_keys(
            sorted(records), params.get("NextToken"), params.get("MaxResults", PAGE_LIMIT)
        )
    except ValueError:
        raise _bad_token() from None
    return {
        "Invitations": [_detail(ctx, admin, records[admin], account=me) for admin in page],
        "NextToken": token,
    }


def accept_invitation(ctx: CallContext, params: Params) -> Params:
    # [model] AcceptInvitation: "The member account status in the graph must be INVITED."
    admin, record = _administrator_graph(ctx, params)
    if record.status != INVITED:
        raise _conflict()
    current = ctx.state.administrator(NAME, ctx.region, ctx.account)
    if current is not None and current != admin:
        raise _conflict()
    table = region_of(ctx.state, admin, ctx.region).members
    table.put(replace_member(record, status=ENABLED, updated_at=ctx.now))
    ctx.state.link(NAME, ctx.region, ctx.account, admin)
    ctx.state.drop_invitation(NAME, ctx.region, ctx.account, admin)
    return {}


def reject_invitation(ctx: CallContext, params: Params) -> Params:
    # [model] RejectInvitation: only an invited account in status INVITED; a declined
    # invitation leaves no member record.
    admin, record = _administrator_graph(ctx, params)
    if record.type == "organization" or record.status != INVITED:
        raise _conflict()
    _remove(
        ctx.state, admin, ctx.region, region_of(ctx.state, admin, ctx.region).members, ctx.account
    )
    return {}


def disassociate_membership(ctx: CallContext, params: Params) -> Params:
    # [model] DisassociateMembership: only an invited member account that is ENABLED; never
    # an organization account.
    admin, record = _administrator_graph(ctx, params)
    if record.type == "organization" or record.status not in ASSOCIATED:
        raise _conflict()
    _remove(
        ctx.state, admin, ctx.region, region_of(ctx.state, admin, ctx.region).members, ctx.account
    )
    return {}


# --------------------------------------------------------------------------------------------
# Organization
# --------------------------------------------------------------------------------------------


def enable_organization_admin_account(ctx: CallContext, params: Params) -> Params:
    """[model] EnableOrganizationAdminAccount: only the management account; the account must
    be the Organizations delegated administrator or the management account when the
    organization has one; its graph is created if it has none."""
    org = ctx.state.organization_of(ctx.account)
    if org is None or org.management_account != ctx.account:
        raise _access_denied()
    account_id = params["AccountId"]
    member = org.accounts.get(account_id)
    if member is None or member.status != "ACTIVE":
        raise validation(f"Account {account_id} is not an active account of the organization.")
    organizations_admins = org.organizations_delegated_administrators
    if (
        organizations_admins
        and account_id not in organizations_admins
        and account_id != org.management_account
    ):
        raise validation(
            f"Account {account_id} is neither the organization's delegated administrator nor "
            "its management account."
        )
    current = org.delegated_administrators.get(NAME)
    if current is not None and current != account_id:
        # One Detective administrator per organization (UNVERIFIED wording).
        raise validation(f"The organization already has the administrator account {current}.")
    org.delegated_administrators[NAME] = account_id
    shard = region_of(ctx.state, account_id, ctx.region)
    if not shard.graph:
        shard.turn_on(ctx.now)
    return {}


def list_organization_admin_accounts(ctx: CallContext, params: Params) -> Params:
    org = ctx.state.organization_of(ctx.account)
    if org is None or org.management_account != ctx.account:
        raise _access_denied()
    _token(params.get("NextToken"))
    admin = org.delegated_administrators.get(NAME)
    admins: list[Params] = []
    if admin is not None:
        shard = region_of(ctx.state, admin, ctx.region)
        entry: Params = {"AccountId": admin, "DelegationTime": ctx.state.loaded_at}
        if shard.graph:
            entry["GraphArn"] = graph_arn(ctx.partition, ctx.region, admin)
        admins.append(entry)
    return {"Administrators": admins}


def _organization_graph(ctx: CallContext, params: Params) -> DetectiveRegion:
    # Describe/UpdateOrganizationConfiguration model no ResourceNotFoundException: a GraphArn
    # that is not the caller's graph is a ValidationException INVALID_GRAPH_ARN (UNVERIFIED).
    if not _delegated(ctx.state, ctx.account):
        raise _access_denied()
    shard = region_of(ctx.state, ctx.account, ctx.region)
    if not shard.graph or params["GraphArn"] != graph_arn(ctx.partition, ctx.region, ctx.account):
        raise validation(INVALID, "INVALID_GRAPH_ARN")
    return shard


def describe_organization_configuration(ctx: CallContext, params: Params) -> Params:
    return {"AutoEnable": _organization_graph(ctx, params).auto_enable}


def update_organization_configuration(ctx: CallContext, params: Params) -> Params:
    shard = _organization_graph(ctx, params)
    if params.get("AutoEnable") is not None:
        shard.auto_enable = bool(params["AutoEnable"])
    return {}


HANDLERS: dict[str, Handler] = {
    "CreateGraph": create_graph,
    "ListGraphs": list_graphs,
    "DeleteGraph": delete_graph,
    "CreateMembers": create_members,
    "GetMembers": get_members,
    "ListMembers": list_members,
    "DeleteMembers": delete_members,
    "ListInvitations": list_invitations,
    "AcceptInvitation": accept_invitation,
    "RejectInvitation": reject_invitation,
    "DisassociateMembership": disassociate_membership,
    "EnableOrganizationAdminAccount": enable_organization_admin_account,
    "ListOrganizationAdminAccounts": list_organization_admin_accounts,
    "DescribeOrganizationConfiguration": describe_organization_configuration,
    "UpdateOrganizationConfiguration": update_organization_configuration,
}

BEHAVIOUR = ServiceBehaviour(
    name=NAME,
    handlers=HANDLERS,
    invalid=invalid,
    region_disabled=region_disabled,
    throttled=throttled,
    internal=internal,
)


# --------------------------------------------------------------------------------------------
# Programmatic helpers (``state.set_graph(...)``, ``state.graph_exists(...)``)
# --------------------------------------------------------------------------------------------


def set_graph(
    state: World,
    account_id: str,
    region: str,
    exists: bool = True,
    *,
    auto_enable: bool | None = None,
) -> None:
    with state.lock:
        shard = region_of(state, account_id, region)
        if exists and not shard.graph:
            shard.turn_on(now())
        shard.graph = exists
        if auto_enable is not None:
            shard.auto_enable = auto_enable


def graph_exists(state: World, account_id: str, region: str) -> bool:
    with state.lock:
        return region_of(state, account_id, region).graph


PLUGIN = ServicePlugin(
    name=NAME,
    label="Detective",
    region=DetectiveRegion,
    section=DetectiveSection,
    member=DetectiveMember,
    associated=ASSOCIATED,
    invited=INVITED,
    verifying=VERIFYING,
    quotas={QUOTA: 1_200},
    behaviour=BEHAVIOUR,
    verifies_email=INVITATIONS.verify_email,
    names=("detective", "Detective", "GraphArn", "behavior graph"),
    state_api={"set_graph": set_graph, "graph_exists": graph_exists},
)
