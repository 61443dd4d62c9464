"""The declared AWS operations, as data: what an adapter may call, its IAM action, whether it
mutates, who calls it and what makes it needed.

Each service's spec (``reconciler.services``) and each AWS module that calls AWS declares the
operations it calls with :func:`declare`, which only builds values: nothing is registered as a side
effect of importing a module. One registry above the adapters (:mod:`reconciler.aws.registry`)
gathers every declaration into an :class:`OperationTable`, and the composition root hands that table
to the client factory. The client layer consults it on every call (``before-call`` hook): an
operation nobody declared is refused outright, and a mutating one is refused when dry-run is on. The
same table produces the least-privilege IAM policy, so the policy, the dry-run guard and the code
cannot drift apart.

This module is pure (no boto3 or botocore) and sits below every service and adapter, importing
none of them, so the declarations form no import cycle with the code that declares them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

# What makes an operation needed, for the few that only some manifests call: the IAM policy of
# a manifest leaves one out unless the manifest has that need for the operation's service
# (``reconciler.aws.iam.needs_of``). Every other declared operation is always needed, so a newly
# declared one is granted until its declaration gives it a need.
INVITE = "invite"  # invitation mode: InviteMembers
DISASSOCIATE = "disassociate"  # prune on
DELETE = "delete"  # prune on (where AWS allows the delete), or invitation mode's repair
PRUNE_ORGANIZATION = "prune-organization"  # prune on in organization mode (auto-enable check)
CREATE_MEMBER_DETECTOR = "create-member-detector"  # invitation.accept.createMemberDetector


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One AWS operation the reconciler may call."""

    service: str  # the botocore service name
    name: str  # the botocore operation name, e.g. "CreateMembers"
    iam_action: str  # e.g. "<service>:CreateMembers"
    mutating: bool
    # Who makes the call: the administrator, a member account (accepting an invitation), the
    # account that lists the organization. The IAM policy is split by principal.
    principals: frozenset[str] = frozenset({"administrator"})
    # What makes it needed (one of the constants above); None: every manifest needs it.
    need: str | None = None


def declare(
    service: str,
    *,
    reads: tuple[str, ...] = (),
    writes: tuple[str, ...] = (),
    principal: str = "administrator",
    iam_prefix: str | None = None,
    needs: Mapping[str, str] | None = None,
) -> tuple[OperationSpec, ...]:
    """The specs of operations of ``service`` called by ``principal``; registers nothing.

    ``needs`` maps an operation name to what makes it needed (see the constants above).
    """
    prefix = iam_prefix or service
    needs = needs or {}
    unknown = set(needs) - {*reads, *writes}
    if unknown:
        raise ValueError(f"{service}: needs given for undeclared operations {sorted(unknown)}")
    return tuple(
        OperationSpec(
            service,
            name,
            f"{prefix}:{name}",
            mutating,
            frozenset({principal}),
            needs.get(name),
        )
        for names, mutating in ((reads, False), (writes, True))
        for name in names
    )


class OperationTable:
    """Every declared operation, one spec per (service, operation), read-only once built.

    The same operation may be declared by several callers (an operation read both by the
    administrator and in member accounts): their principals are merged, and they must
    agree on whether it mutates, on its IAM action and on what makes it needed.
    """

    def __init__(self, declarations: Iterable[OperationSpec]) -> None:
        table: dict[tuple[str, str], OperationSpec] = {}
        for spec in declarations:
            key = (spec.service, spec.name)
            existing = table.get(key)
            if existing is not None:
                if (existing.mutating, existing.iam_action, existing.need) != (
                    spec.mutating,
                    spec.iam_action,
                    spec.need,
                ):
                    raise ValueError(f"{spec.service} {spec.name} declared twice, differently")
                spec = replace(existing, principals=existing.principals | spec.principals)
            table[key] = spec
        self._table = table
        self._sorted = tuple(sorted(table.values(), key=lambda s: (s.service, s.name)))

    def lookup(self, service: str, name: str) -> OperationSpec | None:
        return self._table.get((service, name))

    def all(self) -> tuple[OperationSpec, ...]:
        """Every declared operation, sorted by service and name."""
        return self._sorted

    def needs(self) -> dict[tuple[str, str], str]:
        """(service, operation) → what makes it needed, for the operations some manifests skip."""
        return {(s.service, s.name): s.need for s in self._sorted if s.need is not None}
