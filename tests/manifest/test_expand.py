"""expand(): shards in scope, filters, Organizations accounts, and speed at scale."""

from __future__ import annotations

import pytest

from reconciler.errors import UsageError
from reconciler.manifest import Manifest, expand, load_manifest
from reconciler.model import DesiredMember, RegionCatalog, Service, ShardKey
from tests.manifest.conftest import BASE, WriteManifest

GD, SH = Service("guardduty"), Service("securityhub")
EXTRA = """\
  - accountId: "444444444444"
    email: aws+444@example.com
    services: [guardduty]
    regions: [eu-west-1]
  - accountId: "555555555555"
    services: [securityhub]
"""


@pytest.fixture
def manifest(write: WriteManifest, catalog: RegionCatalog) -> Manifest:
    return load_manifest(write(BASE + EXTRA), catalog=catalog)


def ids(state_shard: object) -> list[str]:
    assert isinstance(state_shard, dict)
    return sorted(state_shard)


def test_every_member_lands_where_it_asked(manifest: Manifest) -> None:
    state = expand(manifest)
    assert list(state.shards) == [
        ShardKey(GD, "eu-west-1"),
        ShardKey(GD, "us-east-1"),
        ShardKey(SH, "eu-west-1"),
        ShardKey(SH, "us-east-1"),
    ]
    both = ["222222222222", "333333333333"]
    assert ids(state.shards[ShardKey(GD, "us-east-1")]) == both
    assert ids(state.shards[ShardKey(GD, "eu-west-1")]) == [*both, "444444444444"]
    assert ids(state.shards[ShardKey(SH, "us-east-1")]) == [*both, "555555555555"]
    assert ids(state.shards[ShardKey(SH, "eu-west-1")]) == [*both, "555555555555"]
    assert state.shards[ShardKey(GD, "eu-west-1")]["444444444444"] == DesiredMember(
        "444444444444", "aws+444@example.com"
    )
    assert state.shards[ShardKey(SH, "us-east-1")]["555555555555"].email is None


def test_state_carries_the_manifest(manifest: Manifest) -> None:
    state = expand(manifest)
    assert state.source == manifest.source
    assert state.administrator_account_id == "111111111111"
    assert state.administrator_role_arn is None
    assert state.partition == "aws"
    assert state.regions == ("us-east-1", "eu-west-1")
    assert set(state.services) == {GD, SH}
    assert state.prune == manifest.prune


def test_shards_without_members_are_kept(write: WriteManifest, catalog: RegionCatalog) -> None:
    text = BASE.split("members:")[0]
    state = expand(load_manifest(write(text), catalog=catalog))
    assert len(state.shards) == 4
    assert all(members == {} for members in state.shards.values())


def test_filters_narrow_the_scope(manifest: Manifest) -> None:
    state = expand(manifest, services=[SH], regions=["eu-west-1"])
    assert list(state.shards) == [ShardKey(SH, "eu-west-1")]
    assert state.regions == ("eu-west-1",)
    assert set(state.services) == {SH}
    assert ids(state.shards[ShardKey(SH, "eu-west-1")]) == [
        "222222222222",
        "333333333333",
        "555555555555",
    ]
    # Strings work too (the CLI may pass them), and empty filters mean "everything".
    assert len(expand(manifest, services=["guardduty"], regions=()).shards) == 2


def test_filters_keep_the_manifest_order(manifest: Manifest) -> None:
    state = expand(manifest, regions=["eu-west-1", "us-east-1"])
    assert state.regions == ("us-east-1", "eu-west-1")


@pytest.mark.parametrize(
    ("services", "regions", "message"),
    [
        (["inspector"], None, "--service inspector is not one of the manifest's services"),
        (None, ["ap-south-1"], "--region ap-south-1 is not one of the manifest's regions"),
    ],
)
def test_filters_outside_the_manifest_are_usage_errors(
    manifest: Manifest, services: list[str] | None, regions: list[str] | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        expand(manifest, services=services, regions=regions)  # type: ignore[arg-type]


def test_a_service_the_manifest_does_not_configure(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    only_gd = BASE.replace("  securityhub:\n    mode: organization\n", "")
    manifest = load_manifest(write(only_gd), catalog=catalog)
    with pytest.raises(UsageError, match=r"--service securityhub .* \(guardduty\)"):
        expand(manifest, services=[SH])


def test_organization_accounts_join_every_shard(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    text = BASE + EXTRA + 'membersFrom:\n  organization:\n    exclude: ["999999999999"]\n'
    manifest = load_manifest(write(text), catalog=catalog)
    org = [
        DesiredMember("111111111111", "aws+111@example.com"),  # the administrator itself
        DesiredMember("999999999999", "aws+999@example.com"),  # excluded
        DesiredMember("444444444444", "org-email@example.com"),  # explicit entry wins
        DesiredMember("666666666666", "aws+666@example.com"),
    ]
    state = expand(manifest, organization_accounts=org)
    for key, members in state.shards.items():
        assert "111111111111" not in members
        assert "999999999999" not in members
        assert members["666666666666"] == org[3]
        if "444444444444" in members:
            assert key == ShardKey(GD, "eu-west-1")
            assert members["444444444444"].email == "aws+444@example.com"


def test_organization_accounts_respect_filters(manifest: Manifest) -> None:
    state = expand(
        manifest, services=[GD], organization_accounts=[DesiredMember("666666666666", None)]
    )
    assert set(state.shards) == {ShardKey(GD, "us-east-1"), ShardKey(GD, "eu-west-1")}
    assert all("666666666666" in members for members in state.shards.values())


def _big_manifest(count: int) -> str:
    head = (
        'version: 1\nadministrator:\n  accountId: "111111111111"\nregions: [us-east-1]\n'
        "services:\n  guardduty:\n    mode: organization\nmembers:\n"
    )
    rows = "".join(
        f'  - accountId: "{200000000000 + n}"\n    email: aws+{n}@example.com\n'
        for n in range(count)
    )
    return head + rows


def test_fifty_thousand_members_load_and_expand(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    # Speed is measured by the benchmarks (python -m benchmarks), never asserted here.
    path = write(_big_manifest(50_000))
    manifest = load_manifest(path, catalog=catalog)
    state = expand(manifest)
    members = state.shards[ShardKey(GD, "us-east-1")]
    assert len(members) == 50_000
    assert members["200000049999"].email == "aws+49999@example.com"
