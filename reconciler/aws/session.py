"""Sessions and clients: credentials, the administrator identity check, and the call hooks.

Every boto3 client of a run comes from one :class:`ClientFactory`, built from an injected
``boto3.Session`` (the standard credential chain: profiles, environment, IMDS, IRSA), so tests
and the embedded sandbox hand in their own. Each client it makes carries four hooks on
botocore's event system, which is what makes the guarantees hold for *every* call, whichever
adapter makes it:

- ``before-call``: refuse an operation nobody declared (the factory's
  :class:`~reconciler.services.operations.OperationTable`, the registry's in a run), and any
  mutating one when dry-run is on: the preview is read-only by construction, not by an ``if`` in
  the applier;
- ``before-send``: take a token from the (service, region) bucket, once per HTTP attempt, so
  botocore's own retries are paced too;
- ``after-call`` / ``after-call-error``: one debug log event per call (service, region,
  operation, status, latency, request id, retries) and the counters the summary reports.

Credentials never reach a log line: we log request ids, never headers or payloads.

Assumed roles (the administrator's ``roleArn``, member roles, the organization reader) are
botocore :class:`~botocore.credentials.RefreshableCredentials` whose refresh is the same
AssumeRole, so a run longer than a role session renews it before it ends, as botocore does
for the credential chain's own roles; see :func:`assume_role`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions
import structlog
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.utils import parse_timestamp

from reconciler import __version__
from reconciler.aws.ratelimit import RateLimiter
from reconciler.errors import (
    AwsError,
    ConflictError,
    DryRunViolation,
    IdentityMismatch,
    PermanentAwsError,
    RegionNotEnabledError,
    TransientAwsError,
    UndeclaredOperation,
)
from reconciler.services import operations
from reconciler.services.operations import OperationTable

log = structlog.get_logger("reconciler.aws")

OPERATIONS = operations.declare("sts", reads=("GetCallerIdentity", "AssumeRole"))

# The role session asked for, and botocore's refresh windows for such an hour-long session:
# from 15 minutes before the end one thread renews while the others go on with the old keys
# (advisory), from 10 minutes every call waits for the new ones (mandatory).
ROLE_SESSION_SECONDS = 3600
ADVISORY_REFRESH_SECONDS = 15 * 60
MANDATORY_REFRESH_SECONDS = 10 * 60

# Codes that say "this region is not enabled for the account" (opt-in regions). botocore reports
# them with HTTP 403 (or 400 for InvalidClientTokenId on some services).
REGION_NOT_ENABLED_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"}
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)


@dataclass
class CallStats:
    """Counters of the AWS calls of one run, shared by every client of the factory."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, operation: str, *, error: str | None, retries: int, throttled: bool) -> None:
        with self._lock:
            self.calls[operation] += 1
            self.retries += retries
            if error:
                self.errors[error] += 1
            if throttled:
                self.throttled += 1

    def note_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "total": sum(self.calls.values()),
                "retries": self.retries,
                "throttled": self.throttled,
                "errors": dict(sorted(self.errors.items())),
            }


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Knobs of every client: retries, timeouts, endpoint."""

    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 16
    # The embedded sandbox's URL. Otherwise botocore honours AWS_ENDPOINT_URL and the
    # per-service AWS_ENDPOINT_URL_<SERVICE> variables itself.
    endpoint_url: str | None = None


class ClientFactory:
    """Makes (and caches) the hooked clients of one run, per (service, region)."""

    def __init__(
        self,
        session: boto3.Session,
        *,
        operations: OperationTable,
        dry_run: bool,
        limiter: RateLimiter | None = None,
        settings: ClientSettings | None = None,
        stats: CallStats | None = None,
        account_label: str = "administrator",
        credentials: RefreshableCredentials | None = None,
        _make_lock: threading.Lock | None = None,
    ) -> None:
        self.session = session
        # The declared operations (``reconciler.aws.registry.OPERATIONS`` in a run): injected,
        # because the registry sits above the adapters, which sit above this module.
        self.operations = operations
        self.dry_run = dry_run
        self.limiter = limiter or RateLimiter()
        self.settings = settings or ClientSettings()
        self.stats = stats or CallStats()
        self.account_label = account_label
        # An assumed role's renewing credentials; None: the session's own chain.
        self._credentials = credentials
        self._clients: dict[tuple[str, str], BaseClient] = {}
        self._lock = threading.Lock()
        # Shared with derived factories: they make clients from the same session, which is
        # not safe to do from several threads at once.
        self._make_lock = _make_lock or threading.Lock()

    def client(self, service: str, region: str) -> Any:
        """A client for ``service`` in ``region``; typed Any because boto3's are dynamic."""
        with self._lock:
            found = self._clients.get((service, region))
            if found is None:
                found = self._make(service, region)
                self._clients[(service, region)] = found
            return found

    def derive(self, credentials: RefreshableCredentials, *, account_label: str) -> ClientFactory:
        """A factory for another principal (an assumed role) sharing limits and counters.

        Its clients come from this factory's session and sign with the role's credentials: a
        new ``boto3.Session`` per role would load and parse the service models again for every
        member account (about 0.17 s of CPU per client, minutes per run when accepting in
        hundreds of accounts), and even a new botocore session on the shared model loader costs
        four times a client of the shared session (its built-in handlers), while the shared
        session caches everything.
        """
        return ClientFactory(
            self.session,
            operations=self.operations,
            dry_run=self.dry_run,
            limiter=self.limiter,
            settings=self.settings,
            stats=self.stats,
            account_label=account_label,
            credentials=credentials,
            _make_lock=self._make_lock,
        )

    def _make(self, service: str, region: str) -> BaseClient:
        config = Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            max_pool_connections=self.settings.max_pool_connections,
            user_agent_extra=f"reconciler/{__version__}",
        )
        kwargs: dict[str, Any] = {"region_name": region, "config": config}
        if self.settings.endpoint_url:
            kwargs["endpoint_url"] = self.settings.endpoint_url
        if self._credentials is not None:
            # The current keys, so the client never falls back on the session's own chain;
            # then the renewing object behind them (below).
            frozen = self._credentials.get_frozen_credentials()
            kwargs.update(
                aws_access_key_id=frozen.access_key,
                aws_secret_access_key=frozen.secret_key,
                aws_session_token=frozen.token,
            )
        with self._make_lock:
            client: BaseClient = self.session.client(service, **kwargs)  # type: ignore[call-overload]
        if self._credentials is not None:
            _sign_with(client, self._credentials)
        self._install_hooks(client, service, region)
        return client

    def _install_hooks(self, client: BaseClient, service: str, region: str) -> None:
        events = client.meta.events
        # STS and Organizations are not member APIs and have limits of their own.
        unpaced = service in ("sts", "organizations")
        bucket = None if unpaced else self.limiter.bucket(service, region, self.account_label)
        dry_run = self.dry_run
        stats = self.stats
        label = self.account_label
        declared = self.operations

        def guard(model: Any, context: dict[str, Any], **_: Any) -> None:
            spec = declared.lookup(service, model.name)
            if spec is None:
                raise UndeclaredOperation(
                    f"{service} {model.name} is not a declared operation of the reconciler; "
                    "refusing to call it"
                )
            if dry_run and spec.mutating:
                raise DryRunViolation(
                    f"dry-run: refusing the mutating call {service} {model.name} in {region}"
                )
            context["reconciler_started"] = time.monotonic()

        def pace(**_: Any) -> None:
            if bucket is not None:
                bucket.acquire()

        def after(
            http_response: Any, parsed: Mapping[str, Any], model: Any, context: Any, **_: Any
        ) -> None:
            metadata = parsed.get("ResponseMetadata", {})
            error = parsed.get("Error", {}).get("Code") if "Error" in parsed else None
            status = getattr(http_response, "status_code", None)
            retries = int(metadata.get("RetryAttempts", 0))
            # Throttled responses are counted per attempt, in ``attempted``.
            stats.record(f"{service}.{model.name}", error=error, retries=retries, throttled=False)
            log.debug(
                "aws.call",
                service=service,
                region=region,
                principal=label,
                operation=model.name,
                status=status,
                error=error,
                latency_ms=_elapsed_ms(context),
                request_id=metadata.get("RequestId"),
                retries=retries,
            )

        def attempted(response: Any = None, **_: Any) -> None:
            # Once per HTTP attempt, the retried ones included: botocore retries a 429 before
            # after-call sees anything, so counting there would only see the last attempt.
            if response is None:
                return
            http_response, parsed = response
            error = parsed.get("Error", {}).get("Code") if isinstance(parsed, Mapping) else None
            if getattr(http_response, "status_code", None) == 429 or error in THROTTLING_CODES:
                stats.note_throttled()

        def after_error(exception: Exception, context: Any, **kwargs: Any) -> None:
            operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
            stats.record(
                f"{service}.{operation}",
                error=type(exception).__name__,
                retries=0,
                throttled=False,
            )
            log.debug(
                "aws.call",
                service=service,
                region=region,
                principal=label,
                operation=operation,
                status=None,
                error=type(exception).__name__,
                latency_ms=_elapsed_ms(context),
            )

        # botocore calls the handlers of the most specific node first, so the guard sits on
        # the full ``before-call.*.*`` node, first there: a test Stubber (same node) or any
        # other canned response can never bypass it.
        events.register_first("before-call.*.*", guard)
        events.register("before-send.*.*", pace)
        events.register("needs-retry.*.*", attempted)
        events.register("after-call.*.*", after)
        events.register("after-call-error.*.*", after_error)


