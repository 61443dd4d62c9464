"""The ``reconcile`` command: parse the invocation, call the run, map the outcome to exit codes.

This is the only module that knows about exit codes, and the only one that catches our
exceptions to turn them into them. The contract (tested, documented in docs/reference/cli.md):

====  ==========================================================================================
0     converged: nothing to do, or everything applied and verified
1     failure: an AWS error, a blocked shard, an account not converged, a refused plan
2     changes pending (only with ``--dry-run --detailed-exitcode``)
3     invalid manifest or invalid invocation (argument errors too, not argparse's usual 2)
====  ==========================================================================================

The plan goes to stdout; logs and error lines go to stderr.

Three modules do the work, and this one only strings them together: :mod:`reconciler.options`
parses the command line, :mod:`reconciler.compose` builds and runs the pipeline (the only
module that wires the AWS adapters), :mod:`reconciler.render` writes what the run produced.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler import compose, logs, render
from reconciler.errors import (
    DryRunViolation,
    IdentityMismatch,
    ManifestError,
    PlanRefused,
    ReconcilerError,
    UsageError,
)
from reconciler.options import MANIFEST_ENV, build_parser, parse_invocation

__all__ = ["MANIFEST_ENV", "build_parser", "exit_code", "main", "parse_invocation"]

EXIT_CONVERGED = 0
EXIT_FAILED = 1
EXIT_CHANGES_PENDING = 2
EXIT_INVALID = 3


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_invocation(argv)
    except UsageError as exc:
        render.error(f"invalid invocation: {exc}")
        return EXIT_INVALID
    logs.configure(
        log_format=args.log_format, level=args.log_level, mask_emails=not args.show_emails
    )
    run = compose.Run(args)
    metrics = render.MetricsExport(args)
    try:
        code = _execute(args, run, metrics)
    except (UsageError, ManifestError) as exc:
        render.error(str(exc))
        code = EXIT_INVALID
    except DryRunViolation as exc:
        render.error(f"refused: {exc}")
        code = EXIT_FAILED
    except IdentityMismatch as exc:
        render.error(str(exc))
        code = EXIT_FAILED
    except PlanRefused as exc:
        # A stale saved plan is explained with the emails AWS now reports: masked, like logs.
        render.error(str(exc), masked=not args.show_emails)
        code = EXIT_FAILED
    except ReconcilerError as exc:
        render.error(str(exc))
        code = EXIT_FAILED
    except KeyboardInterrupt:
        render.error("interrupted; rerun to converge (every action is idempotent)")
        code = EXIT_FAILED
    # A run that ended in an exception: its metrics still go out; a failure is only a warning.
    if run.active:
        metrics.export(run.outcome, calls=run.calls(), code=code)
    return code


def _execute(args: argparse.Namespace, run: compose.Run, metrics: render.MetricsExport) -> int:
    """One invocation in its mode: the steps in order, each done by its own module."""
    if args.iam_policy:
        render.json_document(compose.iam_policy(args))
        return EXIT_CONVERGED
    if args.validate:
        desired, members_from = compose.validate(args)
        render.validation(args.manifest, desired, members_from=members_from)
        return EXIT_CONVERGED
    outcome = run.reconcile()
    if args.out:
        render.save_plan(args.out, outcome)
    if args.coverage:
        render.save_coverage(args.coverage, outcome, mask_emails=not args.show_emails)
    code = exit_code(outcome.status, detailed=args.detailed_exitcode)
    # Exported before the report so that it can tell when exporting failed.
    failures = metrics.export(outcome, calls=run.calls(), code=code)
    render.run_report(args, outcome, exit_code=code, calls=run.calls(), metrics_failures=failures)
    return code


def exit_code(status: object, *, detailed: bool) -> int:
    from reconciler.pipeline import RunStatus

    if status is RunStatus.FAILED:
        return EXIT_FAILED
    if status is RunStatus.CHANGES_PENDING:
        return EXIT_CHANGES_PENDING if detailed else EXIT_CONVERGED
    return EXIT_CONVERGED


if __name__ == "__main__":
    sys.exit(main())
