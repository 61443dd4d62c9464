"""The benchmark scenarios, and how to build each one's sandbox world and manifest.

A scenario is a handful of numbers (members, regions, services, mode, how many members AWS
already has, the sandbox's latency and rate limit); everything else (the organization, the
administrator's detectors and hubs, the existing members, the manifest text) is derived from
them here, so that the bounds (:mod:`benchmarks.bounds`) and the world cannot disagree.

Worlds are built through the ``SandboxState`` API and manifests are written as plain text line
by line: at 50,000 members a YAML dumper would take longer than the run being measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler_sandbox import SandboxState

ADMIN = "111111111111"
MANAGEMENT = "999999999999"
ORG_ID = "o-bench1234567"
ROOT_ID = "r-be12"
OU_ID = "ou-be12-11111111"
FIRST_MEMBER = 200_000_000_000

GUARDDUTY = "guardduty"
SECURITYHUB = "securityhub"
DETECTIVE = "detective"
LABELS = {GUARDDUTY: "GD", SECURITYHUB: "SH", DETECTIVE: "Detective"}
ORGANIZATION = "organization"
INVITATION = "invitation"

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")

#: The reconciler's client-side rate when the sandbox does not throttle: high enough that the
#: client never waits, so the run measures the reconciler's own work.
UNPACED_RATE = "100000/100000"


#: The administrator side each service needs before members can join (the state file's words).
READY: dict[str, dict[str, Any]] = {
    GUARDDUTY: {"detector": "ENABLED"},
    SECURITYHUB: {"enabled": True},
    DETECTIVE: {"graph": True},
}
#: The status a member that already joined has, by mode (each service's own vocabulary).
JOINED: dict[str, dict[str, str]] = {
    GUARDDUTY: {ORGANIZATION: "Enabled", INVITATION: "Invited"},
    SECURITYHUB: {ORGANIZATION: "Enabled", INVITATION: "Invited"},
    DETECTIVE: {ORGANIZATION: "ENABLED", INVITATION: "INVITED"},
}
#: Services that keep no email for organization members.
NO_ORGANIZATION_EMAIL = frozenset({SECURITYHUB})


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark case. ``members`` is per shard: every member is in every shard."""

    name: str
    title: str
    mode: str
    members: int
    regions: tuple[str, ...]
    services: tuple[str, ...]
    #: Members AWS already has in each shard before the run (they are the manifest's first
    #: ones, spread evenly: with 0.9, every tenth member is missing).
    existing_fraction: float = 0.0
    dry_run: bool = False
    latency_ms: int = 20
    #: The sandbox's (and the reconciler's) rate limit per (account, region, service);
    #: None: the sandbox does not throttle and the reconciler does not pace.
    rate: float | None = 10.0
    burst: int = 30
    scale: float = 1.0

    @property
    def shards(self) -> list[tuple[str, str]]:
        """(service, region) of every shard, in the reconciler's order."""
        return [(service, region) for service in self.services for region in self.regions]

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with ``factor`` times the members (at least one)."""
        return replace(self, members=max(1, round(self.members * factor)), scale=factor)

    def account_ids(self) -> list[str]:
        return [f"{FIRST_MEMBER + index:012d}" for index in range(self.members)]

    def existing_ids(self) -> list[str]:
        """The members AWS already has, in every shard."""
        ids = self.account_ids()
        if self.existing_fraction >= 1.0:
            return ids
        if self.existing_fraction <= 0.0:
            return []
        # Spread the missing ones evenly: member i exists unless floor((i+1)·f) == floor(i·f).
        f = self.existing_fraction
        return [a for i, a in enumerate(ids) if math.floor((i + 1) * f) != math.floor(i * f)]

    @property
    def rate_spec(self) -> str:
        """The reconciler's ``--rate`` value for both services."""
        return UNPACED_RATE if self.rate is None else f"{self.rate:g}/{self.burst}"

    def describe(self) -> str:
        services = " + ".join(LABELS[s] for s in self.services)
        return (
            f"{self.mode} mode, {self.members:,} members × {len(self.regions)} regions × {services}"
        )


