"""The sandbox's HTTP endpoint: one loopback port for every service, region and account.

A request is attributed from its SigV4 ``Authorization`` header alone (the credential scope
gives the signing name and region, the access key the calling account; signatures are not
verified), routed and decoded by the service's protocol from botocore's model, passed through
the gates (opt-in region, throttling, injected 500s, validation), handled under the state
lock, logged, and only then delayed, dropped or sent. Logging before sending is deliberate: a
test that kills a client on its k-th mutating call sees the call the moment its effect exists.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.exceptions
import botocore.session
from botocore.model import ServiceModel

from reconciler_sandbox import organizations, services, sts
from reconciler_sandbox.context import (
    CallContext,
    CredentialStore,
    ServiceBehaviour,
    partition_of,
)
from reconciler_sandbox.control import (
    DEFAULT_BURST,
    DEFAULT_RATE,
    CallsLog,
    FaultDraw,
    FaultInjector,
    MutationHold,
    Throttle,
)
from reconciler_sandbox.state import SandboxState
from reconciler_sandbox.wire import (
    NOT_SERVED,
    ApiError,
    InvalidRequest,
    Protocol,
    QueryProtocol,
    RawRequest,
    RawResponse,
    RestJsonProtocol,
    protocol_for,
    split_target,
    validate,
)

_BEHAVIOURS = (
    *(plugin.behaviour for plugin in services.PLUGINS),
    sts.BEHAVIOUR,
    organizations.BEHAVIOUR,
)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_ACCOUNT_LISTS = ("AccountIds", "AccountDetails", "Accounts")
_READ_PREFIXES = ("List", "Get", "Describe")


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """How the sandbox misbehaves. The defaults are AWS's: throttled at 10 req/s, burst 30.

    ``rate=0`` turns throttling off; ``burst`` defaults to 30 with the default rate and to
    ``max(1, round(3 * rate))`` with an explicit one (the ratio of AWS's 10/30).
    """

    latency_ms: int = 0
    rate: float | None = None
    burst: int | None = None
    fault_rate: float = 0.0
    seed: int = 0
    slow_rate: float = 0.0
    slow_ms: int = 0
    drop_rate: float = 0.0
    calls_log: str | os.PathLike[str] | None = None
    # Seconds an AssumeRole session lasts at most (None: the DurationSeconds asked for, as AWS).
    session_lifetime: float | None = None

    def __post_init__(self) -> None:
        for name in ("fault_rate", "slow_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("latency_ms", "slow_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.rate is not None and (self.rate < 0 or not math.isfinite(self.rate)):
            raise ValueError(f"rate must be a non-negative number, got {self.rate!r}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")
        lifetime = self.session_lifetime
        if lifetime is not None and not (lifetime > 0 and math.isfinite(lifetime)):
            raise ValueError(f"session_lifetime must be a positive number, got {lifetime!r}")

    def bucket(self) -> tuple[float, int] | None:
        """The effective (rate, burst), or None when throttling is off."""
        if self.rate is None:
            return DEFAULT_RATE, self.burst if self.burst is not None else DEFAULT_BURST
        if self.rate == 0:
            return None
        burst = self.burst if self.burst is not None else max(1, round(3 * self.rate))
        return self.rate, burst


@dataclass(frozen=True, slots=True)
class _Outcome:
    response: RawResponse
    delay: float
    drop: bool
    # Held by a MutationHold, then released: close the connection, send nothing.
    abort: bool = False


_ABORTED = _Outcome(RawResponse(0, {}, b""), 0.0, False, abort=True)


@lru_cache(maxsize=1)
def _services() -> dict[str, tuple[ServiceBehaviour, Protocol]]:
    session = botocore.session.get_session()
    out: dict[str, tuple[ServiceBehaviour, Protocol]] = {}
    for behaviour in _BEHAVIOURS:
        model = session.get_service_model(behaviour.name)
        out[model.signing_name] = (behaviour, protocol_for(model))
    return out


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sandbox:
    """The embedded sandbox: start it, point clients at :attr:`endpoint_url`, stop it."""

    def __init__(
        self,
        state: SandboxState,
        options: SandboxOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_non_loopback: bool = False,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(
                f"refusing to listen on {host!r}: the sandbox has no authentication, so it "
                "binds to loopback only unless allow_non_loopback is set"
            )
        self.state = state
        self.options = options or SandboxOptions()
        self.host = host
        self._port = port
        self._credentials = CredentialStore(state, lifetime=self.options.session_lifetime)
        bucket = self.options.bucket()
        self._throttle = Throttle(*bucket) if bucket else Throttle(None, 1)
        self._faults = FaultInjector(
            self.options.fault_rate,
            self.options.slow_rate,
            self.options.drop_rate,
            self.options.seed,
        )
        self._log = CallsLog(self.options.calls_log)
        self._hold: MutationHold | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Unexpected exceptions inside handlers (sandbox bugs), for tests to assert on.
        self.internal_errors: list[str] = []
        _services()  # load the models now, not on the first request

    # ---- life cycle -----------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._log.open()
        server = _Server((self.host, self._port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="reconcile-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        hold = self._hold
        if hold is not None:
            hold.release()
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        self._log.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- what clients need ----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def credentials(self) -> tuple[str, str]:
        """Access key id and secret that act as the state's default account."""
        return self._credentials.base()

    @property
    def issued_credentials(self) -> list[tuple[str, str, str]]:
        """Every (access key id, secret access key, session token) AssumeRole issued."""
        return self._credentials.issued()

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._log.snapshot()

    def clear_calls(self) -> None:
        """Forget the in-memory calls (the calls-log file keeps them)."""
        self._log.clear()

    def hold_after(
        self, mutating_calls: int, *, services: tuple[str, ...] | None = None
    ) -> MutationHold:
        """Hold every request once ``mutating_calls`` mutating requests have been applied.

        The kill switch of crash tests: wait for the returned hold's ``tripped`` event, kill
        the client, then :meth:`stop` the sandbox (the hold stays tripped, so everything the
        dead client sent is dropped without effect: held requests, and requests still unread
        in socket buffers or the listen backlog) and serve the same :attr:`state` from a new
        ``Sandbox``. :meth:`clear_hold` instead lets the sandbox serve on, dropping only the
        requests held so far. Only mutating requests of ``services`` are counted (all services
        when None); a hold set before replaces the previous one, which is released.
        """
        hold = MutationHold(mutating_calls, frozenset(services) if services else None)
        previous, self._hold = self._hold, hold
        if previous is not None:
            previous.release()
        return hold

    def clear_hold(self) -> None:
        """Release and remove the current hold, if any: held requests are dropped, later ones
        served (including any a killed client had sent that were not read yet)."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    # ---- one request ----------------------------------------------------------------------

    def process(self, request: RawRequest) -> _Outcome:
        """Answer one request: everything but the socket, so it is testable without HTTP."""
        request_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "ts": time.time(),
            "service": None,
            "operation": None,
            "region": None,
            "account": None,
            "status": 0,
            "error": None,
            "mutating": False,
            "accounts": None,
            "fault": None,
        }
        draw: FaultDraw | None = None
        handled = False
        last = False  # this request is the hold's k-th mutating one
        hold = self._hold
        if hold is not None and hold.tripped.is_set():
            hold.wait_released()
            return _ABORTED
        scope = _scope(request)
        if scope is None:
            response = _generic_error(
                request,
                request_id,
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
            return self._finish(record, response, None, handled)
        access_key, region, signing_name = scope
        record["region"] = region
        partition = partition_of(region)
        identity = self._credentials.identify(access_key, partition)
        record["account"] = identity.account
        found = _services().get(signing_name)
        if found is None:
            response = _not_served(request, request_id, signing_name, record)
            return self._finish(record, response, None, handled)
        behaviour, protocol = found
        record["service"] = behaviour.name
        arrived = _now()
        try:
            try:
                op, routed = protocol.resolve(request)
            except ApiError:
                record["operation"] = requested_operation(request, None)
                raise
            record["operation"] = op.name
            record["mutating"] = not op.name.startswith(_READ_PREFIXES)
            handler = behaviour.handlers.get(op.name)
            if handler is None:
                # Before the gates and validation: a 400 there would read as AWS's answer
                # about the account, when the truth is that the sandbox lacks the operation.
                raise ApiError(
                    "NotImplementedException",
                    f"The sandbox does not implement {behaviour.name} {op.name}",
                    status=NOT_SERVED,
                )
            if self._credentials.expired(access_key, arrived):
                raise expired_token(protocol)
            params: dict[str, Any] = {}
            undecodable: InvalidRequest | None = None
            try:
                params = protocol.decode(op, request, routed)
            except InvalidRequest as exc:
                undecodable = exc
            record["accounts"] = _count_accounts(params)
            self._gates(behaviour, identity.account, region, record)
            if behaviour.internal is not None:
                draw = self._faults.draw()
                if draw.fault:
                    record["fault"] = "500"
                    raise behaviour.internal()
            if undecodable is not None:
                raise behaviour.invalid(undecodable)
            if op.input_shape is not None:
                issues = validate(op.input_shape, params)
                if issues:
                    raise behaviour.invalid(InvalidRequest(issues, op.input_shape.name))
            handled = True
            context = CallContext(
                state=self.state,
                identity=identity,
                region=region,
                partition=partition,
                now=_now(),
                credentials=self._credentials,
            )
            counted = hold is not None and hold.counts(behaviour.name, record["mutating"])
            if hold is not None and counted and not hold.begin():
                # Tripped by another request: this one never takes effect.
                hold.wait_released()
                return _ABORTED
            try:
                with self.state.lock:
                    result = handler(context, params)
            finally:
                if hold is not None and counted:
                    last = hold.end()
            response = protocol.encode(op, result, request_id)
        except ApiError as exc:
            response = protocol.encode_error(exc, request_id)
            record["error"] = exc.code
        except Exception:
            detail = traceback.format_exc()
            self.internal_errors.append(detail)
            print(f"reconcile-sandbox: internal error\n{detail}", file=sys.stderr)
            failure = ApiError("InternalFailure", "The sandbox failed unexpectedly", status=500)
            response = protocol.encode_error(failure, request_id)
            record["error"] = failure.code
        outcome = self._finish(record, response, draw, handled)
        if last and hold is not None:
            # Applied and logged; its answer is held like everything after it.
            hold.wait_released()
            return _ABORTED
        return outcome

    def _gates(
        self, behaviour: ServiceBehaviour, account: str, region: str, record: dict[str, Any]
    ) -> None:
        if behaviour.region_disabled is not None and not self.state.region_enabled(account, region):
            raise behaviour.region_disabled()
        if behaviour.throttled is not None and not self._throttle.allow(
            (account, region, behaviour.name)
        ):
            record["fault"] = "throttle"
            raise behaviour.throttled()

    def _finish(
        self,
        record: dict[str, Any],
        response: RawResponse,
        draw: FaultDraw | None,
        handled: bool,
    ) -> _Outcome:
        delay = self.options.latency_ms / 1000.0
        drop = False
        # Slow and dropped responses happen after the request took effect: the client cannot
        # tell whether it did, which is the point.
        if handled and draw is not None:
            if draw.drop:
                record["fault"] = "drop"
                drop = True
            elif draw.slow:
                record["fault"] = "slow"
                delay += self.options.slow_ms / 1000.0
        record["status"] = response.status
        self._log.record(record)
        return _Outcome(response, delay, drop)


def expired_token(protocol: Protocol) -> ApiError:
    """AWS's answer to a request signed with the keys of a session that has ended."""
    # STS (query) words it ExpiredToken; the JSON services, ExpiredTokenException. Both 403.
    code = "ExpiredToken" if isinstance(protocol, QueryProtocol) else "ExpiredTokenException"
    return ApiError(code, "The security token included in the request is expired", status=403)


def _not_served(
    request: RawRequest, request_id: str, signing_name: str, record: dict[str, Any]
) -> RawResponse:
    """The answer to a request for a service the sandbox does not serve, logged in full.

    The service is named by the signing name and the operation read from the request (with
    botocore's model of that service when it has one), so the calls log shows what a client
    tried. The code is what AWS answers for an unknown operation in the service's protocol,
    with HTTP 501: never a 400, which scripts read as "already exists" and carry on.
    """
    record["service"] = signing_name
    model = foreign_model(signing_name)
    operation = requested_operation(request, model)
    record["operation"] = operation
    record["mutating"] = operation is not None and not operation.startswith(_READ_PREFIXES)
    served = ", ".join(sorted(behaviour.name for behaviour, _ in _services().values()))
    what = f"{signing_name} {operation}" if operation else f"the {signing_name} service"
    message = f"The sandbox does not serve {what}; it serves {served}"
    xml = model.protocol in ("query", "ec2", "rest-xml") if model is not None else None
    if xml is None:
        xml = request.body.startswith(b"Action=") or "Action" in request.query
    code = "InvalidAction" if xml and "Action" in _form(request) else "UnknownOperationException"
    if xml:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": code,
        }
    record["error"] = code
    return RawResponse(NOT_SERVED, headers, body)


