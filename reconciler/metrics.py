"""Prometheus metrics of a run, for the team's monitoring of the scheduled job.

Receives the run's report, call counters and exit code; writes them in the Prometheus text
format for node_exporter's textfile collector (``--metrics-file``, replaced atomically so the
collector never reads half a file) and/or pushes them to a Pushgateway (``--pushgateway``).

``reconciler_last_success_timestamp_seconds`` must survive failed runs, or an alert on "no
success for 2 hours" would reset on every failure: a failed run carries the previous value
over from the old textfile, and pushes with POST semantics, which leave metrics it does not
send untouched in the gateway's group.

The same numbers go into the final ``run.summary`` log event (:func:`shard_numbers`).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, pushadd_to_gateway

from reconciler.diff import DriftItem
from reconciler.model import ShardKey
from reconciler.pipeline import RunReport, RunStatus
from reconciler.report import PLANNED_KINDS
from reconciler.verify import AccountResult, Outcome

LAST_SUCCESS = "reconciler_last_success_timestamp_seconds"
JOB = "reconciler"
# user:password@ in a URL's authority (as urllib and the Pushgateway's basic auth accept it).
_PASSWORD_IN_URL = re.compile(r"(//[^/@:?#]*):[^/@?#]*@")


def shard_numbers(report: RunReport) -> list[dict[str, Any]]:
    """Per shard: desired, observed and converged members, changes applied and failed, drift."""
    plan = report.plan
    # Grouped by shard in one pass each: filtering the whole drift and results per shard made
    # this shards × members (0.5 s after onboarding 10,000 accounts in 8 shards).
    drift_of: dict[ShardKey, list[DriftItem]] = defaultdict(list)
    for item in plan.drift:
        drift_of[item.key].append(item)
    results_of: dict[ShardKey, list[AccountResult]] = defaultdict(list)
    for result in report.results or ():
        results_of[result.key].append(result)
    numbers = []
    for shard in plan.shards:
        key = shard.key
        drift, results = drift_of.get(key, []), results_of.get(key, [])
        drifting = {d.account_id for d in drift}
        outcomes = Counter(r.outcome for r in results)
        converged_now = {r.account_id for r in results if r.outcome is Outcome.CONVERGED}
        desired = report.desired.shards.get(key, {})
        converged = (
            sum(1 for account in desired if account not in drifting or account in converged_now)
            if shard.ready
            else 0
        )
        numbers.append(
            {
                "service": key.service,
                "region": key.region,
                "blocked": not shard.ready,
                "desired": shard.desired,
                "observed": shard.observed,
                "converged": converged,
                "applied": outcomes[Outcome.CONVERGED],
                "failed": outcomes[Outcome.FAILED],
                "drift": Counter(d.kind.value for d in drift if d.kind not in PLANNED_KINDS),
            }
        )
    return numbers


def build_registry(
    report: RunReport,
    *,
    calls: Mapping[str, Any],
    exit_code: int,
    now: float | None = None,
    previous_success: float | None = None,
) -> CollectorRegistry:
    now = time.time() if now is None else now
    registry = CollectorRegistry()
    labels = ["service", "region"]

    def gauge(name: str, doc: str, names: list[str] | None = None) -> Gauge:
        return Gauge(name, doc, names or [], registry=registry)

    desired = gauge("reconciler_desired_members", "Members the manifest wants.", labels)
    observed = gauge("reconciler_observed_members", "Members AWS reported.", labels)
    converged = gauge(
        "reconciler_converged_members", "Desired members in the state the mode expects.", labels
    )
    blocked = gauge("reconciler_shard_blocked", "1 when the shard could not be worked on.", labels)
    changes = gauge(
        "reconciler_account_changes",
        "Accounts changed by this run, by outcome (applied and verified, or failed).",
        [*labels, "outcome"],
    )
    drift = gauge("reconciler_drift", "Drift the plan does not fix, by kind.", [*labels, "kind"])
    for shard in shard_numbers(report):
        where = (shard["service"], shard["region"])
        desired.labels(*where).set(shard["desired"])
        observed.labels(*where).set(shard["observed"])
        converged.labels(*where).set(shard["converged"])
        blocked.labels(*where).set(1 if shard["blocked"] else 0)
        changes.labels(*where, "applied").set(shard["applied"])
        changes.labels(*where, "failed").set(shard["failed"])
        for kind, count in shard["drift"].items():
            drift.labels(*where, kind).set(count)

    aws_calls = gauge("reconciler_aws_calls", "AWS calls made by this run.", ["operation"])
    for operation, count in dict(calls.get("calls", {})).items():
        aws_calls.labels(operation).set(count)
    gauge("reconciler_aws_retries", "Retries botocore made in this run.").set(
        calls.get("retries", 0)
    )
    gauge("reconciler_aws_throttled", "Throttled (429) responses seen in this run.").set(
        calls.get("throttled", 0)
    )
    gauge("reconciler_run_duration_seconds", "Wall time of the run.").set(report.duration_seconds)
    gauge("reconciler_exit_code", "The exit code of the run.").set(exit_code)
    gauge("reconciler_dry_run", "1 for a dry run.").set(1 if report.dry_run else 0)
    gauge("reconciler_last_run_timestamp_seconds", "When the run ended.").set(now)
    succeeded = report.status is not RunStatus.FAILED
    last = now if succeeded else previous_success
    if last is not None:
        gauge(LAST_SUCCESS, "When a run last ended converged (or with changes pending).").set(last)
    return registry


def failure_registry(*, exit_code: int, previous_success: float | None) -> CollectorRegistry:
    """For a run that ended before it had a plan (refused, identity mismatch, AWS error)."""
    registry = CollectorRegistry()
    Gauge("reconciler_exit_code", "The exit code of the run.", registry=registry).set(exit_code)
    Gauge("reconciler_last_run_timestamp_seconds", "When the run ended.", registry=registry).set(
        time.time()
    )
    if previous_success is not None:
        Gauge(
            LAST_SUCCESS,
            "When a run last ended converged (or with changes pending).",
            registry=registry,
        ).set(previous_success)
    return registry


def previous_success(path: str | os.PathLike[str]) -> float | None:
    """The last-success timestamp of an earlier textfile, to carry over a failed run."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(rf"^{LAST_SUCCESS}\s+(\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def write_textfile(registry: CollectorRegistry, path: str | os.PathLike[str]) -> None:
    """Write atomically: a temporary file in the same directory, then rename over."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(generate_latest(registry))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def safe_url(url: str) -> str:
    """The Pushgateway URL as logs and warnings show it: a password in it replaced by ***."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url)


def push(registry: CollectorRegistry, url: str, *, grouping: Mapping[str, str]) -> None:
    """POST to the Pushgateway: metrics not sent (a failed run's last success) are kept."""
    pushadd_to_gateway(url, job=JOB, registry=registry, grouping_key=dict(grouping), timeout=10)
