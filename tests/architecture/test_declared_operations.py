"""The registry gathers every declaration: no module's operations are left out of the table.

The dry-run guard and the IAM policy read one table, built by ``reconciler.aws.registry`` from
the declarations each module keeps next to the code that calls AWS. A module whose
``OPERATIONS`` the registry did not list would have its calls refused as undeclared at run
time, and its IAM actions missing from the policy; this test names it first.
"""

from __future__ import annotations

import importlib
import pkgutil

import reconciler.aws
import reconciler.services
from reconciler.aws.registry import OPERATIONS
from reconciler.services.operations import OperationSpec


def test_every_declaring_module_is_in_the_registry() -> None:
    declaring: list[str] = []
    packages = [(reconciler.aws, "reconciler.aws."), (reconciler.services, "reconciler.services.")]
    infos = [info for p, prefix in packages for info in pkgutil.iter_modules(p.__path__, prefix)]
    for info in infos:
        module = importlib.import_module(info.name)
        declared = getattr(module, "OPERATIONS", ())
        if not isinstance(declared, tuple):
            continue  # the registry's own table
        declaring.append(info.name)
        for spec in declared:
            assert isinstance(spec, OperationSpec)
            found = OPERATIONS.lookup(spec.service, spec.name)
            assert found is not None, f"{info.name} declares {spec.service} {spec.name}"
            assert spec.principals <= found.principals, (info.name, spec)
            assert (found.mutating, found.iam_action, found.need) == (
                spec.mutating,
                spec.iam_action,
                spec.need,
            )
    assert {"reconciler.services.guardduty", "reconciler.aws.session"} <= set(declaring)
