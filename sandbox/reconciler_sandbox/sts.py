"""STS handlers: GetCallerIdentity and AssumeRole, so roles and per-account scripts work.

AssumeRole is how the sandbox tells accounts apart: the keys it issues map to the role's
account (until the answer's ``Expiration``: ``DurationSeconds``, or the sandbox's shorter
``session_lifetime``), every other key maps to the state's default account. A role is
assumable when its account is known to the state and, if that account lists ``roles``, when
its name is listed.
"""

from __future__ import annotations

import hashlib
import re

from reconciler_sandbox.context import CallContext, Handler, Identity, Params, ServiceBehaviour
from reconciler_sandbox.wire import ApiError, InvalidRequest

_ROLE_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::(\d{12}):"
    r"role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$"
)


def invalid(error: InvalidRequest) -> ApiError:
    return ApiError("ValidationError", error.smithy_message(), status=400)


def region_disabled() -> ApiError:
    return ApiError(
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        status=403,
    )


def get_caller_identity(ctx: CallContext, params: Params) -> Params:
    identity = ctx.identity
    return {"UserId": identity.user_id, "Account": identity.account, "Arn": identity.arn}


def assume_role(ctx: CallContext, params: Params) -> Params:
    role_arn: str = params["RoleArn"]
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise ApiError("ValidationError", f"{role_arn} is invalid", status=400)
    partition, account, role_name = match.groups()
    denied = ApiError(
        "AccessDenied",
        f"User: {ctx.identity.arn} is not authorized to perform: sts:AssumeRole on resource: "
        f"{role_arn}",
        status=403,
    )
    if not ctx.state.is_known(account):
        raise denied
    roles = ctx.state.account(account).roles
    if roles is not None and role_name not in roles:
        raise denied
    session: str = params["RoleSessionName"]
    digest = hashlib.sha256(f"{account}/{role_name}".encode()).hexdigest().upper()
    role_id = "AROA" + digest[:17]
    identity = Identity(
        account=account,
        arn=f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}",
        user_id=f"{role_id}:{session}",
    )
    duration = int(params.get("DurationSeconds", 3600))
    key, secret, token, expiration = ctx.credentials.issue(identity, now=ctx.now, duration=duration)
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expiration,
        },
        "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
    }


HANDLERS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}

BEHAVIOUR = ServiceBehaviour(
    name="sts", handlers=HANDLERS, invalid=invalid, region_disabled=region_disabled
)
