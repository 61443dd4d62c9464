"""Build one port per shard of the desired state, from the administrator's client factory."""

from __future__ import annotations

from reconciler.aws.base import MemberAdapter
from reconciler.aws.session import ClientFactory
from reconciler.model import DesiredState, ShardKey
from reconciler.ports import MemberPort
from reconciler.services.registry import spec_of


def member_ports(factory: ClientFactory, desired: DesiredState) -> dict[ShardKey, MemberPort]:
    return {
        key: MemberAdapter(
            spec_of(key.service),
            factory,
            key.region,
            account_id=desired.administrator_account_id,
            settings=desired.services.get(key.service),
        )
        for key in sorted(desired.shards)
    }
