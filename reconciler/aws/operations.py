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
