"""The declared AWS operations: what each adapter may call, its IAM action, whether it mutates.

Each adapter module declares the operations it calls, next to the code that calls them, with
:func:`declare`. The client layer consults this table on every call (``before-call`` hook):
an operation nobody declared is refused outright, and a mutating one is refused when dry-run
is on. The same table produces the least-privilege IAM policy, so the policy, the dry-run
guard and the code cannot drift apart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One AWS operation the reconciler may call."""

    service: str  # the botocore service name, e.g. "guardduty"
    name: str  # the botocore operation name, e.g. "CreateMembers"
    iam_action: str  # e.g. "guardduty:CreateMembers"
    mutating: bool
    # Who makes the call: the administrator, a member account (accepting an invitation), the
    # account that lists the organization. The IAM policy is split by principal.
    principals: frozenset[str] = frozenset({"administrator"})


_REGISTRY: dict[tuple[str, str], OperationSpec] = {}
_LOCK = threading.Lock()

# What makes an operation needed, for the few that only some manifests call: the IAM policy of
# a manifest leaves one out unless the manifest has that need for the operation's service
# (``reconciler.aws.iam.needs_of``). Every other declared operation is always needed, so a newly
# declared one is granted until it is given a need here.
INVITE = "invite"  # invitation mode: InviteMembers
DISASSOCIATE = "disassociate"  # prune on
DELETE = "delete"  # prune on (where AWS allows the delete), or invitation mode's repair
PRUNE_ORGANIZATION = "prune-organization"  # prune on in organization mode (auto-enable check)
CREATE_MEMBER_DETECTOR = "create-member-detector"  # invitation.accept.createMemberDetector

NEEDS: dict[tuple[str, str], str] = {
    ("guardduty", "InviteMembers"): INVITE,
    ("securityhub", "InviteMembers"): INVITE,
    ("guardduty", "DisassociateMembers"): DISASSOCIATE,
    ("securityhub", "DisassociateMembers"): DISASSOCIATE,
    ("guardduty", "DeleteMembers"): DELETE,
    ("securityhub", "DeleteMembers"): DELETE,
    ("guardduty", "DescribeOrganizationConfiguration"): PRUNE_ORGANIZATION,
    ("guardduty", "CreateDetector"): CREATE_MEMBER_DETECTOR,
}


def declare(
    service: str,
    *,
    reads: tuple[str, ...] = (),
    writes: tuple[str, ...] = (),
    principal: str = "administrator",
    iam_prefix: str | None = None,
) -> tuple[OperationSpec, ...]:
    """Register operations of ``service``; returns them so the module can keep a reference.

    The same operation may be declared by several callers (GuardDuty's ListDetectors is read
    by the administrator and in member accounts): their principals are merged, and they must
    agree on whether it mutates.
    """
    prefix = iam_prefix or service
    declared: list[OperationSpec] = []
    with _LOCK:
        for names, mutating in ((reads, False), (writes, True)):
            for name in names:
                spec = OperationSpec(
                    service, name, f"{prefix}:{name}", mutating, frozenset({principal})
                )
                existing = _REGISTRY.get((service, name))
                if existing is not None:
                    if existing.mutating != mutating or existing.iam_action != spec.iam_action:
                        raise RuntimeError(f"{service} {name} declared twice, differently")
                    spec = OperationSpec(
                        service,
                        name,
                        spec.iam_action,
                        mutating,
                        existing.principals | spec.principals,
                    )
                _REGISTRY[(service, name)] = spec
                declared.append(spec)
    return tuple(declared)


def need_of(spec: OperationSpec) -> str | None:
    """What makes ``spec`` needed (one of :data:`NEEDS`' values), or None: always needed."""
    return NEEDS.get((spec.service, spec.name))


def lookup(service: str, name: str) -> OperationSpec | None:
    _load_declarations()
    return _REGISTRY.get((service, name))


def all_operations() -> tuple[OperationSpec, ...]:
    """Every declared operation, sorted by service and name."""
    _load_declarations()
    with _LOCK:
        return tuple(sorted(_REGISTRY.values(), key=lambda s: (s.service, s.name)))


def _load_declarations() -> None:
    # The declarations sit next to the code that calls them; importing those modules is what
    # registers them, so the table is complete whichever module a caller imported first.
    import reconciler.aws.guardduty
    import reconciler.aws.members
    import reconciler.aws.organizations
    import reconciler.aws.securityhub
    import reconciler.aws.session  # noqa: F401
