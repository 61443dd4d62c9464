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
    OutputError,
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
        action=_Once,
        default=os.environ.get(MANIFEST_ENV),
        help=f"manifest file or directory (default: ${MANIFEST_ENV})",
    )
    # One mode per invocation: argparse refuses any two of these together.
    mode = parser.add_mutually_exclusive_group()
    _flag(mode, "--dry-run", help="show the plan; make no change (read-only calls)")
    parser.add_argument(
        "--region",
        action=_Each,
        dest="regions",
        metavar="REGION",
        help="only this region (repeatable; must be one of the manifest's regions)",
    )
    parser.add_argument(
        "--service",
        action=_Each,
        dest="services",
        choices=[service.value for service in Service],
        help="only this service (repeatable)",
    )
    parser.add_argument(
        "--output",
        action=_Once,
        choices=("text", "json", "markdown"),
        default="text",
        help="the plan on stdout: text, json (versioned schema) or markdown (a PR comment)",
    )
    _flag(parser, "--detailed-exitcode", help="with --dry-run: exit 2 when changes are pending")
    parser.add_argument("--log-format", action=_Once, choices=("console", "json"), default=None)
    parser.add_argument("--log-level", action=_Once, choices=logs.LEVELS, default="info")
    parser.add_argument(
        "--max-concurrency",
        action=_Once,
        type=_positive_int,
        default=8,
        help="shards (service × region) worked on at once (default 8)",
    )
    parser.add_argument(
        "--max-attempts",
        action=_Once,
        type=_positive_int,
        default=5,
        help="attempts per AWS call, retries included (botocore standard mode; default 5)",
    )
    parser.add_argument(
        "--read-timeout",
        action=_Once,
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds to wait for an AWS response before retrying the call (default 30)",
    )
    parser.add_argument(
        "--rate",
        action=_Each,
        type=_rate,
        default=[],
        metavar="SERVICE=RPS/BURST",
        help="client-side rate limit per service and region (default 10/30 for both)",
    )
    _flag(parser, "--show-emails", help="print member emails unmasked")
    _flag(
        parser,
        "--allow-mass-prune",
        help="apply a prune that removes more accounts than prune.maxDeletions",
    )
    parser.add_argument(
        "--out",
        action=_Once,
        metavar="PLAN.json",
        help="with --dry-run: save the plan, with fingerprints of what it was computed from",
    )
    mode.add_argument(
        "--plan",
        action=_Once,
        metavar="PLAN.json",
        dest="saved_plan",
        help="apply exactly this saved plan, if the manifest and the members it touches are "
        "unchanged; the manifest defaults to the one the plan names",
    )
    _flag(
        mode,
        "--validate",
        help="check the manifest (schema and semantics) and exit: 0 valid, 3 invalid; no AWS call",
    )
    mode.add_argument(
        "--iam-policy",
        action=_Once,
        nargs="?",
        const="administrator",
        choices=("administrator", "member", "organization-reader"),
        metavar="PRINCIPAL",
        help="print the least-privilege IAM policy of a principal (default administrator; "
        "member, organization-reader) and exit; tailored to --manifest when given",
    )
    _flag(parser, "--read-only", help="with --iam-policy: only what --dry-run needs")
    parser.add_argument(
        "--metrics-file",
        action=_Once,
        metavar="PATH",
        help="write Prometheus metrics of the run there (textfile collector format, atomic)",
    )
    parser.add_argument(
        "--pushgateway",
        action=_Once,
        type=_pushgateway_url,
        metavar="URL",
        help="push Prometheus metrics of the run to a Pushgateway",
    )
    _flag(parser, "--no-progress", help="no progress bars or progress events")
    parser.add_argument(
        "--sandbox",
        action=_Once,
        metavar="STATE.yaml",
        help="run against an embedded local AWS-compatible sandbox seeded from this state file",
    )
    parser.add_argument(
        "--sandbox-save",
        action=_Once,
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


_RATE_FORMAT = "expected SERVICE=RPS/BURST, e.g. guardduty=10/30"


def _rate(text: str) -> tuple[str, float, int]:
    """``--rate SERVICE=RPS[/BURST]`` as (service, requests per second, burst), in our words."""
    service, sep, spec = text.partition("=")
    services = [s.value for s in Service]
    if not sep or service not in services:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {_RATE_FORMAT}, with SERVICE one of {', '.join(services)}"
        )
    rate_text, slash, burst_text = spec.partition("/")
    try:
        per_second = float(rate_text)
    except ValueError:
        per_second = math.nan
    if not math.isfinite(per_second) or per_second <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the rate must be a positive number of requests per second, "
            f"not {rate_text!r} ({_RATE_FORMAT})"
        )
    if not slash:
        return service, per_second, max(1, int(per_second))
    try:
        burst = int(burst_text)
    except ValueError:
        burst = 0
    if burst < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the burst must be a whole number of requests, at least 1, "
            f"not {burst_text!r} ({_RATE_FORMAT})"
        )
    return service, per_second, burst


