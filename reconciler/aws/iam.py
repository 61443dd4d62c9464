"""The least-privilege IAM policy, generated from the declared operations.

Every AWS operation the code can call is declared next to the code that calls it, or in its
service's spec (:mod:`reconciler.services.operations`), with its IAM action, whether it
mutates, who calls it and what makes it needed, and gathered by :mod:`reconciler.aws.registry`.
``reconcile --iam-policy`` prints the policy of one principal from that table:

- ``administrator``: the role the reconciler runs as, in the administrator account;
- ``member``: the role assumed in member accounts to accept invitations;
- ``organization-reader``: the role that lists the organization (``membersFrom``).

``--read-only`` keeps only the non-mutating actions: exactly what ``--dry-run`` needs, since
the dry-run guard refuses every mutating operation of the same table.

With a manifest the policy is tailored to it: an operation that only some manifests call (its
declaration gives it a ``need``) is granted only when the manifest's modes and prune setting
can make the reconciler call it (:func:`needs_of`), so an organization-mode manifest without
prune grants no InviteMembers, DisassociateMembers or DeleteMembers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from reconciler.aws.registry import OPERATIONS
from reconciler.model import DesiredState, Mode
from reconciler.services import operations
from reconciler.services import registry as services

PRINCIPALS = ("administrator", "member", "organization-reader")

# The services whose members we manage (``services`` narrows the policy to some of them): the
# registry's, so a service added there is covered here.
MEMBER_SERVICES = frozenset(services.NAMES)

# Operations that need no IAM permission at all (AWS allows them to every principal).
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})

_SIDS: dict[str, str] = {
    **{spec.name: spec.iam_sid for spec in services.SPECS},
    "organizations": "ListOrganizationAccounts",
}


def needs_of(desired: DesiredState) -> frozenset[tuple[str, str]]:
    """The (service, need) pairs of a manifest: what its modes and prune setting can call.

    The same rules the planner follows: InviteMembers in invitation mode only; with prune on,
    DisassociateMembers, and DeleteMembers where AWS allows it (the service's
    ``deletes_in``); DeleteMembers also in invitation mode, to re-create a member whose
    invitation failed; the organization configuration is read only to prune organization
    members; a member detector is created only when ``createMemberDetector`` says so.
    """
    needs: set[tuple[str, str]] = set()
    for service, settings in desired.services.items():
        name = service
        invitation = settings.mode is Mode.INVITATION
        if invitation:
            needs.update({(name, operations.INVITE), (name, operations.DELETE)})
        if desired.prune.enabled:
            needs.add((name, operations.DISASSOCIATE))
            if services.spec_of(service).can_delete(settings.mode):
                needs.add((name, operations.DELETE))
            if not invitation:
                needs.add((name, operations.PRUNE_ORGANIZATION))
        if settings.accept is not None and settings.accept.create_member_detector:
            needs.add((name, operations.CREATE_MEMBER_DETECTOR))
    return frozenset(needs)


def policy(
    principal: str = "administrator",
    *,
    read_only: bool = False,
    services: Collection[str] | None = None,
    assume_roles: Collection[str] = (),
    reads_organization: bool = False,
    needs: Collection[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The policy document for ``principal``.

    ``services`` limits it to some member services (None: every one); ``assume_roles`` are the role
    ARNs (wildcards allowed) the administrator assumes: member roles for accepting, the
    organization reader's. Without them sts:AssumeRole is left out, never granted on ``*``.
    ``reads_organization``: the administrator lists the organization itself (``membersFrom``
    without a ``roleArn``), so it also gets the organization reader's actions. ``needs``: the
    manifest's (:func:`needs_of`); an operation with a need not among them is left out (None:
    every operation, the policy of any manifest).
    """
    principals = {principal}
    if principal == "administrator" and reads_organization:
        principals.add("organization-reader")
    if principal not in PRINCIPALS:
        raise ValueError(f"unknown principal {principal!r}; one of {', '.join(PRINCIPALS)}")
    by_service: dict[str, list[str]] = {}
    for spec in OPERATIONS.all():
        if not principals & spec.principals or spec.iam_action in NO_PERMISSION_NEEDED:
            continue
        if read_only and spec.mutating:
            continue
        need = spec.need
        if needs is not None and need is not None and (spec.service, need) not in needs:
            continue
        if spec.service == "sts":
            continue  # granted below, scoped to the roles
        member_service = spec.service in MEMBER_SERVICES
        if services is not None and member_service and spec.service not in services:
            continue
        by_service.setdefault(spec.service, []).append(spec.iam_action)
    statements: list[dict[str, Any]] = [
        {
            "Sid": _SIDS.get(service, service),
            "Effect": "Allow",
            "Action": sorted(set(actions)),
            "Resource": "*",
        }
        for service, actions in sorted(by_service.items())
    ]
    if principal == "administrator" and assume_roles:
        statements.append(
            {
                "Sid": "AssumeReconcilerRoles",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole"],
                "Resource": sorted(set(assume_roles)),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
