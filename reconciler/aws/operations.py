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
    # Who makes the call: the administrator, a member account (accepting), or the
    # account that reads the organization. Used to split the IAM policy by role.
    principal: str = "administrator"


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
    """Register operations of ``service``; returns them so the module can keep a reference."""
    prefix = iam_prefix or service
    specs = tuple(
        OperationSpec(service, name, f"{prefix}:{name}", mutating, principal)
        for names, mutating in ((reads, False), (writes, True))
        for name in names
    )
    with _LOCK:
        for spec in specs:
            existing = _REGISTRY.get((spec.service, spec.name))
            if existing is not None and existing != spec:
                raise RuntimeError(f"operation declared twice, differently: {spec} vs {existing}")
            _REGISTRY[(spec.service, spec.name)] = spec
    return specs


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
    import reconciler.aws.securityhub
    import reconciler.aws.session  # noqa: F401
