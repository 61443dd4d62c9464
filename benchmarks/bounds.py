"""Lower bounds on the calls and the wall time of a scenario, from its numbers alone.

Per shard (service × region) with M members observed and k members to add:

- prerequisite check: GuardDuty ``ListDetectors`` + ``GetDetector``; Security Hub ``DescribeHub``;
- ``ListMembers``: max(1, ⌈M/50⌉) pages (50 is the largest page both services serve);
- onboarding (not in dry-run): ⌈k/50⌉ ``CreateMembers`` and ⌈k/50⌉ ``GetMembers`` to verify,
  plus ⌈k/50⌉ ``InviteMembers`` in invitation mode (50 accounts per call is the API maximum);
- once per run: ``sts GetCallerIdentity``, the identity check (not rate-limited).

No correct run can make fewer: every member must be read, every missing one created (and
invited) and, since AWS's answer to a batch call does not say what state the member ended in,
read back once. The bounds are computed from the scenario, never from the calls log, so a run
cannot move its own goalpost.

Wall time: each shard's calls go through that shard's token bucket (``rate`` per second after
an initial ``burst``), so the shard's last call cannot arrive before (calls − burst) / rate
seconds after its first, and its answer comes at least one latency later; shards run in
parallel, so the run's bound is the largest shard's. Without a rate limit (scenario D) the
bound is the latency alone, and the wall ratio is not meaningful.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from benchmarks.scenarios import GUARDDUTY, INVITATION, Scenario

PAGE = 50
BATCH = 50

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
    calls: Counter[CallKey] = Counter()
    if service == GUARDDUTY:
        calls[(service, region, "ListDetectors")] = 1
        calls[(service, region, "GetDetector")] = 1
    else:
        calls[(service, region, "DescribeHub")] = 1
    calls[(service, region, "ListMembers")] = pages(observed)
    if not scenario.dry_run and to_add:
        calls[(service, region, "CreateMembers")] = batches(to_add)
        if scenario.mode == INVITATION:
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


def wall_bound(scenario: Scenario) -> WallBound:
    """max over shards of (calls − burst) / rate, plus one latency."""
    latency = scenario.latency_ms / 1000.0
    if scenario.rate is None:
        return WallBound(latency, rate_bound=False)
    slowest = max(
        max(0, sum(shard_calls(scenario, service, region).values()) - scenario.burst)
        / scenario.rate
        for service, region in scenario.shards
    )
    return WallBound(slowest + latency, rate_bound=True)
