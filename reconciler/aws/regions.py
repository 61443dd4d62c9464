"""The region catalog, read from botocore's bundled endpoint data (no network call).

The manifest validator needs to know which regions exist, which partition each belongs to
(aws, aws-us-gov, aws-cn, ...) and which regions offer each member service. botocore
ships that data; we read it once and hand a pure :class:`~reconciler.model.RegionCatalog` on.

The endpoint data is read through :func:`shared_data_loader`, which the run's sessions are
given too (:func:`new_botocore_session`), so each bundled file is parsed once per process. The
catalog walks the data itself rather than asking ``Session.get_available_regions``, which
loads each service's whole API model to find its endpoint prefix (EC2's alone is several MB
of JSON): 0.05 s of CPU instead of 0.3 s, in every run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import botocore.session

from reconciler.model import RegionCatalog, Service
from reconciler.services.registry import SPECS


@lru_cache(maxsize=1)
def shared_data_loader() -> Any:
    """botocore's loader of its bundled JSON (endpoints, API models), one per process.

    Taken from a default session so that ``AWS_DATA_PATH`` is honoured as botocore would.
    The loader only reads and caches files, so sharing it shares no credentials or settings.
    """
    return botocore.session.get_session().get_component("data_loader")


def new_botocore_session() -> botocore.session.Session:
    """A fresh botocore session (its own credentials and configuration) on the shared loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", shared_data_loader())
    return session


@lru_cache(maxsize=1)
def load_region_catalog() -> RegionCatalog:
    return catalog_from_endpoint_data(shared_data_loader().load_data("endpoints"))


def catalog_from_endpoint_data(data: dict[str, Any]) -> RegionCatalog:
    """The catalog of botocore's ``endpoints.json`` document.

    A partition's regions are the keys of its ``regions``; a service is offered in a region
    when its ``endpoints`` has that region's key (the others there are global or FIPS
    endpoints, such as ``fips-us-east-1``, which are not regions).
    """
    regions_by_partition: dict[str, frozenset[str]] = {}
    offered: dict[Service, set[str]] = {spec.name: set() for spec in SPECS}
    for partition in data["partitions"]:
        regions = frozenset(partition.get("regions", {}))
        regions_by_partition[partition["partition"]] = regions
        services = partition.get("services", {})
        for spec in SPECS:
            # A service's key in the endpoint data is its endpoint prefix.
            endpoints = services.get(spec.endpoint_prefix, {}).get("endpoints", {})
            offered[spec.name].update(name for name in endpoints if name in regions)
    return RegionCatalog(
        regions_by_partition=regions_by_partition,
        offered={service: frozenset(names) for service, names in offered.items()},
    )