def _form(request: RawRequest) -> dict[str, list[str]]:
    form = dict(request.query)
    if request.body.startswith(b"Action="):
        form.update(parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return form


def requested_operation(request: RawRequest, model: ServiceModel | None) -> str | None:
    """The operation a request names: ``Action`` (query), ``X-Amz-Target`` (JSON), or the
    route of its method and path in ``model`` (REST protocols); None when none says."""
    action = (_form(request).get("Action") or [""])[0]
    if action:
        return action
    target = request.headers.get("x-amz-target", "")
    if target:
        return target.rpartition(".")[2] or None
    if model is not None and model.protocol.startswith("rest-"):
        with contextlib.suppress(ApiError):
            return _router(model).resolve(request)[0].name
    return None


@lru_cache(maxsize=32)
def foreign_model(signing_name: str) -> ServiceModel | None:
    """botocore's model of a service the sandbox does not serve, found by its signing name."""
    session = botocore.session.get_session()
    if signing_name not in session.get_available_services():
        return None
    try:
        model = session.get_service_model(signing_name)
    except botocore.exceptions.BotoCoreError:
        return None
    return model if model.signing_name == signing_name else None


@lru_cache(maxsize=32)
def _router(model: ServiceModel) -> RestJsonProtocol:
    # Routing reads only the model's method and URI templates, the same for rest-xml.
    return RestJsonProtocol(model)


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _scope(request: RawRequest) -> tuple[str, str, str] | None:
    """(access key, region, signing name) from the SigV4 credential scope."""
    match = _CREDENTIAL.search(request.headers.get("authorization", ""))
    if match is not None:
        return match.group(1), match.group(3), match.group(4)
    presigned = request.query.get("X-Amz-Credential")
    if presigned:
        parts = presigned[0].split("/")
        if len(parts) == 5:
            return parts[0], parts[2], parts[3]
    return None


def _count_accounts(params: Mapping[str, Any]) -> int | None:
    for name in _ACCOUNT_LISTS:
        value = params.get(name)
        if isinstance(value, list):
            return len(value)
    return None


def _generic_error(
    request: RawRequest, request_id: str, status: int, code: str, message: str
) -> RawResponse:
    # Before the service is known the protocol is guessed from the request's shape.
    if request.body.startswith(b"Action=") or "Action" in request.query:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return RawResponse(
            status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
        )
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": code,
    }
    return RawResponse(status, headers, json.dumps({"message": message}).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A connection the client (or stop()) closed under a handler is routine here.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        # Keep-alive connections would otherwise outlive the server in their threads.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # An idle keep-alive connection is closed after this many seconds.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without TCP_NODELAY the second one waits for
        # the client's delayed ACK (Nagle), costing 40 ms a request on keep-alive connections.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line: the calls log is the record."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET
    do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Bad Content-Length or chunk size")
            self.close_connection = True
            return
        path, query = split_target(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RawRequest(self.command, path, query, headers, body)
        outcome = self.server.sandbox.process(request)
        if outcome.abort:
            # Held past a client's death: it gets nothing, not even a status line.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if outcome.delay > 0:
            time.sleep(outcome.delay)
        try:
            if outcome.drop:
                self._send_truncated(outcome.response)
            else:
                self._send(outcome.response)
        except OSError:
            # The client gave up first (its read timeout fired) or the sandbox is stopping:
            # nothing left to tell it.
            self.close_connection = True

    def _send(self, response: RawResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, _header_value(value))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()

    def _send_truncated(self, response: RawResponse) -> None:
        # The status line, the headers and half of the first chunk, then the connection goes
        # away. The body is chunked on purpose: botocore reads Content-Length bodies without
        # enforcing the length, so a short Content-Length body would pass as a complete (and
        # silently empty) answer, while a broken chunked body surfaces as ConnectionClosedError.
        reason = self.responses.get(response.status, ("",))[0]
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {_header_value(value)}" for name, value in response.headers.items()]
        lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = response.body
        self.wfile.write(head + f"{len(body):x}\r\n".encode() + body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _header_value(value: str) -> str:
    return value.encode("ascii", "backslashreplace").decode("ascii")