def _pushgateway_url(text: str) -> str:
    """A URL prometheus-client can push to: http(s)://HOST[:PORT][/PATH], or HOST[:PORT]."""
    from urllib.parse import urlsplit

    try:
        # Without a scheme, prometheus-client pushes over http, as we check it here.
        parts = urlsplit(text if "://" in text else f"http://{text}")
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        valid = False
    if not valid:
        # The value is not repeated: a URL can carry a password.
        raise argparse.ArgumentTypeError(
            "expected the Pushgateway's http:// or https:// URL, e.g. http://pushgateway:9091"
        )
    return text


# Which options were given on the command line, in order, by destination (argparse itself
# cannot tell an option given with its default value from one not given).
_GIVEN = "_given"


def _given(namespace: argparse.Namespace) -> dict[str, str]:
    given: dict[str, str] | None = getattr(namespace, _GIVEN, None)
    if given is None:
        given = {}
        setattr(namespace, _GIVEN, given)
    return given


class _Once(argparse.Action):
    """An option that takes one value: given twice is an error, not "the last one wins"."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = _given(namespace)
        if self.dest in given:
            raise argparse.ArgumentError(self, "given twice; give it once")
        given[self.dest] = self.option_strings[0]
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


class _Each(argparse.Action):
    """A repeatable option (a list): the same value twice is an error, as in the manifest.

    For ``--rate`` the value is a (service, rate, burst) tuple and the service may appear once.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _given(namespace).setdefault(self.dest, self.option_strings[0])
        items = list(getattr(namespace, self.dest, None) or [])
        key = values[0] if isinstance(values, tuple) else values
        if any((item[0] if isinstance(item, tuple) else item) == key for item in items):
            raise argparse.ArgumentError(self, f"{key} given twice; give it once")
        setattr(namespace, self.dest, [*items, values])


def _flag(parser: Any, name: str, *, help: str) -> None:
    parser.add_argument(name, action=_Once, nargs=0, const=True, default=False, help=help)


# The modes of an invocation (an argparse mutually exclusive group), and which options each
# one takes. An option given in a mode that would ignore it is refused, naming both.
_APPLY, _DRY_RUN, _PLAN = "apply", "dry_run", "saved_plan"
_VALIDATE, _IAM = "validate", "iam_policy"
_RUNS = frozenset({_APPLY, _DRY_RUN, _PLAN})
_EVERY_MODE = frozenset({*_RUNS, _VALIDATE, _IAM})
_TAKES: dict[str, frozenset[str]] = {
    "manifest": _EVERY_MODE,
    "log_format": _EVERY_MODE,
    "log_level": _EVERY_MODE,
    "regions": frozenset({_APPLY, _DRY_RUN, _VALIDATE}),
    "services": frozenset({_APPLY, _DRY_RUN, _VALIDATE}),
    "out": frozenset({_DRY_RUN}),
    "detailed_exitcode": frozenset({_DRY_RUN}),
    "read_only": frozenset({_IAM}),
}
_MODE_OPTION = {
    _DRY_RUN: "--dry-run",
    _PLAN: "--plan",
    _VALIDATE: "--validate",
    _IAM: "--iam-policy",
}
_WHY_OPTION = {
    "out": "it saves the plan of a dry run for --plan",
    "detailed_exitcode": "exit code 2 reports the changes a dry run found",
    "read_only": "it narrows the IAM policy --iam-policy prints",
    "sandbox_save": "it writes the state of the sandbox --sandbox started",
}
_WHY_MODE = {
    _PLAN: "--plan applies exactly the saved plan, with its own services and regions",
    _VALIDATE: "--validate only checks the manifest and makes no AWS call",
    _IAM: "--iam-policy only prints a policy",
}