def _elapsed_ms(context: Any) -> float | None:
    started = context.get("reconciler_started") if isinstance(context, dict) else None
    return None if started is None else round((time.monotonic() - started) * 1000, 1)


def translate_error(exc: Exception, *, service: str, region: str, operation: str) -> AwsError:
    """Map a botocore exception onto our hierarchy (the caller raises it ``from exc``)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message") or exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = {"service": service, "region": region, "operation": operation}
        if code in REGION_NOT_ENABLED_CODES:
            return RegionNotEnabledError(message, code=code, status=status, **where)
        if code == "ResourceConflictException" or status == 409:
            return ConflictError(message, code=code, status=status, **where)
        if code in THROTTLING_CODES or (
            isinstance(status, int) and (status == 429 or status >= 500)
        ):
            return TransientAwsError(message, code=code, status=status, **where)
        return PermanentAwsError(message, code=code, status=status, **where)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return TransientAwsError(
            str(exc), code=type(exc).__name__, service=service, region=region, operation=operation
        )
    return PermanentAwsError(
        str(exc), code=type(exc).__name__, service=service, region=region, operation=operation
    )


def call(
    client: Any, operation: str, *, service: str, region: str, **params: Any
) -> dict[str, Any]:
    """Call ``client.<operation>`` and translate any failure into our hierarchy."""
    method: Callable[..., dict[str, Any]] = getattr(client, snake_case(operation))
    try:
        return method(**params)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, service=service, region=region, operation=operation) from exc


def paginate(
    client: Any, operation: str, *, service: str, region: str, **params: Any
) -> list[dict[str, Any]]:
    """Every page of a paginated operation, translated like :func:`call`."""
    try:
        paginator = client.get_paginator(snake_case(operation))
        return list(paginator.paginate(**params))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, service=service, region=region, operation=operation) from exc


def snake_case(operation: str) -> str:
    """``CreateMembers`` → ``create_members``: boto3's method name for an operation."""
    out: list[str] = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def caller_account(factory: ClientFactory, region: str) -> str:
    """The account the factory's credentials belong to (STS GetCallerIdentity)."""
    sts = factory.client("sts", region)
    reply = call(sts, "GetCallerIdentity", service="sts", region=region)
    return str(reply["Account"])


