"""End-to-end fixtures: the real ``reconcile`` entry point against a running sandbox.

The CLI is pointed at the sandbox the way a user points it at any AWS-compatible endpoint,
through ``AWS_ENDPOINT_URL`` and ordinary credentials in the environment, so these tests also
prove the standard configuration is honoured. Every request lands in the sandbox's calls log,
which is how the tests count exactly what the reconciler did.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import cli
from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState

ADMIN = "111111111111"
MANAGEMENT = "999999999999"
EXTERNAL = "888888888888"


def org_account(n: int) -> str:
    return f"{300000000000 + n:012d}"


def root_email(account_id: str) -> str:
    return f"root+{account_id}@example.com"


def masked_email(email: str) -> str:
    """How the output masks ``email`` (README, --show-emails), computed here independently."""
    digest = hashlib.sha256(email.casefold().encode()).hexdigest()[:6]
    local, _, domain = email.partition("@")
    return f"{local[0]}***#{digest}@{domain}"


def world(
    *,
    org_accounts: int = 6,
    regions: Sequence[str] = ("us-east-1", "eu-west-1"),
    no_detector: Sequence[str] = (),
    no_hub: Sequence[str] = (),
    no_graph: Sequence[str] = (),
    external: Sequence[str] = (EXTERNAL,),
) -> dict[str, Any]:
    """A sandbox state: an organization whose delegated admin is ADMIN, ready in ``regions``
    (a GuardDuty detector, Security Hub enabled and a Detective behavior graph in each, but
    where ``no_detector``, ``no_hub`` or ``no_graph`` says otherwise)."""
    admin_regions: dict[str, Any] = {}
    for region in regions:
        entry: dict[str, Any] = {}
        if region not in no_detector:
            entry["guardduty"] = {"detector": "ENABLED"}
        if region not in no_hub:
            entry["securityhub"] = {"enabled": True}
        if region not in no_graph:
            entry["detective"] = {"graph": True}
        admin_regions[region] = entry
    everywhere = {"*": {"guardduty": {"detector": "ENABLED"}, "securityhub": {"enabled": True}}}
    return {
        "version": 1,
        "defaultAccount": ADMIN,
        "organization": {
            "id": "o-testorg12345",
            "managementAccount": MANAGEMENT,
            "rootId": "r-te12",
            "delegatedAdministrators": {
                "guardduty": ADMIN,
                "securityhub": ADMIN,
                "detective": ADMIN,
            },
            "organizationsDelegatedAdministrators": [ADMIN],
            "organizationalUnits": [
                {"id": "ou-te12-11111111", "name": "Workloads", "parent": "r-te12"}
            ],
            "accounts": [
                {
                    "accountId": MANAGEMENT,
                    "email": root_email(MANAGEMENT),
                    "name": "mgmt",
                    "status": "ACTIVE",
                    "parent": "r-te12",
                },
                {
                    "accountId": ADMIN,
                    "email": root_email(ADMIN),
                    "name": "security",
                    "status": "ACTIVE",
                    "parent": "r-te12",
                },
                *(
                    {
                        "accountId": org_account(i),
                        "email": root_email(org_account(i)),
                        "name": f"acct-{i}",
                        "status": "ACTIVE",
                        "parent": "ou-te12-11111111",
                    }
                    for i in range(org_accounts)
                ),
            ],
        },
        "accounts": {
            ADMIN: {"email": root_email(ADMIN), "regions": admin_regions},
            MANAGEMENT: {"email": root_email(MANAGEMENT), "regions": everywhere},
            **{a: {"email": root_email(a), "regions": everywhere} for a in external},
        },
    }


def manifest(
    members: Sequence[str],
    *,
    regions: Sequence[str] = ("us-east-1", "eu-west-1"),
    guardduty: str | None = "organization",
    securityhub: str | None = "organization",
    detective: str | None = None,
    emails: dict[str, str] | None = None,
    administrator: str = ADMIN,
) -> dict[str, Any]:
    services: dict[str, Any] = {}
    if guardduty:
        services["guardduty"] = {"mode": guardduty}
    if securityhub:
        services["securityhub"] = {"mode": securityhub}
    if detective:
        services["detective"] = {"mode": detective}
    emails = emails or {}
    return {
        "version": 1,
        "administrator": {"accountId": administrator},
        "regions": list(regions),
        "services": services,
        "members": [{"accountId": a, "email": emails.get(a, root_email(a))} for a in members],
    }


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    calls: list[dict[str, Any]]

    def count(self, operation: str | None = None, *, mutating: bool | None = None) -> int:
        return sum(
            1
            for call in self.calls
            if (operation is None or call["operation"] == operation)
            and (mutating is None or call["mutating"] is mutating)
        )

    def by_operation(self) -> Counter[tuple[str, str]]:
        return Counter((c["service"], c["operation"]) for c in self.calls)

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Bed:
    """A running sandbox plus a way to run ``reconcile`` against it."""

    sandbox: Sandbox
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    def write_manifest(self, data: dict[str, Any], name: str = "manifest.yaml") -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def run(self, *args: str | Path) -> Result:
        self.capsys.readouterr()
        self.sandbox.clear_calls()
        code = cli.main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return Result(code, out, err, self.sandbox.calls)


@pytest.fixture
def make_bed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Bed]]:
    started: list[Sandbox] = []

    def make(state: dict[str, Any] | None = None, **options: Any) -> Bed:
        sandbox = Sandbox(
            SandboxState.from_dict(state or world()),
            SandboxOptions(**options),
            host="127.0.0.1",
            port=0,
        ).start()
        started.append(sandbox)
        access_key, secret_key = sandbox.credentials
        monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint_url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
        return Bed(sandbox, tmp_path, capsys)

    yield make
    for sandbox in started:
        sandbox.stop()
