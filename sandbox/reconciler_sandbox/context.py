"""What a handler gets to know about a call: who calls, where, when; and the issued keys.

Handlers are plain functions ``(CallContext, params) -> result`` over params dicts keyed by
the model's member names; this module holds the few types they share, so the handler
modules depend on neither the HTTP server nor each other.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.exceptions import UnknownRegionError

from reconciler_sandbox.records import World
from reconciler_sandbox.wire import ApiError, InvalidRequest

Params = dict[str, Any]

BASE_ACCESS_KEY_ID = "AKIASANDBOX000000001"
BASE_SECRET_ACCESS_KEY = "sandbox-secret-access-key-not-a-secret00"


@dataclass(frozen=True, slots=True)
class Identity:
    """The principal behind an access key, as GetCallerIdentity reports it."""

    account: str
    arn: str
    user_id: str


@dataclass(frozen=True, slots=True)
class CallContext:
    state: World
    identity: Identity
    region: str
    partition: str
    now: datetime
    credentials: CredentialStore

    @property
    def account(self) -> str:
        return self.identity.account


Handler = Callable[[CallContext, Params], Params]


@dataclass(frozen=True, slots=True)
class ServiceBehaviour:
    """One service as the server sees it: its handlers and how it words generic failures.

    ``throttled`` and ``internal`` are None for the services that are never throttled nor
    faulted (STS, Organizations); ``region_disabled`` is None for global services, which
    answer whatever region the client signs for.
    """

    name: str
    handlers: Mapping[str, Handler]
    invalid: Callable[[InvalidRequest], ApiError]
    region_disabled: Callable[[], ApiError] | None
    throttled: Callable[[], ApiError] | None = None
    internal: Callable[[], ApiError] | None = None


@lru_cache(maxsize=256)
def partition_of(region: str) -> str:
    """aws, aws-cn, aws-us-gov... for a region, from botocore's endpoint data."""
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except (UnknownRegionError, ValueError):
        if region.startswith("cn-"):
            return "aws-cn"
        if region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"


class CredentialStore:
    """Maps access keys to identities: AssumeRole's keys to the role, any other to the default.

    Signatures are not verified: the sandbox trusts the key id, which is all it needs to
    tell accounts apart. Issued keys expire as AWS's do: after the ``DurationSeconds`` asked
    for, or after ``lifetime`` seconds when that is shorter (``--session-lifetime``, so that a
    test can outlive a role session in seconds instead of an hour); a request signed with an
    expired key is refused with ``ExpiredTokenException``. The base key never expires.
    """

    def __init__(self, state: World, *, lifetime: float | None = None) -> None:
        self._state = state
        self._lifetime = lifetime
        self._issued: dict[str, Identity] = {}
        self._expiry: dict[str, datetime] = {}
        # Every (key id, secret, session token) issued, for tests that prove none leaks.
        self._secrets: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def base(self) -> tuple[str, str]:
        return BASE_ACCESS_KEY_ID, BASE_SECRET_ACCESS_KEY

    def identify(self, access_key_id: str, partition: str) -> Identity:
        with self._lock:
            found = self._issued.get(access_key_id)
        if found is not None:
            return found
        account = self._state.default_account
        return Identity(
            account=account,
            arn=f"arn:{partition}:iam::{account}:user/sandbox",
            user_id="AIDASANDBOX" + account[-9:],
        )

    def expired(self, access_key_id: str, now: datetime) -> bool:
        """Whether ``access_key_id`` is an issued key whose session has ended by ``now``."""
        with self._lock:
            expiry = self._expiry.get(access_key_id)
        return expiry is not None and now >= expiry

    def issue(
        self, identity: Identity, *, now: datetime, duration: int = 3600
    ) -> tuple[str, str, str, datetime]:
        """New temporary credentials for ``identity``: key id, secret, token and expiration."""
        alphabet = string.ascii_uppercase + string.digits
        key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        token = "FwoGZXIvYXdzE" + secrets.token_urlsafe(96)
        seconds = float(duration)
        if self._lifetime is not None:
            seconds = min(seconds, self._lifetime)
        expiry = now + timedelta(seconds=seconds)
        with self._lock:
            self._issued[key] = identity
            self._expiry[key] = expiry
            self._secrets.append((key, secret, token))
        return key, secret, token, expiry

    def issued(self) -> list[tuple[str, str, str]]:
        """Every (key id, secret, session token) AssumeRole has issued so far."""
        with self._lock:
            return list(self._secrets)


def encode_token(after: str) -> str:
    """An opaque pagination token that resumes after the key ``after``."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def decode_token(token: str | None) -> str | None:
    """The key a token resumes after; ValueError when it is not one of ours."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("invalid pagination token") from None
    after = data.get("after") if isinstance(data, dict) else None
    if not isinstance(after, str):
        raise ValueError("invalid pagination token")
    return after


def paginate_keys(keys: list[str], token: str | None, limit: int) -> tuple[list[str], str | None]:
    """A page of sorted ``keys`` after ``token``'s key, and the token of the next page.

    ValueError when the token is not one of ours. Never a token on the last page, so a
    client makes exactly ``max(1, ceil(n / limit))`` calls.
    """
    after = decode_token(token)
    start = 0
    if after is not None:
        start = next((i for i, key in enumerate(keys) if key > after), len(keys))
    page = keys[start : start + limit]
    more = start + limit < len(keys)
    return page, encode_token(page[-1]) if more and page else None
