"""The ``reconcile`` command line: every option, its help, the modes, and which options each takes.

Parsing only: the result is an :class:`argparse.Namespace` that the composition root
(:mod:`reconciler.compose`) builds the run from. The modes that exclude each other are an
argparse mutually exclusive group; which options each mode takes is one declared table
(``_TAKES``), and an option given in a mode that would ignore it is refused, naming both. Every
refusal is a :class:`UsageError` (exit 3), never argparse's usual exit 2.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from reconciler import __version__, logs
from reconciler.errors import UsageError
from reconciler.services import registry

MANIFEST_ENV = "RECONCILER_MANIFEST"


#: The exit-code contract, as ``reconcile --help`` ends with it (the CLI's EXIT_* constants
#: are these codes: a test holds them together, and the documentation's table).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "converged: nothing to do, or every change applied and verified"),
    (
        1,
        "failed: an AWS error, a blocked shard, an account not converged, blocking drift, "
        "a refused plan",
    ),
    (2, "changes pending (only with --dry-run --detailed-exitcode)"),
    (3, "invalid manifest, saved plan, sandbox state or invocation; no AWS call was made"),
)

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "first run, on the local sandbox (no AWS account needed)",
        "reconcile --manifest manifests/example.yaml --sandbox manifests/sandbox-state.yaml",
    ),
    ("check a manifest, no AWS call", "reconcile --manifest manifests/example.yaml --validate"),
    (
        "preview in a pull request (exit 2: changes pending)",
        "reconcile --manifest manifest.yaml --dry-run --detailed-exitcode --output markdown",
    ),
    (
        "save the reviewed plan, then apply exactly it",
        "reconcile --manifest manifest.yaml --dry-run --out plan.json\n"
        "  reconcile --plan plan.json",
    ),
    (
        "the scheduled job",
        "reconcile --manifest manifest.yaml --metrics-file /metrics/reconcile.prom",
    ),
    (
        "the IAM policy the administrator role needs",
        "reconcile --manifest manifest.yaml --iam-policy",
    ),
)


def _epilog() -> str:
    examples = "\n".join(f"  # {what}\n  {command}\n" for what, command in EXAMPLES)
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES)
    return f"examples:\n{examples}\nexit codes:\n{codes}\n"


# argparse's own wording of the mistakes a suggestion can help with.
_UNRECOGNIZED = re.compile(r"^unrecognized arguments: (.+)$")
_INVALID_CHOICE = re.compile(r"^argument (\S+): invalid choice: '([^']*)' \(choose from (.+)\)$")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad invocation raises UsageError (exit 3) instead of exiting 2, and an
    unknown option or value names the nearest one it could have meant."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message + self._suggestion(message))

    def _suggestion(self, message: str) -> str:
        if found := _UNRECOGNIZED.match(message):
            options = [o for action in self._actions for o in action.option_strings]
            for given in found.group(1).split():
                name = given.partition("=")[0]
                if name.startswith("-") and (near := _nearest(name, options)):
                    return f" (did you mean {near}?)"
            return ""
        if found := _INVALID_CHOICE.match(message):
            choices = [c.strip().strip("'") for c in found.group(3).split(",")]
            if near := _nearest(found.group(2), choices):
                return f" (did you mean {near}?)"
        return ""


def _nearest(given: str, candidates: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(given, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconcile",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog(),
        description=(
            f"Make {registry.listed([spec.label for spec in registry.SPECS])} membership of "
            "the administrator account match the manifest, in every region it lists."
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
        choices=list(registry.NAMES),
        help="only this service (repeatable)",
    )
    parser.add_argument(
        "--output",
        action=_Once,
        choices=("text", "json", "markdown", "html"),
        default="text",
        help="the plan on stdout: text, json (versioned schema), markdown (a PR comment) or "
        "html (a self-contained coverage picture: accounts × service and region)",
    )
    _flag(parser, "--detailed-exitcode", help="with --dry-run: exit 2 when changes are pending")
    parser.add_argument(
        "--log-format",
        action=_Once,
        choices=("console", "json"),
        default=None,
        help="log lines on stderr: console (readable; the default on a terminal) or json "
        "(one object per line; the default otherwise)",
    )
    parser.add_argument(
        "--log-level",
        action=_Once,
        choices=logs.LEVELS,
        default="info",
        help="the least severe log events shown (default info)",
    )
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
        help="client-side rate limit per service and region (default 10/30 for each)",
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
    parser.add_argument(
        "--coverage",
        action=_Once,
        metavar="FILE.html",
        help="also write the coverage picture (the page of --output html) to FILE.html",
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


_RATE_FORMAT = f"expected SERVICE=RPS/BURST, e.g. {registry.NAMES[0]}=10/30"


def _rate(text: str) -> tuple[str, float, int]:
    """``--rate SERVICE=RPS[/BURST]`` as (service, requests per second, burst), in our words."""
    service, sep, spec = text.partition("=")
    services = list(registry.NAMES)
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
# Options that only work with another option (whatever the mode): dest → (its dest, option).
_NEEDS: dict[str, tuple[str, str]] = {
    "sandbox_save": ("sandbox", "--sandbox"),
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
    for dest, (needed, needed_option) in _NEEDS.items():
        if dest in given and needed not in given:
            raise UsageError(f"{given[dest]} needs {needed_option}: {_WHY_OPTION[dest]}")


def parse_invocation(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, refused (UsageError) if options conflict or repeat."""
    args = build_parser().parse_args(argv)
    _check_options(args)
    return args
