"""Build one port per shard of the desired state, from the administrator's client factory."""

from __future__ import annotations

from reconciler.aws.registry import ADAPTERS
from reconciler.aws.session import ClientFactory
from reconciler.model import DesiredState, ShardKey
from reconciler.ports import MemberPort


def member_ports(factory: ClientFactory, desired: DesiredState) -> dict[ShardKey, MemberPort]:
    return {
        key: ADAPTERS[key.service](factory, key.region, account_id=desired.administrator_account_id)
        for key in sorted(desired.shards)
    }
