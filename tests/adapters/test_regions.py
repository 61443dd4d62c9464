"""The region catalog as read from botocore's endpoint data, and the sessions sharing it."""

from __future__ import annotations

import botocore.session

from reconciler.aws.regions import (
    catalog_from_endpoint_data,
    load_region_catalog,
    new_botocore_session,
    shared_data_loader,
)
from reconciler.model import Service
from reconciler.services import registry


def test_catalog_keeps_regions_and_drops_global_and_fips_endpoints() -> None:
    data = {
        "partitions": [
            {
                "partition": "aws",
                "regions": {"us-east-1": {}, "eu-west-1": {}, "ap-east-1": {}},
                "services": {
                    "guardduty": {"endpoints": {"us-east-1": {}, "fips-us-east-1": {}}},
                    "securityhub": {"endpoints": {"us-east-1": {}, "eu-west-1": {}}},
                },
            },
            {"partition": "aws-iso-z", "regions": {"iso-z-1": {}}, "services": {}},
        ]
    }
    catalog = catalog_from_endpoint_data(data)
    assert catalog.regions_by_partition == {
        "aws": frozenset({"us-east-1", "eu-west-1", "ap-east-1"}),
        "aws-iso-z": frozenset({"iso-z-1"}),
    }
    assert catalog.offered[Service("guardduty")] == frozenset({"us-east-1"})
    assert catalog.offered[Service("securityhub")] == frozenset({"us-east-1", "eu-west-1"})
    assert catalog.partition_of("iso-z-1") == "aws-iso-z"


def test_catalog_matches_botocores_own_region_lists() -> None:
    """The walk over the data gives what botocore's public API says, partition by partition."""
    session = botocore.session.get_session()
    catalog = load_region_catalog()
    assert set(catalog.regions_by_partition) == set(session.get_available_partitions())
    for partition in session.get_available_partitions():
        for service in registry.NAMES:
            listed = set(session.get_available_regions(service, partition_name=partition))
            assert listed <= catalog.regions_by_partition[partition]
            assert listed == catalog.offered[service] & catalog.regions_by_partition[partition]


def test_sessions_share_the_loader_but_not_credentials() -> None:
    first, second = new_botocore_session(), new_botocore_session()
    assert first is not second
    assert first.get_component("data_loader") is shared_data_loader()
    assert second.get_component("data_loader") is shared_data_loader()
    first.set_credentials("AKIAFIRST", "secret-one")
    second.set_credentials("AKIASECOND", "secret-two")
    first_credentials, second_credentials = first.get_credentials(), second.get_credentials()
    assert first_credentials is not None
    assert second_credentials is not None
    assert first_credentials.access_key == "AKIAFIRST"
    assert second_credentials.access_key == "AKIASECOND"
