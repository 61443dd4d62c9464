"""The shared vocabulary of the pipeline: frozen value types handed from one step to the next.

manifest → observe → diff → plan → apply → verify → report all speak in these types. They are
plain frozen dataclasses (not pydantic models) because they are built in hot loops over tens of
thousands of members, and because the pure steps must not depend on how the manifest is parsed
or how AWS is called. Nothing here imports boto3 or botocore (an import-linter contract holds
that line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

#: A member service whose membership we reconcile, by its boto3 client name. Which names
#: exist is the registry's business (``reconciler.services.registry``), not this module's.
Service = NewType("Service", str)


class Mode(StrEnum):
    """How members join the administrator: through AWS Organizations, or by invitation."""

    ORGANIZATION = "organization"
    INVITATION = "invitation"


class MemberStatus(StrEnum):
    """A member's relationship status, normalised.

    Services answer ``Enabled`` and document ``ENABLED``, or answer either. The wire value is a
    free string in their models, so we parse case-insensitively and keep every value we have
    not seen as :attr:`UNKNOWN` (with the raw text kept beside it) rather than failing on it.
    A service whose words differ maps them in its spec (``ServiceSpec.statuses``).
    """

    CREATED = "Created"
    INVITED = "Invited"
    EMAIL_VERIFICATION_IN_PROGRESS = "EmailVerificationInProgress"
    EMAIL_VERIFICATION_FAILED = "EmailVerificationFailed"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    REMOVED = "Removed"
    RESIGNED = "Resigned"
    DELETED = "Deleted"
    ACCOUNT_SUSPENDED = "AccountSuspended"
    REGION_DISABLED = "RegionDisabled"
    PAUSED = "Paused"
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, raw: str | None) -> MemberStatus:
        if not raw:
            return cls.UNKNOWN
        found = _STATUS_BY_FOLDED.get(raw.replace("_", "").casefold())
        return found if found is not None else cls.UNKNOWN


# One member service called Enabled "Associated" until 2020 (terraform-provider-aws#16403).
_STATUS_BY_FOLDED: dict[str, MemberStatus] = {s.value.casefold(): s for s in MemberStatus}
_STATUS_BY_FOLDED["associated"] = MemberStatus.ENABLED


@dataclass(frozen=True, slots=True, order=True)
class ShardKey:
    """One unit of work: a service in a region. Sorts by service, then region."""

    service: Service
    region: str

    def __str__(self) -> str:
        return f"{self.service}/{self.region}"


@dataclass(frozen=True, slots=True)
class DesiredMember:
    """An account the manifest says must be a member of the administrator in one shard."""

    account_id: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class InvitationSettings:
    """Options sent with the invitation (not every service takes them)."""

    message: str | None = None
    disable_email_notification: bool = False


@dataclass(frozen=True, slots=True)
class AcceptSettings:
    """Accept invitations inside member accounts by assuming this role there."""

    role_name: str
    create_member_detector: bool = False


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the manifest says about one service, independent of region."""

    service: Service
    mode: Mode
    invitation: InvitationSettings = field(default_factory=InvitationSettings)
    accept: AcceptSettings | None = None
    reinvite: bool = False


@dataclass(frozen=True, slots=True)
class PruneSettings:
    """Removal of members that AWS has and the manifest does not; off unless asked for."""

    enabled: bool = False
    max_deletions: int = 10
    protected_accounts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The manifest, expanded into the members each shard must have.

    ``shards`` holds every shard in scope (after ``--service``/``--region`` filters), including
    shards with no desired member, so that a shard is observed (and unmanaged members are
    reported) even when the manifest lists nobody for it.
    """

    source: str
    administrator_account_id: str
    administrator_role_arn: str | None
    partition: str
    regions: tuple[str, ...]
    services: Mapping[Service, ServiceSettings]
    shards: Mapping[ShardKey, Mapping[str, DesiredMember]]
    prune: PruneSettings = field(default_factory=PruneSettings)
    # Accounts ``membersFrom`` selected that are not ACTIVE in AWS Organizations (account →
    # its state, e.g. SUSPENDED): not enrolled, never pruned, reported as skipped.
    skipped: Mapping[str, str] = field(default_factory=dict)

    def settings_for(self, key: ShardKey) -> ServiceSettings:
        return self.services[key.service]


@dataclass(frozen=True, slots=True)
class ObservedMember:
    """A member as AWS reports it, reduced to what we compare (volatile fields dropped)."""

    account_id: str
    email: str | None
    status: MemberStatus
    raw_status: str


@dataclass(frozen=True, slots=True)
class ShardObservation:
    """What one shard looks like in AWS right now.

    A *blocked* shard is one whose administrator side is not ready (the service's prerequisite,
    such as an enabled detector, is missing, or the region is not enabled): nothing is planned
    there, and the run is reported as failed, because the manifest cannot be honoured.
    """

    key: ShardKey
    ready: bool
    reason: str | None = None
    members: Mapping[str, ObservedMember] = field(default_factory=dict)
    # The organization's auto-enable setting (ServiceSpec.auto_enable), when read.
    auto_enable: str | None = None
    # Accounts about to be invited whose member side cannot accept (read in the member
    # accounts before inviting, when ``invitation.accept`` is set): account → why, with the fix.
    cannot_accept: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnprocessedAccount:
    """One entry of an UnprocessedAccounts list: the account and AWS's free-text reason."""

    account_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RegionCatalog:
    """Which regions exist in which partition, and which of them offer each service.

    Built from botocore's endpoint data by ``reconciler.aws.regions`` and handed to the pure
    manifest validator, which therefore never imports botocore itself.
    """

    regions_by_partition: Mapping[str, frozenset[str]]
    offered: Mapping[Service, frozenset[str]]

    def partition_of(self, region: str) -> str | None:
        for partition, regions in self.regions_by_partition.items():
            if region in regions:
                return partition
        return None

    def offers(self, service: Service, region: str) -> bool:
        return region in self.offered.get(service, frozenset())
