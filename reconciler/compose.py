"""The composition root: builds one run from the parsed options, and nothing else does.

Credentials, the boto3 session, the clients with their rate limiter and retry settings, the
administrator identity check, the member ports and the acceptor are made here, from the
options :mod:`reconciler.options` parsed, and handed to :func:`reconciler.pipeline.run`. This
is the only module that imports :mod:`reconciler.aws` (an import-linter contract holds it),
so the pipeline and everything below it see only the small protocols of
:mod:`reconciler.ports`, and a test can hand them any implementation.

What a run prints is :mod:`reconciler.render`'s business; exit codes are
:mod:`reconciler.cli`'s. The AWS modules are imported inside the functions that need them, so
``reconcile --help`` and a refused invocation stay fast and never load boto3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

from reconciler import logs, sandboxing
from reconciler.errors import ManifestError, OutputError, UsageError
from reconciler.model import DesiredState, Service
from reconciler.options import MANIFEST_ENV

if TYPE_CHECKING:
    from reconciler.manifest.values import Manifest
    from reconciler.pipeline import RunReport
    from reconciler.planfile import SavedPlan

log = structlog.get_logger("reconciler.compose")


class Run:
    """One reconcile run: built, executed, and what the metrics export needs afterwards."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.outcome: RunReport | None = None
        self._stats: Any = None
        # True once the invocation got past validation: from then on there is a run to report
        # (and its metrics go out even if it ends in an exception).
        self.active = False

    def calls(self) -> dict[str, Any]:
        """The AWS calls made so far, per operation (empty before the first client exists)."""
        snapshot: dict[str, Any] = self._stats.snapshot() if self._stats is not None else {}
        return snapshot

    def reconcile(self) -> RunReport:
        """Load the manifest, wire the adapters, run the pipeline; the run's report."""
        from reconciler import outputs, pipeline
        from reconciler.aws import members, ratelimit, registry, session, wiring
        from reconciler.aws.regions import load_region_catalog
        from reconciler.manifest import expand, load_manifest
        from reconciler.planfile import scope_of
        from reconciler.progress import make_progress

        args = self.args
        saved = load_saved_plan(args) if args.saved_plan else None
        require_manifest(args)
        rates = _parse_rates(args.rate, ratelimit.Rate)

        manifest = load_manifest(args.manifest, catalog=load_region_catalog())
        # Every output is checked before the first AWS call, against every file read.
        outputs.preflight(args, manifest.files, manifest=manifest.source)
        services: list[Service] | None = (
            [Service(name) for name in args.services] if args.services else None
        )
        regions: list[str] | None = args.regions
        if saved is not None:
            services, regions = scope_of(saved, manifest)
        # Expanded once before any AWS call, so a bad --service/--region is exit 3 with no
        # call; again below once the organization's accounts are known.
        desired = expand(manifest, services=services, regions=regions)
        home_region = desired.regions[0]
        self.active = True

        with aws_session(args) as (boto_session, endpoint_url):
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
            self._stats = base.stats
            factory = session.administrator_factory(
                base,
                expected_account=desired.administrator_account_id,
                role_arn=desired.administrator_role_arn,
                region=home_region,
            )
            if manifest.members_from is not None:
                desired = _with_organization_accounts(
                    factory, manifest, desired, services=services, regions=regions
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
        return outcome


def _with_organization_accounts(
    factory: Any,
    manifest: Manifest,
    desired: DesiredState,
    *,
    services: list[Service] | None,
    regions: list[str] | None,
) -> DesiredState:
    """The desired state again, with the accounts ``membersFrom`` selects in Organizations."""
    from reconciler.aws.organizations import organization_accounts, with_skipped
    from reconciler.manifest import expand

    source = manifest.members_from
    assert source is not None  # the caller checked
    listing = organization_accounts(
        factory,
        partition=desired.partition,
        ous=source.ous,
        recursive=source.recursive,
        role_arn=source.role_arn,
        sts_region=desired.regions[0],
    )
    accounts = listing.members
    log.info("organization.listed", accounts=len(accounts), skipped=len(listing.skipped))
    desired = expand(manifest, services=services, regions=regions, organization_accounts=accounts)
    return with_skipped(desired, listing.skipped, exclude=source.exclude)


def require_manifest(args: argparse.Namespace) -> None:
    if not args.manifest:
        raise UsageError(f"no manifest: pass --manifest PATH or set ${MANIFEST_ENV}")
    # Which options go together is checked as the command line is parsed (reconciler.options).


def load_saved_plan(args: argparse.Namespace) -> SavedPlan:
    """The ``--plan`` file, read and checked; it names the manifest when none is given."""
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


def validate(args: argparse.Namespace) -> tuple[DesiredState, bool]:
    """Load and expand the manifest as a run would, without any AWS call.

    The desired state, and whether ``membersFrom`` will add the accounts Organizations lists.
    """
    from reconciler.aws.regions import load_region_catalog
    from reconciler.manifest import expand, load_manifest

    require_manifest(args)
    manifest = load_manifest(args.manifest, catalog=load_region_catalog())
    services = [Service(name) for name in args.services] if args.services else None
    desired = expand(manifest, services=services, regions=args.regions)
    return desired, manifest.members_from is not None


def iam_policy(args: argparse.Namespace) -> dict[str, Any]:
    """The least-privilege IAM policy document ``--iam-policy`` prints."""
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
        services = [str(service) for service in desired.services]
        needs = iam.needs_of(desired)
        if args.iam_policy == "member":
            # Member roles are assumed only to accept, for the services that accept.
            services = [str(s) for s, settings in desired.services.items() if settings.accept]
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
    document: dict[str, Any] = iam.policy(
        args.iam_policy,
        read_only=args.read_only,
        services=services,
        assume_roles=assume_roles,
        reads_organization=reads_organization,
        needs=needs,
    )
    return document


def _parse_rates(values: Sequence[tuple[str, float, int]], rate_type: Any) -> dict[str, Any]:
    # The parser checked the values (reconciler.options) and that each service is given once.
    return {
        service: rate_type(per_second=per_second, burst=burst)
        for service, per_second, burst in values
    }


@contextmanager
def aws_session(args: argparse.Namespace) -> Iterator[tuple[Any, str | None]]:
    """The boto3 session to use, and the endpoint override (the embedded sandbox's)."""
    import boto3

    from reconciler.aws.regions import new_botocore_session

    if not args.sandbox:
        yield boto3.Session(botocore_session=new_botocore_session()), None
        return
    with sandbox_session(args) as (access_key, secret_key, endpoint_url):
        yield (
            boto3.Session(
                botocore_session=new_botocore_session(),
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name="us-east-1",
            ),
            endpoint_url,
        )


@contextmanager
def sandbox_session(args: argparse.Namespace) -> Iterator[tuple[str, str, str]]:
    """``--sandbox``: start the local sandbox from its state file; (key, secret, endpoint).

    The product's only way into the sandbox (a test holds it): everything the sandbox is
    asked for goes through this function, so the sandbox can live in a distribution of its
    own and be reached through one entry point.
    """
    with sandboxing.embedded(args.sandbox) as sandbox:
        access_key, secret_key = sandbox.credentials
        log.info("sandbox.started", endpoint=sandbox.endpoint_url, state=args.sandbox)
        yield access_key, secret_key, sandbox.endpoint_url
        if args.sandbox_save:
            try:
                sandbox.save(args.sandbox_save)
            except OSError as exc:
                raise OutputError(
                    f"--sandbox-save {args.sandbox_save}: could not write it: {exc.strerror}"
                ) from None
            log.info("sandbox.saved", path=args.sandbox_save)
