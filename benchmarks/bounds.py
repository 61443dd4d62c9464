"""Lower bounds on the calls and the wall time of a scenario, from its numbers alone.

Per shard (service × region) with M members observed and k members to add:

- prerequisite check: GuardDuty ``ListDetectors`` + ``GetDetector``; Security Hub ``DescribeHub``;
  Detective ``ListGraphs``;
- ``ListMembers``: max(1, ⌈M/P⌉) pages, P the largest page the service serves (GuardDuty and
  Security Hub 50, Detective 200);
- onboarding (not in dry-run): ⌈k/50⌉ ``CreateMembers`` and ⌈k/50⌉ ``GetMembers`` to verify,
  plus ⌈k/50⌉ ``InviteMembers`` in invitation mode where the service invites in a call of its own
  (Detective's CreateMembers invites as it creates); 50 accounts per call is the API maximum;
- once per run: ``sts GetCallerIdentity``, the identity check (not rate-limited).

No correct run can make fewer: every member must be read, every missing one created (and
invited) and, since AWS's answer to a batch call does not say what state the member ended in,
read back once. The bounds are computed from the scenario, never from the calls log, so a run
cannot move its own goalpost.

Wall time: each shard's calls go through that shard's token bucket (``rate`` per second after
an initial ``burst``), so the shard's last call cannot arrive before (calls − burst) / rate
seconds after its first, and its answer comes at least one latency later; shards run in
parallel, so the run's bound is the largest shard's. Nor can it be shorter than the shard's
chain of calls that each wait for the answer before them (the prerequisite, then each page of
``ListMembers``, whose NextToken the next page needs), one latency each, after the run's identity
check, which precedes every shard: that is what bounds
a converged shard whose few calls fit in the burst (scenario F). Without a rate limit
(scenario D) the bound is the latency alone, and the wall ratio is not meaningful.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from benchmarks.scenarios import DETECTIVE, GUARDDUTY, INVITATION, SECURITYHUB, Scenario

PAGE = 50
BATCH = 50


@dataclass(frozen=True, slots=True)
class ServiceCalls:
    """What a scenario's bound needs to know of a service (its facts, not the product's code)."""

    prerequisite: tuple[str, ...]  # the administrator-side checks, one call each, in order
    page: int  # ListMembers' largest page
    invites_apart: bool  # InviteMembers is a call of its own after CreateMembers


SERVICE_CALLS = {
    GUARDDUTY: ServiceCalls(("ListDetectors", "GetDetector"), PAGE, invites_apart=True),
    SECURITYHUB: ServiceCalls(("DescribeHub",), PAGE, invites_apart=True),
    DETECTIVE: ServiceCalls(("ListGraphs",), 200, invites_apart=False),
}

#: The key of the one identity call: STS is global to the run, not to a shard.
STS_KEY = ("sts", "-", "GetCallerIdentity")

CallKey = tuple[str, str, str]  # (service, region, operation); region "-" for STS


def pages(count: int, size: int = PAGE) -> int:
    return max(1, math.ceil(count / size))


def batches(count: int, size: int = BATCH) -> int:
    return math.ceil(count / size)


def shard_calls(scenario: Scenario, service: str, region: str) -> Counter[CallKey]:
    """The fewest calls one shard needs, by operation."""
    observed = len(scenario.existing_ids())
    to_add = scenario.members - observed
    facts = SERVICE_CALLS[service]
    calls: Counter[CallKey] = Counter()
    for operation in facts.prerequisite:
        calls[(service, region, operation)] = 1
    calls[(service, region, "ListMembers")] = pages(observed, facts.page)
    if not scenario.dry_run and to_add:
        calls[(service, region, "CreateMembers")] = batches(to_add)
        if scenario.mode == INVITATION and facts.invites_apart:
            calls[(service, region, "InviteMembers")] = batches(to_add)
        calls[(service, region, "GetMembers")] = batches(to_add)
    return calls


def call_bound(scenario: Scenario) -> Counter[CallKey]:
    """The fewest calls the whole run needs, by (service, region, operation)."""
    calls: Counter[CallKey] = Counter({STS_KEY: 1})
    for service, region in scenario.shards:
        calls.update(shard_calls(scenario, service, region))
    return calls


def mutating_bound(scenario: Scenario) -> int:
    return sum(
        count
        for (_, _, operation), count in call_bound(scenario).items()
        if not operation.startswith(("List", "Get", "Describe"))
    )


@dataclass(frozen=True, slots=True)
class WallBound:
    seconds: float
    rate_bound: bool  # False: no rate limit, the bound is the latency only


def sequential_calls(scenario: Scenario, service: str) -> int:
    """The calls that each need the answer before them: the run's identity check (before any
    shard starts), then the shard's prerequisite, then its pages."""
    facts = SERVICE_CALLS[service]
    return 1 + len(facts.prerequisite) + pages(len(scenario.existing_ids()), facts.page)


def wall_bound(scenario: Scenario) -> WallBound:
    """max over shards of (calls − burst) / rate + one latency, and of its chain of latencies."""
    latency = scenario.latency_ms / 1000.0
    if scenario.rate is None:
        return WallBound(latency, rate_bound=False)
    rate = scenario.rate
    slowest = max(
        max(
            max(0, sum(shard_calls(scenario, service, region).values()) - scenario.burst) / rate
            + latency,
            sequential_calls(scenario, service) * latency,
        )
        for service, region in scenario.shards
    )
    return WallBound(slowest, rate_bound=True)
