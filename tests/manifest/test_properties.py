"""Property tests: valid manifests round-trip through YAML and expand exactly as asked;
the YAML reader agrees with PyYAML on documents both read the same way; the field rules agree
with their published patterns."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.manifest import expand, load_manifest
from reconciler.manifest.models import (
    ACCOUNT_ID_PATTERN,
    EMAIL_MAX,
    EMAIL_MIN,
    EMAIL_PATTERN,
    Member,
    email_problem,
)
from reconciler.manifest.yamlio import parse_yaml
from reconciler.model import RegionCatalog, Service, ShardKey
from reconciler.services import registry

ADMIN = "111111111111"
# Regions offering both services in the aws partition (checked by a test below).
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
SERVICES = ["guardduty", "securityhub"]

account_ids = st.from_regex(r"\A[0-9]{12}\Z").filter(lambda a: a != ADMIN)
_local = st.text(alphabet=string.ascii_letters + string.digits + "+_-", min_size=1, max_size=20)
_label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
emails = st.builds(lambda local, a, b: f"{local}@{a}.{b}", _local, _label, _label).filter(
    lambda e: EMAIL_MIN <= len(e) <= EMAIL_MAX
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=4, unique=True))
    services = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True))
    service_block: dict[str, Any] = {}
    for service in services:
        mode = draw(st.sampled_from(["organization", "invitation"]))
        block: dict[str, Any] = {"mode": mode}
        if mode == "invitation" and draw(st.booleans()):
            invitation: dict[str, Any] = {"reinvite": draw(st.booleans())}
            if service == "guardduty" and draw(st.booleans()):
                invitation["message"] = draw(st.text(string.printable.strip(), max_size=30))
                invitation["disableEmailNotification"] = draw(st.booleans())
            if draw(st.booleans()):
                invitation["accept"] = {"roleName": "OrganizationAccountAccessRole"}
            block["invitation"] = invitation
        service_block[service] = block
    ids = draw(st.lists(account_ids, max_size=15, unique=True))
    members = []
    used_emails: set[str] = set()  # root emails are unique, ignoring case
    for account_id in ids:
        entry: dict[str, Any] = {"accountId": account_id}
        if draw(st.booleans()):
            entry["services"] = draw(
                st.lists(st.sampled_from(services), min_size=1, max_size=2, unique=True)
            )
        if draw(st.booleans()):
            entry["regions"] = draw(
                st.lists(st.sampled_from(regions), min_size=1, max_size=4, unique=True)
            )
        needs_email = "guardduty" in entry.get("services", services)
        if needs_email or draw(st.booleans()):
            entry["email"] = draw(emails.filter(lambda e: e.lower() not in used_emails))
            used_emails.add(entry["email"].lower())
        members.append(entry)
    document: dict[str, Any] = {
        "version": 1,
        "administrator": {"accountId": ADMIN},
        "regions": regions,
        "services": service_block,
        "members": members,
    }
    if draw(st.booleans()):
        document["prune"] = {
            "enabled": draw(st.booleans()),
            "maxDeletions": draw(st.integers(0, 1000)),
            "protectedAccounts": draw(st.lists(account_ids, max_size=3, unique=True)),
        }
    return document


class _QuotingDumper(yaml.SafeDumper):
    """Quotes every string that the manifest reader would not read back as that string.

    PyYAML decides by YAML 1.1 rules, so it writes 0189 or 1e3 unquoted; YAML 1.2 tools (and
    the manifest reader) read those as numbers.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    try:
        plain_ok = parse_yaml(f"k: {value}\n", "probe") == {"k": value}
    except Exception:
        plain_ok = False
    style = None if plain_ok else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_QuotingDumper.add_representer(str, _represent_str)


def dump(document: dict[str, Any], style: str) -> str:
    if style == "json":
        return json.dumps(document, indent=1)
    return yaml.dump(
        document, Dumper=_QuotingDumper, default_flow_style=style == "flow", sort_keys=False
    )


def test_property_regions_offer_both_services(catalog: RegionCatalog) -> None:
    assert all(catalog.offers(s, r) for s in registry.NAMES for r in REGIONS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=manifests(), style=st.sampled_from(["block", "flow", "json"]))
def test_valid_manifests_round_trip_and_expand_as_asked(
    document: dict[str, Any], style: str, tmp_path_factory: Any, catalog: RegionCatalog
) -> None:
    path = Path(tmp_path_factory.mktemp("prop")) / "manifest.yaml"
    path.write_text(dump(document, style))
    manifest = load_manifest(path, catalog=catalog)
    state = expand(manifest)
    top_services = [Service(s) for s in document["services"]]
    expected: dict[ShardKey, dict[str, str | None]] = {
        ShardKey(s, r): {} for s in top_services for r in document["regions"]
    }
    for entry in document["members"]:
        for service in entry.get("services", document["services"]):
            for region in entry.get("regions", document["regions"]):
                expected[ShardKey(Service(service), region)][entry["accountId"]] = entry.get(
                    "email"
                )
    actual = {
        key: {account: member.email for account, member in members.items()}
        for key, members in state.shards.items()
    }
    assert actual == expected
    prune = document.get("prune", {})
    assert manifest.prune.max_deletions == prune.get("maxDeletions", 10)


_scalars = st.one_of(
    st.text(max_size=20).filter(lambda s: "\x85" not in s),
    st.integers(-(10**15), 10**15),
    st.booleans(),
)
_keys = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
_data = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(_keys, _data, min_size=1, max_size=5), flow=st.booleans())
def test_reader_matches_pyyaml_on_unambiguous_documents(data: dict[str, Any], flow: bool) -> None:
    text = yaml.dump(data, Dumper=_QuotingDumper, default_flow_style=flow, allow_unicode=True)
    assert parse_yaml(text, "x.yaml") == data
    assert yaml.safe_load(text) == data


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=70),
        emails,
        emails.map(lambda e: e + "\n"),
        st.from_regex(r"\A[ -~]{1,20}@[ -~]{1,20}\Z"),
    )
)
def test_email_rules_agree_with_the_published_pattern(value: str) -> None:
    by_pattern = EMAIL_MIN <= len(value) <= EMAIL_MAX and re.fullmatch(EMAIL_PATTERN, value)
    assert (email_problem(value) is None) == bool(by_pattern)
    try:
        Member.model_validate({"accountId": "222222222222", "email": value})
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == bool(by_pattern)


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(max_size=14), st.from_regex(r"\A[0-9]{10,14}\n?\Z")))
def test_account_id_rule_is_twelve_ascii_digits(value: str) -> None:
    try:
        Member.model_validate({"accountId": value})
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == bool(re.fullmatch(r"[0-9]{12}", value))
    # pydantic runs the pattern with Rust's regex, where $ is the very end; Python's re (and
    # so jsonschema) would also let a final newline through.
    assert accepted == bool(re.fullmatch(ACCOUNT_ID_PATTERN.rstrip("$"), value))
