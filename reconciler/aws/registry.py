"""The one registry of the AWS layer: every module's declared operations, every service's adapter.

It sits above the adapters and imports them; nothing below imports it. The operation table is
handed to the client factory by the composition root (the dry-run guard and the undeclared
-operation check read it on every call) and read by the IAM policy generator, so the policy,
the guard and the code that calls AWS come from the same declarations. A module that calls AWS
declares its operations next to that code (``OPERATIONS = operations.declare(...)``) and is
listed here once; forgetting it here makes its calls fail as undeclared, loudly, in every test
that makes them.
"""

from __future__ import annotations

from reconciler.aws import guardduty, members, organizations, securityhub, session
from reconciler.aws.base import MemberAdapter
from reconciler.aws.operations import OperationTable
from reconciler.model import Service

#: Every operation the reconciler may call, from the modules that call them.
OPERATIONS = OperationTable(
    (
        *session.OPERATIONS,
        *guardduty.OPERATIONS,
        *securityhub.OPERATIONS,
        *members.OPERATIONS,
        *organizations.OPERATIONS,
    )
)

#: The administrator-side adapter of each member service.
ADAPTERS: dict[Service, type[MemberAdapter]] = {
    Service.GUARDDUTY: guardduty.GuardDutyAdapter,
    Service.SECURITYHUB: securityhub.SecurityHubAdapter,
}
