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
    parser.add_argument("--output", choices=("text", "json"), default="text")
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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _error(f"invalid invocation: {exc}")
        return EXIT_INVALID
    logs.configure(
        log_format=args.log_format, level=args.log_level, mask_emails=not args.show_emails
    )
    try:
        return _run(args)
    except (UsageError, ManifestError) as exc:
        _error(str(exc))
        return EXIT_INVALID
    except DryRunViolation as exc:
        _error(f"refused: {exc}")
        return EXIT_FAILED
    except (IdentityMismatch, PlanRefused) as exc:
        _error(str(exc))
        return EXIT_FAILED
    except ReconcilerError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted; rerun to converge (every action is idempotent)")
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    # Imported here so `reconcile --help` and invocation errors stay fast and AWS-free.
    from reconciler import pipeline, report
    from reconciler.aws import members, ratelimit, session, wiring
    from reconciler.aws.regions import load_region_catalog
    from reconciler.manifest import expand, load_manifest

    if not args.manifest:
        raise UsageError(f"no manifest: pass --manifest PATH or set ${MANIFEST_ENV}")
    if args.detailed_exitcode and not args.dry_run:
        raise UsageError("--detailed-exitcode only makes sense with --dry-run")
    if args.sandbox_save and not args.sandbox:
        raise UsageError("--sandbox-save needs --sandbox")
    rates = _parse_rates(args.rate, ratelimit.Rate)

    manifest = load_manifest(args.manifest, catalog=load_region_catalog())
    services = [Service(name) for name in args.services] if args.services else None
    # Expanded once before any AWS call, so a bad --service/--region is exit 3 with no call;
    # again below once the organization's accounts are known.
    desired = expand(manifest, services=services, regions=args.regions)
    home_region = desired.regions[0]

    with _aws_session(args) as (boto_session, endpoint_url):
        base = session.ClientFactory(
            boto_session,
            dry_run=args.dry_run,
            limiter=ratelimit.RateLimiter(rates),
            settings=session.ClientSettings(
                max_attempts=args.max_attempts,
                endpoint_url=endpoint_url,
                max_pool_connections=max(10, args.max_concurrency * 2),
            ),
        )
        factory = session.administrator_factory(
            base,
            expected_account=desired.administrator_account_id,
            role_arn=desired.administrator_role_arn,
            region=home_region,
        )
        source = manifest.members_from
        if source is not None:
            from reconciler.aws.organizations import organization_members

            accounts = organization_members(
                factory,
                partition=desired.partition,
                ous=source.ous,
                recursive=source.recursive,
                role_arn=source.role_arn,
                sts_region=home_region,
            )
            log.info("organization.listed", accounts=len(accounts))
            desired = expand(
                manifest, services=services, regions=args.regions, organization_accounts=accounts
            )
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
        ports = wiring.member_ports(factory, desired)
        outcome = pipeline.run(
            desired,
            ports,
            dry_run=args.dry_run,
            max_concurrency=args.max_concurrency,
            acceptor=acceptor,
            allow_mass_prune=args.allow_mass_prune,
        )

    extra = {"aws_calls": base.stats.snapshot()}
    mask = not args.show_emails
    if args.output == "json":
        sys.stdout.write(report.render_json(outcome, mask_emails=mask, extra=extra))
    else:
        sys.stdout.write(report.render_text(outcome, mask_emails=mask))
    sys.stdout.flush()

    code = exit_code(outcome.status, detailed=args.detailed_exitcode)
    log.info("run.summary", exit_code=code, **report.summary(outcome, extra))
    return code


def exit_code(status: Any, *, detailed: bool) -> int:
    from reconciler.pipeline import RunStatus

    if status is RunStatus.FAILED:
        return EXIT_FAILED
    if status is RunStatus.CHANGES_PENDING:
        return EXIT_CHANGES_PENDING if detailed else EXIT_CONVERGED
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


@contextmanager
def _aws_session(args: argparse.Namespace) -> Iterator[tuple[Any, str | None]]:
    """The boto3 session to use, and the endpoint override (the embedded sandbox's)."""
    import boto3

    if not args.sandbox:
        yield boto3.Session(), None
        return

    from reconciler.sandbox import Sandbox, SandboxOptions, SandboxState

    state = SandboxState.load(args.sandbox)
    with Sandbox(state, SandboxOptions(), host="127.0.0.1", port=0) as sandbox:
        sandbox.start()
        access_key, secret_key = sandbox.credentials
        log.info("sandbox.started", endpoint=sandbox.endpoint_url, state=args.sandbox)
        yield (
            boto3.Session(
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
