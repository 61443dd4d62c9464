"""What an invocation writes: the plan on stdout, error lines, the summary log, the exports.

The choice between the text, JSON and markdown renderings of :mod:`reconciler.report`, the
saved plan (``--out``), the GitHub step summary, the ``run.summary`` log event, the Prometheus
metrics (``--metrics-file``, ``--pushgateway``) and the one-line error format all live here, so
that the composition root (:mod:`reconciler.compose`) only builds and runs, and the CLI
(:mod:`reconciler.cli`) only parses, calls and maps exceptions to exit codes. The exit code is
handed in: it is part of what is reported, never decided here.

The heavier modules (the report, the metrics) are imported inside the functions that use them,
so ``reconcile --help`` and a refused invocation stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from reconciler.model import DesiredState
from reconciler.redact import mask_emails

if TYPE_CHECKING:
    from reconciler.pipeline import RunReport

log = structlog.get_logger("reconciler.render")


def error(message: str, *, masked: bool = False) -> None:
    """An error line on stderr: one line, always (the message itself is already one line).

    ``masked``: the message may carry member emails (as AWS reports them): masked, like logs.
    """
    if masked:
        message = mask_emails(message)
    sys.stderr.write(f"reconcile: error: {' '.join(message.split())}\n")
    sys.stderr.flush()


def validation(path: str, desired: DesiredState, *, members_from: bool) -> None:
    """``--validate``'s one line about a valid manifest."""
    accounts = {account for shard in desired.shards.values() for account in shard}
    from_org = " (plus the accounts membersFrom selects)" if members_from else ""
    sys.stdout.write(
        f"{path}: valid: {len(accounts)} member accounts{from_org}, "
        f"{len(desired.services)} services × {len(desired.regions)} regions "
        f"({len(desired.shards)} shards), partition {desired.partition}\n"
    )


def json_document(document: Mapping[str, Any]) -> None:
    """A JSON document on stdout (``--iam-policy``'s policy)."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def save_plan(path: str, outcome: RunReport) -> None:
    """``--out``: the plan with fingerprints of what it was computed from."""
    from reconciler import outputs, planfile

    outputs.write_text(
        "--out",
        path,
        planfile.dump(
            outcome.plan,
            desired=outcome.desired,
            observations=outcome.observations,
            refusals=outcome.refusals,
        ),
    )
    log.info("plan.saved", path=path, actions=len(outcome.plan.actions))


def save_coverage(path: str, outcome: RunReport, *, mask_emails: bool) -> None:
    """``--coverage``: the coverage picture (the page of ``--output html``) written to a file."""
    from reconciler import outputs
    from reconciler.coverage import render_html

    outputs.write_text("--coverage", path, render_html(outcome, mask_emails=mask_emails))
    log.info("coverage.saved", path=path)


def run_report(
    args: argparse.Namespace,
    outcome: RunReport,
    *,
    exit_code: int,
    calls: Mapping[str, Any],
    metrics_failures: list[str],
) -> None:
    """The plan on stdout in the chosen format, the step summary, the summary log event."""
    from reconciler import report
    from reconciler.metrics import shard_numbers
    from reconciler.plan import refusal_message

    extra: dict[str, Any] = {"aws_calls": dict(calls)}
    if args.metrics_file or args.pushgateway:
        extra["metrics_export_failed"] = bool(metrics_failures)
    mask = not args.show_emails
    if args.output == "json":
        rendered = report.render_json(outcome, mask_emails=mask, extra=extra)
    elif args.output == "html":
        from reconciler.coverage import render_html

        rendered = render_html(outcome, mask_emails=mask)
    elif args.output == "markdown":
        # Over GitHub's comment limit, numbered parts, each opening with its marker line.
        rendered = "\n".join(report.render_markdown_parts(outcome, mask_emails=mask))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        rendered = report.render_text(outcome, mask_emails=mask, color=color, target=target(args))
        rendered += "".join(f"Warning: {failure}.\n" for failure in metrics_failures)
    sys.stdout.write(rendered)
    sys.stdout.flush()
    _github_step_summary(report.render_markdown(outcome, mask_emails=mask))

    log.info(
        "run.summary",
        exit_code=exit_code,
        **report.summary(outcome, extra),
        per_shard=[{**n, "drift": dict(n["drift"])} for n in shard_numbers(outcome)],
    )
    if outcome.refused:
        # The plan is shown above, marked refused; the error line stays what it always was.
        message = refusal_message(outcome.refusals)
        error(message, masked=not args.show_emails)


def target(args: argparse.Namespace) -> str | None:
    """What the run talks to when that is not AWS: the sandbox, or ``AWS_ENDPOINT_URL``."""
    if getattr(args, "sandbox", None):
        return f"the local sandbox from {args.sandbox}, not AWS"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return f"endpoint {endpoint}, not AWS" if endpoint else None


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


class MetricsExport:
    """The run's Prometheus metrics, written and pushed once (after a run, or after it failed)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.done = False

    def export(
        self, outcome: RunReport | None, *, calls: Mapping[str, Any], code: int
    ) -> list[str]:
        """Write and push the run's metrics, once; return what failed, one sentence each.

        A failure is a warning, never the run's outcome: the exit code says whether AWS is
        converged, and a monitoring outage must not turn a converged run into a failed one
        (the missing metrics are what the monitoring notices).
        """
        args = self.args
        if self.done or not (args.metrics_file or args.pushgateway):
            return []
        self.done = True
        from reconciler import metrics

        previous = metrics.previous_success(args.metrics_file) if args.metrics_file else None
        registry = (
            metrics.build_registry(
                outcome, calls=dict(calls), exit_code=code, previous_success=previous
            )
            if outcome is not None
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
