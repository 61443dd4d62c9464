"""The state file's published JSON Schema is current, and agrees with the loader.

``schemas/sandbox-state.schema.json`` is generated from the pydantic models that read state
files (``reconciler_sandbox.statefile``, with each service's section from its module), so the
two cannot drift unless the committed file is stale, which the first test catches.

We test these aspects:
- the committed schema is what ``python -m reconciler_sandbox schema`` prints;
- every ``manifests/*-state.yaml`` validates against it, and loads;
- a state written back after members of every service exist validates too;
- documents the loader refuses (an unknown key, an unquoted id, a bad status) the schema
  refuses as well.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler_sandbox import SandboxState, SandboxStateError, services, statefile
from tests.sandbox.conftest import ADMIN, EXTERNAL, ORG_MEMBERS, REPO, quickstart_state

SCHEMA_FILE = REPO / "schemas" / "sandbox-state.schema.json"
STATE_FILES = sorted((REPO / "manifests").glob("*-state.yaml"))


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_the_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == statefile.render_schema(services.DOCUMENT), (
        "regenerate it: python -m reconciler_sandbox schema > schemas/sandbox-state.schema.json"
    )


def test_the_module_prints_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler_sandbox", "schema"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", STATE_FILES, ids=lambda p: p.name)
def test_the_state_files_of_the_repository_validate(path: Path) -> None:
    assert len(STATE_FILES) >= 2
    text = path.read_text(encoding="utf-8")
    assert (
        text.splitlines()[0]
        == "# yaml-language-server: $schema=../schemas/sandbox-state.schema.json"
    )
    validator().validate(yaml.safe_load(text))
    SandboxState.load(path)


def test_a_state_written_back_validates() -> None:
    state = quickstart_state()
    state.email_verification_reads = 1
    state.quotas["detectiveMembers"] = 1_000
    for service, status in (("guardduty", "Enabled"), ("securityhub", "Invited")):
        state.add_members(ADMIN, "eu-west-1", service, [{"accountId": EXTERNAL, "status": status}])
    state.add_members(
        ADMIN,
        "eu-west-1",
        "detective",
        [
            {"accountId": ORG_MEMBERS[0], "status": "ENABLED", "type": "organization"},
            {
                "accountId": EXTERNAL,
                "email": "aws+888@example.com",
                "status": "ACCEPTED_BUT_DISABLED",
                "disabledReason": "VOLUME_UNKNOWN",
            },
        ],
    )
    written = state.to_dict()
    validator().validate(written)
    assert SandboxState.from_dict(written).to_dict() == written


@pytest.mark.parametrize(
    "change",
    [
        {"acounts": {}},
        {"accounts": {ADMIN: {"regions": {"eu-west-1": {"macie": {}}}}}},
        {"accounts": {ADMIN: {"regions": {"eu-west-1": {"detective": {"graph": "yes"}}}}}},
        {
            "accounts": {
                ADMIN: {
                    "regions": {
                        "eu-west-1": {
                            "detective": {"members": [{"accountId": EXTERNAL, "status": "Enabled"}]}
                        }
                    }
                }
            }
        },
        {"quotas": {"detectiveMembers": -1}},
        {"defaultAccount": "1111"},
    ],
)
def test_what_the_loader_refuses_the_schema_refuses(change: dict[str, Any]) -> None:
    doc: dict[str, Any] = {"version": 1, "defaultAccount": ADMIN, **change}
    with pytest.raises(SandboxStateError):
        SandboxState.from_dict(doc)
    assert not validator().is_valid(doc)
