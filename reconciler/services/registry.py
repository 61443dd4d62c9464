"""The one registry of member services: every service's spec, in a fixed order.

A new service is its own module (``reconciler.services.<name>``, defining ``SPEC``) and one
line here. Everything else (the manifest's ``services`` mapping and its JSON Schema, the
planner's quotas, the AWS adapter, the IAM policy, the region catalog, the CLI's choices)
reads these specs. The order is the one services are listed in wherever a list is shown.
"""

from __future__ import annotations

from reconciler.model import Service
from reconciler.services import detective, guardduty, securityhub
from reconciler.services.operations import OperationSpec
from reconciler.services.spec import ServiceSpec

#: Every member service, in the order they are listed.
SPECS: tuple[ServiceSpec, ...] = (guardduty.SPEC, securityhub.SPEC, detective.SPEC)

#: Their names (boto3 client names, manifest keys), in the same order.
NAMES: tuple[Service, ...] = tuple(spec.name for spec in SPECS)

_BY_NAME: dict[str, ServiceSpec] = {spec.name: spec for spec in SPECS}

#: Every operation the member services call, by any principal.
OPERATIONS: tuple[OperationSpec, ...] = tuple(
    operation for spec in SPECS for operation in spec.operations
)


def spec_of(service: str) -> ServiceSpec:
    """The spec of a registered service; KeyError for any other name."""
    try:
        return _BY_NAME[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; one of {', '.join(NAMES)}") from None


def is_service(name: str) -> bool:
    return name in _BY_NAME


def listed(words: list[str] | tuple[str, ...], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``: names or labels in a sentence."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def service(name: str) -> Service:
    """``name`` as a registered service; ValueError for any other name (as an enum would)."""
    if name not in _BY_NAME:
        raise ValueError(f"{name!r} is not a service; one of {', '.join(NAMES)}")
    return Service(name)