def _sign_with(client: BaseClient, credentials: RefreshableCredentials) -> None:
    """Make ``client`` sign every request with ``credentials``, renewed when due.

    botocore's clients take credentials as strings only; the object they sign with lives in
    their request signer, which asks it for the keys at each signature (each attempt), and
    that is where RefreshableCredentials renews. Checked, so that a botocore without that
    attribute fails here, loudly, instead of signing with keys that then expire.
    """
    signer = getattr(client, "_request_signer", None)
    if signer is None or not hasattr(signer, "_credentials"):
        raise RuntimeError("this botocore's request signer holds no credentials to renew")
    signer._credentials = credentials


def refresh_windows(lifetime: float) -> tuple[float, float]:
    """(advisory, mandatory) refresh windows, in seconds, for a session of ``lifetime``.

    botocore's fixed 15/10 minutes suit an hour-long session; a shorter one (AWS allows 15
    minutes, role chaining caps at one hour, a sandbox may make it seconds) would sit in them
    from the start and call AssumeRole before every request. So the windows are the same
    fractions of the session, a quarter and a sixth, capped at botocore's.
    """
    advisory = min(ADVISORY_REFRESH_SECONDS, lifetime / 4)
    mandatory = min(MANDATORY_REFRESH_SECONDS, lifetime / 6)
    return max(advisory, 0.0), max(mandatory, 0.0)


