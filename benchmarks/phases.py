"""Where a dry-run's CPU goes: the CLI's steps, one by one, each with its CPU time.

Run as a child process against the same sandbox as the measured run (``python -m
benchmarks.phases MANIFEST RATE``); prints one JSON object on stdout, phase → CPU seconds
(all threads, ``time.process_time``). The steps are the ones ``reconcile --dry-run`` takes, in
its order and through the same functions (``reconciler.compose`` builds the same objects); only
the argument parsing and the final log event are left out. It exists to split the table's
single CPU figure into what talking to AWS costs and what planning costs, since the first
grows with the number of calls, which no client-side work can lower below the bound.
"""

from __future__ import annotations

import gc
import json
import sys
import time


def main(argv: list[str]) -> int:
    manifest_path, rate = argv
    marks: list[tuple[str, float]] = [("start-up", time.process_time())]

    def mark(phase: str) -> None:
        marks.append((phase, time.process_time()))

    import boto3

    from reconciler import cli, logs, pipeline, report  # noqa: F401  (the CLI's imports)
    from reconciler.aws import ratelimit, registry, session, wiring
    from reconciler.aws.regions import load_region_catalog, new_botocore_session
    from reconciler.manifest import expand, load_manifest
    from reconciler.metrics import shard_numbers
    from reconciler.observe import observe_all
    from reconciler.plan import build_plan
    from reconciler.workers import Workers

    mark("imports")
    logs.configure(log_format="json", level="warning", mask_emails=True)
    catalog = load_region_catalog()
    mark("region catalog")
    manifest = load_manifest(manifest_path, catalog=catalog)
    mark("manifest load")
    desired = expand(manifest)
    mark("expand")
    rates = {service: ratelimit.Rate.parse(rate) for service in ("guardduty", "securityhub")}
    base = session.ClientFactory(
        boto3.Session(botocore_session=new_botocore_session()),
        operations=registry.OPERATIONS,
        dry_run=True,
        limiter=ratelimit.RateLimiter(rates),
        settings=session.ClientSettings(max_pool_connections=16),
    )
    factory = session.administrator_factory(
        base,
        expected_account=desired.administrator_account_id,
        role_arn=desired.administrator_role_arn,
        region=desired.regions[0],
    )
    ports = wiring.member_ports(factory, desired)
    mark("identity + clients")
    with Workers(8) as workers:
        observations = observe_all(ports, workers=workers)
    mark("observe (AWS reads)")
    gc.freeze()  # as reconciler.pipeline.run does once the shards are observed
    plan = build_plan(desired, observations)
    mark("diff + plan")
    outcome = pipeline.RunReport(
        desired=desired,
        observations=observations,
        plan=plan,
        dry_run=True,
        results=None,
        duration_seconds=0.0,
    )
    report.render_text(outcome)
    report.summary(outcome, {"aws_calls": base.stats.snapshot()})
    shard_numbers(outcome)
    mark("report")
    phases = {
        name: round(at - before, 4)
        for (name, at), (_, before) in zip(marks[1:], marks[:-1], strict=True)
    }
    phases = {"start-up": round(marks[0][1], 4), **phases}
    sys.stdout.write(json.dumps(phases) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
