"""The region catalog, read from botocore's bundled endpoint data (no network call).

The manifest validator needs to know which regions exist, which partition each belongs to
(aws, aws-us-gov, aws-cn, ...) and which regions offer GuardDuty and Security Hub. botocore
ships that data; we read it once and hand a pure :class:`~reconciler.model.RegionCatalog` on.
"""

from __future__ import annotations

from functools import lru_cache

import botocore.session

from reconciler.model import RegionCatalog, Service


@lru_cache(maxsize=1)
def load_region_catalog() -> RegionCatalog:
    session = botocore.session.get_session()
    regions_by_partition: dict[str, frozenset[str]] = {}
    offered: dict[Service, set[str]] = {service: set() for service in Service}
    for partition in session.get_available_partitions():
        every_region: set[str] = set()
        for service in Service:
            names = session.get_available_regions(
                service.value, partition_name=partition, allow_non_regional=False
            )
            offered[service].update(names)
            every_region.update(names)
        # Regions that offer neither service still exist; list them so the error can say
        # "does not offer" rather than "unknown region".
        every_region.update(session.get_available_regions("ec2", partition_name=partition))
        regions_by_partition[partition] = frozenset(every_region)
    return RegionCatalog(
        regions_by_partition=regions_by_partition,
        offered={service: frozenset(names) for service, names in offered.items()},
    )
