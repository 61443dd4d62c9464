"""Member-side calls: accept the administrator's invitation inside each member account.

Invitation mode leaves members invited until someone in the member account accepts. With
``invitation.accept`` in the manifest, the reconciler does it: it assumes the given role in the
member account (a partition-aware ARN: ``arn:aws-us-gov:iam::…`` in GovCloud) and runs the
service's own member-side accept (``ServiceSpec.member_side``), which makes the member side
ready and accepts only the invitation that comes from *our* administrator — never "the last
one", which is how the peer scripts accept a stranger's.

Before any invitation goes out (apply runs only), :meth:`MemberAccounts.cannot_accept` reads
the member side of each account about to be invited: the role must be assumable and the
service's own check (if it has one) must pass; an account that could not accept is not invited
(see ``observe.observe_member_sides``). The session and what the check found are kept for the
accept, which then makes no extra call.

One assumed session per member account, shared across its services and regions (a role that
cannot be assumed is tried once). Calls made as a member are paced by that member's own
buckets (AWS's limits are per account).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from reconciler.aws.base import pages_by_hand
from reconciler.aws.session import ClientFactory, assume_role, call, paginate
from reconciler.errors import AcceptError, AwsError
from reconciler.model import AcceptSettings, Service, ShardKey
from reconciler.services.registry import spec_of
from reconciler.services.spec import AcceptContext


class MemberCalls:
    """The spec's call protocol as a member account, in one region (pages: botocore's
    paginator, at its default page size, or NextToken by hand where the service has none)."""

    def __init__(self, client: Any, service: str, region: str, account_id: str) -> None:
        self._client = client
        self.service = service
        self.region = region
        self.account_id = account_id
        self._paginator = spec_of(service).paging.paginator

    def call(self, operation: str, /, **params: Any) -> dict[str, Any]:
        return call(self._client, operation, service=self.service, region=self.region, **params)

    def pages(self, operation: str, /, **params: Any) -> list[dict[str, Any]]:
        if not self._paginator:
            return list(pages_by_hand(self.call, operation, None, params))
        return paginate(self._client, operation, service=self.service, region=self.region, **params)


class MemberAccounts:
    """Implements ``ports.AcceptPort`` with roles assumed from the administrator's session."""

    def __init__(
        self,
        administrator: ClientFactory,
        *,
        partition: str,
        accept: Mapping[Service, AcceptSettings],
        sts_region: str,
    ) -> None:
        self._administrator = administrator
        self._partition = partition
        self._accept = dict(accept)
        self._sts_region = sts_region
        self._factories: dict[tuple[str, str], ClientFactory] = {}
        # A role that could not be assumed is tried once per run, not once per shard.
        self._refused: dict[tuple[str, str], AwsError] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        # (service, account, region) → what the pre-invitation check found, for the accept.
        self._seen: dict[tuple[str, str, str], Any] = {}

    def role_arn(self, account_id: str, role_name: str) -> str:
        return f"arn:{self._partition}:iam::{account_id}:role/{role_name}"

    def _factory(self, account_id: str, role_name: str) -> ClientFactory:
        key = (account_id, role_name)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # One AssumeRole per member account, even when its shards accept concurrently.
        with lock:
            found = self._factories.get(key)
            if found is None:
                refused = self._refused.get(key)
                if refused is not None:
                    raise refused
                try:
                    found = assume_role(
                        self._administrator,
                        self.role_arn(account_id, role_name),
                        region=self._sts_region,
                        session_name="reconciler-accept",
                    )
                except AwsError as exc:
                    self._refused[key] = exc
                    raise
                self._factories[key] = found
            return found

    def _calls(self, factory: ClientFactory, key: ShardKey, account_id: str) -> MemberCalls:
        return MemberCalls(
            factory.client(key.service, key.region), key.service, key.region, account_id
        )

    def cannot_accept(self, key: ShardKey, account_id: str) -> str | None:
        """Why ``account_id`` could not accept an invitation in ``key``'s shard; None: it can.

        Asked before inviting, so that no invitation email goes out that the accept step would
        then fail on. Reads only: the role is assumed (the session is kept for the accept) and
        the service's own check runs (what it found is kept for the accept, which then reads
        nothing again). A service without a check needs nothing more.
        """
        settings = self._accept.get(key.service)
        if settings is None:
            return None
        role = self.role_arn(account_id, settings.role_name)
        try:
            factory = self._factory(account_id, settings.role_name)
        except AwsError as exc:
            return (
                f"the role {role} cannot be assumed ({exc.code or 'error'}: {exc.aws_message}); "
                "let the administrator assume it (the role's trust policy), or fix "
                "invitation.accept.roleName"
            )
        member_side = spec_of(key.service).member_side
        if member_side is None or member_side.check is None:
            return None
        context = AcceptContext("", settings, role)
        reason, seen = member_side.check(self._calls(factory, key, account_id), context)
        if seen is not None:
            with self._guard:
                self._seen[(key.service, account_id, key.region)] = seen
        return reason

    def accept(self, key: ShardKey, account_id: str, administrator_account_id: str) -> str:
        settings = self._accept.get(key.service)
        if settings is None:
            raise AcceptError(f"{key.service} has no invitation.accept settings")
        member_side = spec_of(key.service).member_side
        if member_side is None:
            raise AcceptError(f"{key.service} has no member-side accept")
        factory = self._factory(account_id, settings.role_name)
        with self._guard:
            seen = self._seen.pop((key.service, account_id, key.region), None)
        context = AcceptContext(
            administrator_account_id,
            settings,
            self.role_arn(account_id, settings.role_name),
            seen,
        )
        return member_side.accept(self._calls(factory, key, account_id), context)
