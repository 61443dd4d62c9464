"""The ``reconcile`` command: parse the invocation, run the pipeline, map the outcome to exit codes.

This is the only module that knows about exit codes, and the only one that catches our
exceptions to turn them into them. The contract (tested, documented in the README):

====  ==========================================================================================
0     converged: nothing to do, or everything applied and verified
1     failure: an AWS error, a blocked shard, an account not converged, a refused plan
2     changes pending (only with ``--dry-run --detailed-exitcode``)
3     invalid manifest or invalid invocation (argument errors too, not argparse's usual 2)
====  ==========================================================================================

The plan goes to stdout; logs and error lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import structlog

from reconciler import __version__, logs
from reconciler.errors import (
    DryRunViolation,
    IdentityMismatch,
    ManifestError,
    PlanRefused,
    ReconcilerError,
    UsageError,
)
from reconciler.model import Service
from reconciler.redact import mask_emails

EXIT_CONVERGED = 0
EXIT_FAILED = 1
EXIT_CHANGES_PENDING = 2
EXIT_INVALID = 3

MANIFEST_ENV = "RECONCILER_MANIFEST"

log = structlog.get_logger("reconciler.cli")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad invocation raises UsageError (exit 3) instead of exiting 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconcile",
        description=(
            "Make GuardDuty and Security Hub membership of the administrator account match "
            "the manifest, in every region it lists."
        ),
    )
    parser.add_argument(
        "--manifest",
        default=os.environ.get(MANIFEST_ENV),
        help=f"manifest file or directory (default: ${MANIFEST_ENV})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show the plan; make no change (read-only calls)"
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="only this region (repeatable; must be one of the manifest's regions)",
    )
    parser.add_argument(
        "--service",
        action="append",
        dest="services",
        choices=[service.value for service in Service],
        help="only this service (repeatable)",
    )
    parser.add_argument(
        "--output",
        choices=("text", "json", "markdown"),
        default="text",
        help="the plan on stdout: text, json (versioned schema) or markdown (a PR comment)",
    )
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="with --dry-run: exit 2 when changes are pending",
    )
    parser.add_argument("--log-format", choices=("console", "json"), default=None)
    parser.add_argument("--log-level", choices=logs.LEVELS, default="info")
    parser.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=8,
        help="shards (service × region) worked on at once (default 8)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=5,
        help="attempts per AWS call, retries included (botocore standard mode; default 5)",
    )
    parser.add_argument(
        "--read-timeout",
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds to wait for an AWS response before retrying the call (default 30)",
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="SERVICE=RPS/BURST",
        help="client-side rate limit per service and region (default 10/30 for both)",
    )
    parser.add_argument("--show-emails", action="store_true", help="print member emails unmasked")
    parser.add_argument(
        "--allow-mass-prune",
        action="store_true",
        help="apply a prune that removes more accounts than prune.maxDeletions",
    )
    parser.add_argument(
        "--out",
        metavar="PLAN.json",
        help="with --dry-run: save the plan, with fingerprints of what it was computed from",
    )
    parser.add_argument(
        "--plan",
        metavar="PLAN.json",
        dest="saved_plan",
        help="apply exactly this saved plan, if the manifest and the members it touches are "
        "unchanged; the manifest defaults to the one the plan names",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="check the manifest (schema and semantics) and exit: 0 valid, 3 invalid; no AWS call",
    )
    parser.add_argument(
        "--iam-policy",
        nargs="?",
        const="administrator",
        choices=("administrator", "member", "organization-reader"),
        metavar="PRINCIPAL",
        help="print the least-privilege IAM policy of a principal (default administrator; "
        "member, organization-reader) and exit; tailored to --manifest when given",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="with --iam-policy: only what --dry-run needs"
    )
    parser.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write Prometheus metrics of the run there (textfile collector format, atomic)",
    )
    parser.add_argument(
        "--pushgateway", metavar="URL", help="push Prometheus metrics of the run to a Pushgateway"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars or progress events"
    )
    parser.add_argument(
        "--sandbox",
        metavar="STATE.yaml",
        help="run against an embedded local AWS-compatible sandbox seeded from this state file",
    )
    parser.add_argument(
        "--sandbox-save",
        metavar="FILE",
        help="with --sandbox: write the sandbox state to FILE after the run",
    )
    parser.add_argument("--version", action="version", version=f"reconcile {__version__}")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _error(f"invalid invocation: {exc}")
        return EXIT_INVALID
    logs.configure(
        log_format=args.log_format, level=args.log_level, mask_emails=not args.show_emails
    )
    run = _Run(args)
    try:
        code = run.execute()
    except (UsageError, ManifestError) as exc:
        _error(str(exc))
        code = EXIT_INVALID
    except DryRunViolation as exc:
        _error(f"refused: {exc}")
        code = EXIT_FAILED
    except IdentityMismatch as exc:
        _error(str(exc))
        code = EXIT_FAILED
    except PlanRefused as exc:
        # A stale saved plan is explained with the emails AWS now reports: masked, like logs.
        _error(str(exc) if args.show_emails else mask_emails(str(exc)))
        code = EXIT_FAILED
    except ReconcilerError as exc:
        _error(str(exc))
        code = EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted; rerun to converge (every action is idempotent)")
        code = EXIT_FAILED
    try:
        run.export_metrics(code)
    except OSError as exc:
        _error(f"could not export metrics: {exc}")
        code = code or EXIT_FAILED
    return code


def exit_code(status: Any, *, detailed: bool) -> int:
    from reconciler.pipeline import RunStatus

    if status is RunStatus.FAILED:
        return EXIT_FAILED
    if status is RunStatus.CHANGES_PENDING:
        return EXIT_CHANGES_PENDING if detailed else EXIT_CONVERGED
    return EXIT_CONVERGED


class _Run:
    """One invocation: the steps in order, and what the metrics export needs afterwards."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.outcome: Any = None
        self.stats: Any = None
        self.active = False  # True once the invocation got past validation (a run to report)

    def execute(self) -> int:
        if self.args.iam_policy:
            return _print_iam_policy(self.args)
        if self.args.read_only:
            raise UsageError("--read-only goes with --iam-policy")
        if self.args.validate:
            return _validate(self.args)
        return self._reconcile()

    def _reconcile(self) -> int:
        # Imported here so `reconcile --help` and invocation errors stay fast and AWS-free.
        from reconciler import pipeline, planfile, report
        from reconciler.aws import members, ratelimit, session, wiring
        from reconciler.aws.regions import load_region_catalog
        from reconciler.manifest import expand, load_manifest
        from reconciler.metrics import shard_numbers
        from reconciler.progress import make_progress

        args = self.args
        saved = _load_saved_plan(args) if args.saved_plan else None
        _check_combinations(args)
        rates = _parse_rates(args.rate, ratelimit.Rate)

        manifest = load_manifest(args.manifest, catalog=load_region_catalog())
        services: list[Service] | None = (
            [Service(name) for name in args.services] if args.services else None
        )
        regions: list[str] | None = args.regions
        if saved is not None:
            services, regions = list(saved.services), list(saved.regions)
        # Expanded once before any AWS call, so a bad --service/--region is exit 3 with no
        # call; again below once the organization's accounts are known.
        desired = expand(manifest, services=services, regions=regions)
        home_region = desired.regions[0]
        self.active = True

        with _aws_session(args) as (boto_session, endpoint_url):
            base = session.ClientFactory(
                boto_session,
                dry_run=args.dry_run,
                limiter=ratelimit.RateLimiter(rates),
                settings=session.ClientSettings(
                    max_attempts=args.max_attempts,
                    read_timeout=args.read_timeout,
                    endpoint_url=endpoint_url,
                    max_pool_connections=max(10, args.max_concurrency * 2),
                ),
            )
            self.stats = base.stats
            factory = session.administrator_factory(
                base,
                expected_account=desired.administrator_account_id,
                role_arn=desired.administrator_role_arn,
                region=home_region,
            )
            source = manifest.members_from
            if source is not None:
                from reconciler.aws.organizations import organization_accounts, with_skipped

                listing = organization_accounts(
                    factory,
                    partition=desired.partition,
                    ous=source.ous,
                    recursive=source.recursive,
                    role_arn=source.role_arn,
                    sts_region=home_region,
                )
                accounts = listing.members
                log.info(
                    "organization.listed", accounts=len(accounts), skipped=len(listing.skipped)
                )
                desired = expand(
                    manifest, services=services, regions=regions, organization_accounts=accounts
                )
                desired = with_skipped(desired, listing.skipped, exclude=source.exclude)
            accept = {
                service: settings.accept
                for service, settings in desired.services.items()
                if settings.accept is not None
            }
            acceptor = (
                members.MemberAccounts(
                    factory, partition=desired.partition, accept=accept, sts_region=home_region
                )
                if accept
                else None
            )
            outcome = pipeline.run(
                desired,
                wiring.member_ports(factory, desired),
                dry_run=args.dry_run,
                max_concurrency=args.max_concurrency,
                acceptor=acceptor,
                allow_mass_prune=args.allow_mass_prune,
                saved=saved,
                progress=make_progress(
                    log_format=logs.resolved_format(args.log_format, sys.stderr),
                    stream=sys.stderr,
                    enabled=not args.no_progress,
                ),
            )
        self.outcome = outcome

        if args.out:
            _write_atomically(
                args.out,
                planfile.dump(outcome.plan, desired=desired, observations=outcome.observations),
            )
            log.info("plan.saved", path=args.out, actions=len(outcome.plan.actions))

        extra = {"aws_calls": base.stats.snapshot()}
        mask = not args.show_emails
        if args.output == "json":
            rendered = report.render_json(outcome, mask_emails=mask, extra=extra)
        elif args.output == "markdown":
            rendered = report.render_markdown(outcome, mask_emails=mask)
        else:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
            rendered = report.render_text(outcome, mask_emails=mask, color=color)
        sys.stdout.write(rendered)
        sys.stdout.flush()
        _github_step_summary(report.render_markdown(outcome, mask_emails=mask))

        code = exit_code(outcome.status, detailed=args.detailed_exitcode)
        log.info(
            "run.summary",
            exit_code=code,
            **report.summary(outcome, extra),
            per_shard=[{**n, "drift": dict(n["drift"])} for n in shard_numbers(outcome)],
        )
        return code

    def export_metrics(self, code: int) -> None:
        args = self.args
        if not (args.metrics_file or args.pushgateway) or not self.active:
            return
        from reconciler import metrics

        previous = metrics.previous_success(args.metrics_file) if args.metrics_file else None
        calls = self.stats.snapshot() if self.stats is not None else {}
        registry = (
            metrics.build_registry(
                self.outcome, calls=calls, exit_code=code, previous_success=previous
            )
            if self.outcome is not None
            else metrics.failure_registry(exit_code=code, previous_success=previous)
        )
        if args.metrics_file:
            metrics.write_textfile(registry, args.metrics_file)
            log.info("metrics.written", path=args.metrics_file)
        if args.pushgateway:
            grouping = {"manifest": os.path.basename(os.path.normpath(args.manifest or "-"))}
            metrics.push(registry, args.pushgateway, grouping=grouping)
            log.info("metrics.pushed", url=args.pushgateway)