def _check_options(args: argparse.Namespace) -> None:
    """Refuse an option the invocation's mode does not use (rather than ignore it)."""
    given = _given(args)
    mode = next((m for m in _MODE_OPTION if m in given), _APPLY)
    for dest, option in given.items():
        takes = _TAKES.get(dest, _RUNS)
        if mode not in takes and dest not in _MODE_OPTION:
            if mode == _APPLY:
                needed = " or ".join(_MODE_OPTION[m] for m in sorted(takes) if m in _MODE_OPTION)
                raise UsageError(f"{option} needs {needed}: {_WHY_OPTION.get(dest, '')}")
            why = _WHY_OPTION.get(dest) or _WHY_MODE[mode]
            raise UsageError(f"{option} does not go with {_MODE_OPTION[mode]}: {why}")
    if "sandbox_save" in given and "sandbox" not in given:
        raise UsageError(f"--sandbox-save needs --sandbox: {_WHY_OPTION['sandbox_save']}")


def parse_invocation(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, refused (UsageError) if options conflict or repeat."""
    args = build_parser().parse_args(argv)
    _check_options(args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_invocation(argv)
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
    # A run that ended in an exception: its metrics still go out; a failure is only a warning.
    run.export_metrics(code)
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
        self.metrics_exported = False

    def execute(self) -> int:
        if self.args.iam_policy:
            return _print_iam_policy(self.args)
        if self.args.validate:
            return _validate(self.args)
        return self._reconcile()

    def _reconcile(self) -> int:
        # Imported here so `reconcile --help` and invocation errors stay fast and AWS-free.
        from reconciler import outputs, pipeline, planfile, report
        from reconciler.aws import members, ratelimit, registry, session, wiring
        from reconciler.aws.regions import load_region_catalog
        from reconciler.manifest import expand, load_manifest
        from reconciler.metrics import shard_numbers
        from reconciler.progress import make_progress

        args = self.args
        saved = _load_saved_plan(args) if args.saved_plan else None
        _check_combinations(args)
        rates = _parse_rates(args.rate, ratelimit.Rate)

        manifest = load_manifest(args.manifest, catalog=load_region_catalog())
        # Every output is checked before the first AWS call, against every file read.
        outputs.preflight(args, manifest.files, manifest=manifest.source)
        services: list[Service] | None = (
            [Service(name) for name in args.services] if args.services else None
        )
        regions: list[str] | None = args.regions
        if saved is not None:
            services, regions = planfile.scope_of(saved, manifest)
        # Expanded once before any AWS call, so a bad --service/--region is exit 3 with no
        # call; again below once the organization's accounts are known.
        desired = expand(manifest, services=services, regions=regions)
        home_region = desired.regions[0]
        self.active = True

        with _aws_session(args) as (boto_session, endpoint_url):
            base = session.ClientFactory(
                boto_session,
                operations=registry.OPERATIONS,
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
            outputs.write_text(
                "--out",
                args.out,
                planfile.dump(
                    outcome.plan,
                    desired=desired,
                    observations=outcome.observations,
                    refusals=outcome.refusals,
                ),
            )
            log.info("plan.saved", path=args.out, actions=len(outcome.plan.actions))

        code = exit_code(outcome.status, detailed=args.detailed_exitcode)
        # Exported before the report so that it can tell when exporting failed.
        metrics_failures = self.export_metrics(code)
        extra: dict[str, Any] = {"aws_calls": base.stats.snapshot()}
        if args.metrics_file or args.pushgateway:
            extra["metrics_export_failed"] = bool(metrics_failures)
        mask = not args.show_emails
        if args.output == "json":
            rendered = report.render_json(outcome, mask_emails=mask, extra=extra)
        elif args.output == "markdown":
            rendered = report.render_markdown(outcome, mask_emails=mask)
        else:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
            rendered = report.render_text(outcome, mask_emails=mask, color=color)
            rendered += "".join(f"Warning: {failure}.\n" for failure in metrics_failures)
        sys.stdout.write(rendered)
        sys.stdout.flush()
        _github_step_summary(report.render_markdown(outcome, mask_emails=mask))

        log.info(
            "run.summary",
            exit_code=code,
            **report.summary(outcome, extra),
            per_shard=[{**n, "drift": dict(n["drift"])} for n in shard_numbers(outcome)],
        )
        if outcome.refused:
            # The plan is shown above, marked refused; the error line stays what it always was.
            from reconciler.plan import refusal_message

            message = refusal_message(outcome.refusals)
            _error(message if args.show_emails else mask_emails(message))
        return code

    def export_metrics(self, code: int) -> list[str]:
        """Write and push the run's metrics, once; return what failed, one sentence each.

        A failure is a warning, never the run's outcome: the exit code says whether AWS is
        converged, and a monitoring outage must not turn a converged run into a failed one
        (the missing metrics are what the monitoring notices).
        """
        args = self.args
        if self.metrics_exported or not (args.metrics_file or args.pushgateway) or not self.active:
            return []
        self.metrics_exported = True
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
        failures: list[str] = []
        if args.metrics_file:
            try:
                metrics.write_textfile(registry, args.metrics_file)
            except Exception as exc:  # any failure is a warning (see the docstring)
                failures.append(f"metrics not written to {args.metrics_file}: {_why(exc)}")
                log.warning("metrics.export_failed", path=args.metrics_file, error=_why(exc))
            else:
                log.info("metrics.written", path=args.metrics_file)
        if args.pushgateway:
            url = metrics.safe_url(args.pushgateway)
            grouping = {"manifest": os.path.basename(os.path.normpath(args.manifest or "-"))}
            try:
                metrics.push(registry, args.pushgateway, grouping=grouping)
            except Exception as exc:  # any failure is a warning (see the docstring)
                failures.append(f"metrics not pushed to {url}: {_why(exc)}")
                log.warning("metrics.export_failed", url=url, error=_why(exc))
            else:
                log.info("metrics.pushed", url=url)
        return failures


def _why(exc: Exception) -> str:
    """An export failure in a few words, without a temporary file's name or a URL's secret."""
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        reason = exc.reason
        return reason.strerror or str(reason) if isinstance(reason, OSError) else str(reason)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, ValueError):
        return "not a valid URL"  # urllib's text would repeat the URL, password included
    return type(exc).__name__


def _check_combinations(args: argparse.Namespace) -> None:
    if not args.manifest:
        raise UsageError(f"no manifest: pass --manifest PATH or set ${MANIFEST_ENV}")
    # Which options go together is checked as the command line is parsed (_check_options).


def _load_saved_plan(args: argparse.Namespace) -> Any:
    from reconciler import planfile

    try:
        with open(args.saved_plan, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UsageError(f"--plan {args.saved_plan}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Like a manifest: the byte and where, not the text around it.
        raise ManifestError(
            f"not a saved plan: the file is not UTF-8 text: byte 0x{data[exc.start]:02x} "
            f"at byte offset {exc.start} cannot be decoded",
            path=args.saved_plan,
        ) from None
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
    needs = None
    if args.manifest:
        from reconciler.aws.regions import load_region_catalog
        from reconciler.manifest import expand, load_manifest

        manifest = load_manifest(args.manifest, catalog=load_region_catalog())
        desired = expand(manifest)
        services = [service.value for service in desired.services]
        needs = iam.needs_of(desired)
        if args.iam_policy == "member":
            # Member roles are assumed only to accept, for the services that accept.
            services = [s.value for s, settings in desired.services.items() if settings.accept]
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
        needs=needs,
    )
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return EXIT_CONVERGED


def _parse_rates(values: Sequence[tuple[str, float, int]], rate_type: Any) -> dict[str, Any]:
    # The parser checked the values (_rate) and that each service is given once.
    return {
        service: rate_type(per_second=per_second, burst=burst)
        for service, per_second, burst in values
    }


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
            try:
                sandbox.state.save(args.sandbox_save)
            except OSError as exc:
                raise OutputError(
                    f"--sandbox-save {args.sandbox_save}: could not write it: {exc.strerror}"
                ) from None
            log.info("sandbox.saved", path=args.sandbox_save)


def _error(message: str) -> None:
    # One line, always; the message itself is already a single line.
    sys.stderr.write(f"reconcile: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
