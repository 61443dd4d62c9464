"""Publish the manifest's JSON Schema, generated from the pydantic models.

Editors (the YAML language server behind VS Code, JetBrains, Neovim) complete and check a
manifest whose first line is ``# yaml-language-server: $schema=../schemas/manifest.schema.json``.
The schema is generated from :mod:`reconciler.manifest.models`, the same models that validate
manifests at run time, so the two cannot drift; ``schemas/manifest.schema.json`` is the
committed output, and a test fails when it is not what this module generates. Regenerate it
with::

    python -m reconciler.schema > schemas/manifest.schema.json

Two adjustments make the published schema match what the loader accepts rather than what
pydantic's types allow: optional keys are not nullable (the loader refuses ``key:`` with no
value), and pydantic's generated per-property titles are dropped (they only repeat the key).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from reconciler.manifest.models import ManifestDocument
from reconciler.services import registry

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _NoFieldTitles(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of manifest format version 1, as a dict."""
    schema = ManifestDocument.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_NoFieldTitles
    )
    _drop_null(schema)
    return {
        "$schema": SCHEMA_DIALECT,
        **schema,
        "description": (
            f"Which accounts must be {registry.listed([s.label for s in registry.SPECS])} "
            "members of the administrator account, in every region; read by "
            "`reconcile --manifest`. "
            "Reference: docs/reference/manifest.md."
        ),
    }


def render_manifest_schema() -> str:
    """The schema as committed: two-space indented JSON with a final newline."""
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _drop_null(node: Any) -> None:
    """Turn every ``anyOf: [X, {type: null}]`` (with ``default: null``) into plain X."""
    if isinstance(node, list):
        for item in node:
            _drop_null(item)
        return
    if not isinstance(node, dict):
        return
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1:
            # Keep the property's own keys (description, default...) after the type's.
            merged = {**rest[0], **node}
            node.clear()
            node.update(merged)
        else:
            node["anyOf"] = rest
        if node.get("default", ...) is None:
            del node["default"]
    for value in node.values():
        _drop_null(value)


def main() -> None:
    sys.stdout.write(render_manifest_schema())


if __name__ == "__main__":
    main()