def _check_combinations(args: argparse.Namespace) -> None:
    if not args.manifest:
        raise UsageError(f"no manifest: pass --manifest PATH or set ${MANIFEST_ENV}")
    if args.detailed_exitcode and not args.dry_run:
        raise UsageError("--detailed-exitcode only makes sense with --dry-run")
    if args.sandbox_save and not args.sandbox:
        raise UsageError("--sandbox-save needs --sandbox")
    if args.out and not args.dry_run:
        raise UsageError("--out saves a plan for review: use it with --dry-run")
    if args.saved_plan and (args.dry_run or args.out):
        raise UsageError("--plan applies a saved plan: it takes neither --dry-run nor --out")
    if args.saved_plan and (args.services or args.regions):
        raise UsageError("--plan applies the saved plan's own services and regions")


def _load_saved_plan(args: argparse.Namespace) -> Any:
    from reconciler import planfile

    try:
        with open(args.saved_plan, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"--plan {args.saved_plan}: {exc.strerror}") from None
    saved = planfile.load(text, path=args.saved_plan)
    if not args.manifest:
        args.manifest = saved.manifest
    return saved


def _validate(args: argparse.Namespace) -> int:
    from reconciler.aws.regions import load_region_catalog
    from reconciler.manifest import expand, load_manifest

    if not args.manifest:
        raise UsageError(f"no manifest: pass --manifest PATH or set ${MANIFEST_ENV}")
    manifest = load_manifest(args.manifest, catalog=load_region_catalog())
    services = [Service(name) for name in args.services] if args.services else None
    desired = expand(manifest, services=services, regions=args.regions)
    accounts = {account for shard in desired.shards.values() for account in shard}
    from_org = " (plus the accounts membersFrom selects)" if manifest.members_from else ""
    sys.stdout.write(
        f"{args.manifest}: valid: {len(accounts)} member accounts{from_org}, "
        f"{len(desired.services)} services × {len(desired.regions)} regions "
        f"({len(desired.shards)} shards), partition {desired.partition}\n"
    )
    return EXIT_CONVERGED


