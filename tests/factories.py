"""Builders for the pipeline's value types, shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.model import (
    DesiredMember,
    DesiredState,
    InvitationSettings,
    MemberStatus,
    Mode,
    ObservedMember,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
)

ADMIN = "111111111111"
GD_EAST = ShardKey(Service("guardduty"), "us-east-1")
SH_EAST = ShardKey(Service("securityhub"), "us-east-1")


def account(n: int) -> str:
    """A distinct 12-digit account ID (never the administrator's)."""
    return f"{200000000000 + n:012d}"


def email(account_id: str) -> str:
    return f"aws+{account_id}@example.com"


def desired_members(ids: Iterable[str], *, with_email: bool = True) -> dict[str, DesiredMember]:
    return {a: DesiredMember(a, email(a) if with_email else None) for a in ids}


def desired_state(
    shards: Mapping[ShardKey, Mapping[str, DesiredMember]],
    *,
    modes: Mapping[Service, Mode] | None = None,
    invitation: InvitationSettings | None = None,
) -> DesiredState:
    modes = modes or {}
    services = {
        key.service: ServiceSettings(
            key.service,
            modes.get(key.service, Mode.ORGANIZATION),
            invitation or InvitationSettings(),
        )
        for key in shards
    }
    return DesiredState(
        source="test.yaml",
        administrator_account_id=ADMIN,
        administrator_role_arn=None,
        partition="aws",
        regions=tuple(sorted({key.region for key in shards})),
        services=services,
        shards=dict(shards),
    )


def observed(
    key: ShardKey,
    members: Mapping[str, str] | None = None,
    *,
    emails: Mapping[str, str | None] | None = None,
    ready: bool = True,
    reason: str | None = None,
) -> ShardObservation:
    """An observation; ``members`` maps account ID → raw status text."""
    emails = emails or {}
    return ShardObservation(
        key,
        ready=ready,
        reason=reason,
        members={
            a: ObservedMember(a, emails.get(a, email(a)), MemberStatus.parse(s), s)
            for a, s in (members or {}).items()
        },
    )


@dataclass
class ObservingPort:
    """A member port that only observes: a dry run, or a refused plan, calls nothing else (any
    other call is an AttributeError, so a test notices)."""

    observation: ShardObservation

    @property
    def key(self) -> ShardKey:
        return self.observation.key

    def observe(self) -> ShardObservation:
        return self.observation