FULL: dict[str, Scenario] = {
    "A": Scenario(
        "A",
        "organization mode, onboarding from empty",
        ORGANIZATION,
        10_000,
        REGIONS,
        (GUARDDUTY, SECURITYHUB),
    ),
    "B": Scenario(
        "B",
        "organization mode, converged (the hourly run)",
        ORGANIZATION,
        10_000,
        REGIONS,
        (GUARDDUTY, SECURITYHUB),
        existing_fraction=1.0,
    ),
    "C": Scenario(
        "C",
        "invitation mode, onboarding from empty (no accept)",
        INVITATION,
        1_000,
        REGIONS[:2],
        (GUARDDUTY, SECURITYHUB),
    ),
    "D": Scenario(
        "D",
        "planning only (--dry-run), 10% missing, unthrottled",
        ORGANIZATION,
        50_000,
        REGIONS[:1],
        (GUARDDUTY,),
        existing_fraction=0.9,
        dry_run=True,
        latency_ms=0,
        rate=None,
    ),
    "E": Scenario(
        "E",
        "Detective, organization mode, onboarding from empty",
        ORGANIZATION,
        1_200,
        REGIONS,
        (DETECTIVE,),
    ),
    "F": Scenario(
        "F",
        "Detective, organization mode, converged",
        ORGANIZATION,
        1_200,
        REGIONS,
        (DETECTIVE,),
        existing_fraction=1.0,
    ),
}

#: Small enough to run in seconds (the CI smoke test), large enough that A still spends more
#: calls than the burst and every list takes several pages.
QUICK: dict[str, Scenario] = {
    "A": replace(FULL["A"], members=1_000),
    "B": replace(FULL["B"], members=600),
    "C": replace(FULL["C"], members=150),
    "D": replace(FULL["D"], members=2_000),
    "E": replace(FULL["E"], members=300),
    "F": replace(FULL["F"], members=450),
}

#: Scales run by default in the full benchmark: B and D at ×1, ×2 and ×4 of a quarter of
#: their size, to show time and memory linear in members (D stays within GuardDuty's 50,000
#: member quota, past which the plan would be refused).
DEFAULT_SCALES: dict[str, tuple[float, ...]] = {
    "A": (1.0,),
    "B": (0.25, 0.5, 1.0),
    "C": (1.0,),
    "D": (0.25, 0.5, 1.0),
    "E": (1.0,),
    "F": (1.0,),
}


def scenarios(
    names: Sequence[str], *, quick: bool, scales: Sequence[float] | None
) -> Iterator[Scenario]:
    """The runs to make, in order: each named scenario at each scale."""
    table = QUICK if quick else FULL
    for name in names:
        base = table[name]
        factors = scales if scales is not None else (DEFAULT_SCALES[name] if not quick else (1.0,))
        for factor in factors:
            yield base.scaled(factor)


def root_email(account_id: str) -> str:
    return f"aws+{account_id}@example.com"


def build_state(scenario: Scenario) -> SandboxState:
    """The sandbox world before the run."""
    data: dict[str, Any] = {
        "version": 1,
        "defaultAccount": ADMIN,
        "accounts": {
            ADMIN: {
                "email": root_email(ADMIN),
                "regions": {
                    region: {service: READY[service] for service in scenario.services}
                    for region in scenario.regions
                },
            }
        },
    }
    members = scenario.account_ids()
    if scenario.mode == ORGANIZATION:
        data["organization"] = {
            "id": ORG_ID,
            "managementAccount": MANAGEMENT,
            "rootId": ROOT_ID,
            "delegatedAdministrators": {service: ADMIN for service in scenario.services},
            "organizationalUnits": [{"id": OU_ID, "name": "Workloads", "parent": ROOT_ID}],
            "accounts": [
                {"accountId": ADMIN, "email": root_email(ADMIN), "parent": ROOT_ID},
                *(
                    {"accountId": account, "email": root_email(account), "parent": OU_ID}
                    for account in members
                ),
            ],
        }
    else:
        data["accounts"].update({account: {"email": root_email(account)} for account in members})
    state = SandboxState.from_dict(data, source=f"scenario {scenario.name}")
    existing = scenario.existing_ids()
    if existing:
        member_type = ORGANIZATION if scenario.mode == ORGANIZATION else INVITATION
        for service, region in scenario.shards:
            entries: list[dict[str, Any]] = []
            for account in existing:
                entry: dict[str, Any] = {
                    "accountId": account,
                    "status": JOINED[service][scenario.mode],
                    "type": member_type,
                }
                if service not in NO_ORGANIZATION_EMAIL or member_type == INVITATION:
                    entry["email"] = root_email(account)
                entries.append(entry)
            state.add_members(ADMIN, region, service, entries)
    return state


def write_manifest(scenario: Scenario, path: Path) -> Path:
    """The manifest: every member in every shard, GuardDuty with the root email."""
    lines = [
        "version: 1",
        "administrator:",
        f'  accountId: "{ADMIN}"',
        f"regions: [{', '.join(scenario.regions)}]",
        "services:",
    ]
    for service in scenario.services:
        lines += [f"  {service}:", f"    mode: {scenario.mode}"]
    lines.append("members:")
    for account in scenario.account_ids():
        lines.append(f'  - accountId: "{account}"')
        lines.append(f"    email: {root_email(account)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