def assume_role(
    factory: ClientFactory, role_arn: str, *, region: str, session_name: str = "reconciler"
) -> ClientFactory:
    """A factory whose clients act as ``role_arn`` (STS AssumeRole with the factory's creds).

    The role is assumed now, so a refusal is raised here, as an STS error. Its credentials are
    botocore's RefreshableCredentials, renewed by the same AssumeRole (through this factory's
    hooked STS client: counted, logged, its own credentials renewed too when they are a role's)
    once the session nears its end, so a run can outlast any role session.
    """
    sts = factory.client("sts", region)

    def fetch() -> dict[str, str]:
        reply = call(
            sts,
            "AssumeRole",
            service="sts",
            region=region,
            RoleArn=role_arn,
            RoleSessionName=session_name,
            DurationSeconds=ROLE_SESSION_SECONDS,
        )
        credentials = reply["Credentials"]
        expiration = credentials["Expiration"]
        if not isinstance(expiration, datetime):
            # botocore parses the timestamp; a Stubber's canned answer is passed on as written.
            expiration = parse_timestamp(expiration)
        return {
            "access_key": str(credentials["AccessKeyId"]),
            "secret_key": str(credentials["SecretAccessKey"]),
            "token": str(credentials["SessionToken"]),
            "expiry_time": expiration.isoformat(),
        }

    first = fetch()
    lifetime = (datetime.fromisoformat(first["expiry_time"]) - datetime.now(UTC)).total_seconds()
    advisory, mandatory = refresh_windows(lifetime)
    # botocore compares the windows with float seconds; its stubs say int, too narrow for the
    # sub-second windows of a session of a few seconds.
    credentials = RefreshableCredentials.create_from_metadata(
        first,
        refresh_using=fetch,
        method="assume-role",
        advisory_timeout=advisory,  # type: ignore[arg-type]
        mandatory_timeout=mandatory,  # type: ignore[arg-type]
    )
    return factory.derive(credentials, account_label=role_arn.split(":")[4])


def administrator_factory(
    base: ClientFactory, *, expected_account: str, role_arn: str | None, region: str
) -> ClientFactory:
    """Assume the manifest's role when given, then prove we act as the administrator."""
    factory = assume_role(base, role_arn, region=region) if role_arn else base
    actual = caller_account(factory, region)
    if actual != expected_account:
        raise IdentityMismatch(
            f"the credentials act as account {actual}, but the manifest's administrator is "
            f"{expected_account}; use credentials (or administrator.roleArn) of the administrator"
        )
    return factory
