"""What a service declares to be served by the sandbox: one :class:`ServicePlugin` per service.

Each service's module (the registry, :mod:`reconciler_sandbox.services`, lists them) builds one;
the state, the server and the command line read only this, so that nothing outside a service's
module and the registry names a service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler_sandbox.context import ServiceBehaviour
from reconciler_sandbox.records import ServiceRegion
from reconciler_sandbox.statefile import MemberEntry, Section


@dataclass(frozen=True, slots=True)
class ServicePlugin:
    """One service: its wire behaviour, its records in the state, and the words that are its own."""

    # botocore's service name, which is also the key of its sections in the state file.
    name: str
    label: str
    # The region record: the administrator-side resource.
    region: type[ServiceRegion]
    # Its section of a region in the state file, and a member record there (with the
    # service's status vocabulary).
    section: type[Section]
    member: type[MemberEntry]  # a TypedDict
    # The statuses in which the member side has an administrator (a link).
    associated: frozenset[str]
    # The status of a member with an open invitation (its account sees the invitation).
    invited: str
    # The status of a member whose email is being verified (verificationReadsLeft).
    verifying: str
    # Member quotas per administrator and region: the state file's `quotas` key -> AWS default.
    quotas: Mapping[str, int]
    behaviour: ServiceBehaviour
    # Whether an invitation first verifies the invitee's root email (emailVerificationReads).
    verifies_email: bool
    # Words that are this service's alone (its name, label, distinctive operations and
    # fields): no other module of the sandbox but the registry may contain them.
    names: tuple[str, ...]
    # Programmatic helpers for tests and benchmarks, called as methods of the state with the
    # state as first argument (``state.<name>(...)``).
    state_api: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