def _print_iam_policy(args: argparse.Namespace) -> int:
    from reconciler.aws import iam

    services: list[str] | None = None
    assume_roles: list[str] = []
    reads_organization = False
    if args.manifest:
        from reconciler.aws.regions import load_region_catalog
        from reconciler.manifest import expand, load_manifest

        manifest = load_manifest(args.manifest, catalog=load_region_catalog())
        desired = expand(manifest)
        services = [service.value for service in desired.services]
        if not args.read_only:
            # Accepting is an apply step: a dry-run never assumes member roles.
            for settings in desired.services.values():
                if settings.accept is not None:
                    role = settings.accept.role_name
                    assume_roles.append(f"arn:{desired.partition}:iam::*:role/{role}")
        source = manifest.members_from
        if source is not None:
            if source.role_arn:
                assume_roles.append(source.role_arn)
            else:
                reads_organization = True
    document = iam.policy(
        args.iam_policy,
        read_only=args.read_only,
        services=services,
        assume_roles=assume_roles,
        reads_organization=reads_organization,
    )
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return EXIT_CONVERGED


def _parse_rates(values: Sequence[str], rate_type: Any) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    for value in values:
        service, sep, spec = value.partition("=")
        if not sep or service not in {s.value for s in Service}:
            raise UsageError(
                f"--rate {value!r}: expected SERVICE=RPS/BURST with SERVICE one of "
                "guardduty, securityhub (e.g. guardduty=10/30)"
            )
        try:
            rates[service] = rate_type.parse(spec)
        except ValueError as exc:
            raise UsageError(f"--rate {value!r}: {exc}") from None
    return rates


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _github_step_summary(markdown: str) -> None:
    """Under GitHub Actions, append the markdown summary to the job's summary page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        log.warning("github.summary.failed", error=str(exc))


@contextmanager
def _aws_session(args: argparse.Namespace) -> Iterator[tuple[Any, str | None]]:
    """The boto3 session to use, and the endpoint override (the embedded sandbox's)."""
    import boto3

    from reconciler.aws.regions import new_botocore_session

    if not args.sandbox:
        yield boto3.Session(botocore_session=new_botocore_session()), None
        return

    from reconciler.sandbox import Sandbox, SandboxOptions, SandboxState, SandboxStateError

    try:
        state = SandboxState.load(args.sandbox)
    except SandboxStateError as exc:
        raise UsageError(f"--sandbox: {exc}") from None
    with Sandbox(state, SandboxOptions(), host="127.0.0.1", port=0) as sandbox:
        sandbox.start()
        access_key, secret_key = sandbox.credentials
        log.info("sandbox.started", endpoint=sandbox.endpoint_url, state=args.sandbox)
        yield (
            boto3.Session(
                botocore_session=new_botocore_session(),
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name="us-east-1",
            ),
            sandbox.endpoint_url,
        )
        if args.sandbox_save:
            sandbox.state.save(args.sandbox_save)
            log.info("sandbox.saved", path=args.sandbox_save)


def _error(message: str) -> None:
    # One line, always; the message itself is already a single line.
    sys.stderr.write(f"reconcile: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
