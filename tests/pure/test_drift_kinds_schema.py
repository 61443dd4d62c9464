"""The published JSON schema names every kind of drift the differ can report.

``schemas/plan.schema.json`` enumerates ``drift[].kind``; a kind added to :class:`DriftKind`
(``member-cannot-accept``, ``skipped``: issue 13) that the schema does not list would make a
valid run's output fail validation in the consumer's pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.diff import DriftKind

SCHEMA = Path(__file__).parents[2] / "schemas" / "plan.schema.json"


def test_the_schema_lists_every_drift_kind() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    kinds = schema["properties"]["drift"]["items"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(kind.value for kind in DriftKind)
