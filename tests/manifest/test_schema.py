"""The published JSON Schema is current, and agrees with the loader on the examples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.manifest import expand, load_manifest, models
from reconciler.model import Mode, RegionCatalog, Service
from reconciler.schema import manifest_json_schema, render_manifest_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "manifest.schema.json"
EXAMPLE = ROOT / "manifests" / "example.yaml"
GOOD = sorted((ROOT / "tests" / "data" / "manifests").glob("*.yaml"))


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_manifest_schema(), (
        "regenerate it: python -m reconciler.schema > schemas/manifest.schema.json"
    )


def test_schema_has_no_nullable_keys() -> None:
    # The loader refuses `key:` with no value, so the schema must not allow null either.
    assert '"null"' not in render_manifest_schema()


@pytest.mark.parametrize("path", [EXAMPLE, *GOOD], ids=lambda p: p.name)
def test_examples_validate_against_the_schema(path: Path, catalog: RegionCatalog) -> None:
    validator().validate(yaml.safe_load(path.read_text()))
    load_manifest(path, catalog=catalog)


def test_example_declares_its_schema_on_the_first_line() -> None:
    first = EXAMPLE.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/manifest.schema.json"
    assert (EXAMPLE.parent / "../schemas/manifest.schema.json").resolve() == SCHEMA_FILE


def test_example_is_the_quickstart_world(catalog: RegionCatalog) -> None:
    manifest = load_manifest(EXAMPLE, catalog=catalog)
    assert manifest.administrator_account_id == "111111111111"
    assert manifest.regions == ("us-east-1", "eu-west-1")
    assert {s: v.mode for s, v in manifest.services.items()} == {
        Service("guardduty"): Mode.ORGANIZATION,
        Service("securityhub"): Mode.ORGANIZATION,
        Service("detective"): Mode.ORGANIZATION,
    }
    accounts = [m.account_id for m in manifest.members]
    assert accounts == [str(n) * 12 for n in range(2, 8)]
    assert all(m.email == f"aws+{m.account_id[:3]}@example.com" for m in manifest.members)
    assert "888888888888" in EXAMPLE.read_text()  # the invitation-mode example, commented out
    assert len(expand(manifest).shards) == 6


def test_invitation_example_is_invitation_mode(catalog: RegionCatalog) -> None:
    manifest = load_manifest(ROOT / "tests/data/manifests/invitation.yaml", catalog=catalog)
    assert {v.mode for v in manifest.services.values()} == {Mode.INVITATION}
    assert {m.account_id for m in manifest.members} == {"888888888888", "222222222222"}


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"administrator": {"accountId": 111111111111}},  # an unquoted ID, as YAML reads it
        {"administrator": {"accountId": "11111111111"}},
        {"regions": []},
        {"regions": ["US-EAST-1"]},
        {"services": {}},
        {"services": {"inspector": {"mode": "organization"}}},
        {"services": {"guardduty": {"mode": "delegated"}}},
        {"members": [{"accountId": "222222222222", "email": "not an email"}]},
        {"members": [{"accountId": "222222222222", "mail": "a@example.com"}]},
        {"members": {"csv": ""}},
        {"prune": {"maxDeletions": -1}},
        {"membersFrom": {"organization": {"ous": ["ou-1"]}}},
        {"administrator": {"accountId": "111111111111", "roleArn": "arn:aws:iam::1:user/x"}},
        {"extra": True},
    ],
    ids=repr,
)
def test_schema_refuses_what_the_loader_refuses(change: dict[str, Any]) -> None:
    document = yaml.safe_load(EXAMPLE.read_text()) | change
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(document)


def test_schema_accepts_the_csv_form() -> None:
    document = yaml.safe_load(EXAMPLE.read_text()) | {"members": {"csv": "accounts.csv"}}
    validator().validate(document)


def test_region_pattern_admits_every_catalog_region(catalog: RegionCatalog) -> None:
    pattern = re.compile(models.REGION_PATTERN)
    every = {r for names in catalog.regions_by_partition.values() for r in names}
    assert every
    assert [r for r in sorted(every) if not pattern.fullmatch(r)] == []


def test_email_class_is_printable_ascii_minus_the_forbidden() -> None:
    allowed = {
        c for c in map(chr, range(0x21, 0x7F)) if c not in models.EMAIL_LOCAL_FORBIDDEN | {"@"}
    }
    matched = {
        c for c in map(chr, range(0x300)) if re.fullmatch(f"[{models.EMAIL_LOCAL_CLASS}]", c)
    }
    assert matched == allowed


def test_schema_function_returns_a_fresh_dict() -> None:
    first = manifest_json_schema()
    first["title"] = "changed"
    assert manifest_json_schema()["title"] != "changed"
