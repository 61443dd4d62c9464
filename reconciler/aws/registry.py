"""The one registry of the AWS layer: every declared operation, gathered in one table.

It sits above the modules that call AWS and imports them; nothing below imports it. The member
services' operations come from their specs (``reconciler.services.registry``); the AWS layer's
own modules (sessions, Organizations) declare theirs next to the code that calls them. The
table is handed to the client factory by the composition root (the dry-run guard and the
undeclared-operation check read it on every call) and read by the IAM policy generator, so the
policy, the guard and the code that calls AWS come from the same declarations. Forgetting a
module here makes its calls fail as undeclared, loudly, in every test that makes them.
"""

from __future__ import annotations

from reconciler.aws import organizations, session
from reconciler.services import registry as services
from reconciler.services.operations import OperationTable

#: Every operation the reconciler may call, from the modules and services that call them.
OPERATIONS = OperationTable(
    (
        *session.OPERATIONS,
        *services.OPERATIONS,
        *organizations.OPERATIONS,
    )
)
