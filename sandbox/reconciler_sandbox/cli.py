"""``reconcile-sandbox``: serve the sandbox on a loopback port until SIGINT or SIGTERM.

Exit codes: 0 after a clean stop, 2 for a bad command line or state file, 1 when the port
cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from reconciler_sandbox import services
from reconciler_sandbox.server import Sandbox, SandboxOptions, is_loopback
from reconciler_sandbox.state import SandboxState, SandboxStateError


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


#: The region the banner tells clients to use. The sandbox serves every region on one port,
#: but the AWS CLI and the SDKs refuse to make a call without one (they sign with it).
CLIENT_REGION = "us-east-1"


def client_environment(sandbox: Sandbox) -> list[tuple[str, str]]:
    """Every variable an unconfigured AWS CLI or SDK needs to call the sandbox, in order.

    Both region variables: botocore and AWS CLI v1 read ``AWS_DEFAULT_REGION``, AWS CLI v2 and
    the other SDKs ``AWS_REGION`` (first).
    """
    key, secret = sandbox.credentials
    return [
        ("AWS_ENDPOINT_URL", sandbox.endpoint_url),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_DEFAULT_REGION", CLIENT_REGION),
        ("AWS_REGION", CLIENT_REGION),
    ]


def _positive_seconds(text: str) -> float:
    value = _non_negative_float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _labels(*, verifying: bool = False) -> str:
    """The served services' labels, as a phrase ("A, B and C")."""
    labels = [p.label for p in services.PLUGINS if p.verifies_email or not verifying]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconcile-sandbox",
        description=f"A local AWS-compatible endpoint for the member APIs of {_labels()} "
        "(plus STS and Organizations), on one loopback port.",
    )
    parser.add_argument("--state", required=True, help="the sandbox state file (YAML)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=_non_negative_int, default=4566, help="0 = any free port")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow a --host that is not a loopback address (the sandbox has no auth)",
    )
    parser.add_argument(
        "--latency-ms", type=_non_negative_int, default=0, help="delay every response"
    )
    parser.add_argument(
        "--rate",
        type=_non_negative_float,
        default=None,
        help="requests per second per account, region and service (default 10; 0 = off)",
    )
    parser.add_argument(
        "--burst", type=_non_negative_int, default=None, help="bucket size (default 3 x rate)"
    )
    parser.add_argument(
        "--fault-rate", type=_probability, default=0.0, help="fraction of 500 answers"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault stream")
    parser.add_argument(
        "--slow-rate", type=_probability, default=0.0, help="fraction of slow answers"
    )
    parser.add_argument(
        "--slow-ms", type=_non_negative_int, default=0, help="extra delay of a slow answer"
    )
    parser.add_argument(
        "--drop-rate", type=_probability, default=0.0, help="fraction of dropped connections"
    )
    parser.add_argument(
        "--session-lifetime",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="AssumeRole sessions end after at most this long, then ExpiredTokenException "
        "(default: the DurationSeconds asked for, as AWS)",
    )
    parser.add_argument("--calls-log", default=None, help="append every request here (JSONL)")
    parser.add_argument("--save-on-exit", default=None, help="write the final state here")
    parser.add_argument(
        "--email-verification-reads",
        type=_non_negative_int,
        default=None,
        help=f"invitations of {_labels(verifying=True)} stay in email verification for this "
        "many reads of the member (ListMembers, GetMembers) before they are sent or fail "
        "(default: the state file's emailVerificationReads, else 0: at once)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.allow_non_loopback and not is_loopback(args.host):
        print(
            f"reconcile-sandbox: refusing --host {args.host}: the sandbox has no "
            "authentication; pass --allow-non-loopback to bind it anyway",
            file=sys.stderr,
        )
        return 2
    if args.burst == 0:
        print("reconcile-sandbox: --burst must be at least 1", file=sys.stderr)
        return 2
    try:
        state = SandboxState.load(args.state)
    except SandboxStateError as exc:
        print(f"reconcile-sandbox: {exc}", file=sys.stderr)
        return 2
    if args.email_verification_reads is not None:
        state.email_verification_reads = args.email_verification_reads
    options = SandboxOptions(
        latency_ms=args.latency_ms,
        rate=args.rate,
        burst=args.burst,
        fault_rate=args.fault_rate,
        seed=args.seed,
        slow_rate=args.slow_rate,
        slow_ms=args.slow_ms,
        drop_rate=args.drop_rate,
        calls_log=args.calls_log,
        session_lifetime=args.session_lifetime,
    )
    sandbox = Sandbox(
        state, options, host=args.host, port=args.port, allow_non_loopback=args.allow_non_loopback
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        sandbox.start()
    except OSError as exc:
        print(
            f"reconcile-sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    environment = " ".join(f"{name}={value}" for name, value in client_environment(sandbox))
    print(
        f"reconcile-sandbox: serving {sandbox.endpoint_url} as account {state.default_account}; "
        f"use {environment}",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        if args.save_on_exit:
            state.save(args.save_on_exit)
    print("reconcile-sandbox: stopped", file=sys.stderr, flush=True)
    return 0
