"""Build one port per shard of the desired state, from the administrator's client factory."""

from __future__ import annotations

from reconciler.aws.base import MemberAdapter
from reconciler.aws.guardduty import GuardDutyAdapter
from reconciler.aws.securityhub import SecurityHubAdapter
from reconciler.aws.session import ClientFactory
from reconciler.model import DesiredState, Service, ShardKey
from reconciler.ports import MemberPort

ADAPTERS: dict[Service, type[MemberAdapter]] = {
    Service.GUARDDUTY: GuardDutyAdapter,
    Service.SECURITYHUB: SecurityHubAdapter,
}


def member_ports(factory: ClientFactory, desired: DesiredState) -> dict[ShardKey, MemberPort]:
    return {
        key: ADAPTERS[key.service](factory, key.region, account_id=desired.administrator_account_id)
        for key in sorted(desired.shards)
    }
