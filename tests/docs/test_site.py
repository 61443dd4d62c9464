"""The documentation site builds strictly, and its generated references cannot drift.

The site (mkdocs.yml, docs/) is built for real with ``mkdocs build --strict`` (any warning
fails: a page missing from the navigation, a broken anchor, a README section a page names but
the README no longer marks). Then:

- the command-line page lists every option of the real parser, with its help text;
- the manifest page lists every key of the published JSON Schema, down to the services' own
  settings (``services.detective.invitation.accept.roleName``);
- every README section a page includes exists, and each marked section is on some page;
- the README's own ``#anchor`` links are pointed at the page that holds the heading.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.options import build_parser

REPO = Path(__file__).resolve().parents[2]
SNIPPET = re.compile(r'^--8<-- "([\w.]+\.md):([\w-]+)"$', re.MULTILINE)
MARKER = re.compile(r"^<!-- --8<-- \[start:([\w-]+)\] -->$", re.MULTILINE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_the_cli_page_lists_every_option_with_its_help(site: Path) -> None:
    text = _text(site / "reference" / "cli" / "index.html")
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in text, option
        if action.help and action.option_strings != ["-h", "--help"]:
            assert " ".join(action.help.split())[:40] in " ".join(text.split()), action.help


def _schema_paths(schema: dict[str, object]) -> set[str]:
    defs = schema.get("$defs", {})
    found: set[str] = set()

    def resolve(node: dict[str, object]) -> dict[str, object]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            return dict(defs[ref.rsplit("/", 1)[1]])  # type: ignore[index]
        for option in node.get("anyOf", []):  # type: ignore[attr-defined]
            if isinstance(option, dict) and "$ref" in option:
                return resolve(option)
        return node

    def walk(node: dict[str, object], prefix: str, depth: int) -> None:
        node = resolve(node)
        for name, child in node.get("properties", {}).items():  # type: ignore[attr-defined]
            found.add(prefix + name)
            if depth < 6:
                walk(child, f"{prefix}{name}.", depth + 1)

    walk(schema, "", 0)
    return found


def test_the_manifest_page_lists_every_schema_key(site: Path) -> None:
    text = _text(site / "reference" / "manifest" / "index.html")
    schema = json.loads((REPO / "schemas" / "manifest.schema.json").read_text(encoding="utf-8"))
    paths = _schema_paths(schema)
    assert "services.detective.invitation.accept.roleName" in paths
    missing = sorted(path for path in paths if path not in text)
    assert missing == []


def test_every_included_section_exists_and_every_marked_one_is_on_a_page() -> None:
    included: set[tuple[str, str]] = set()
    for page in (REPO / "docs").rglob("*.md"):
        included |= set(SNIPPET.findall(page.read_text(encoding="utf-8")))
    for source, name in included:
        assert f"<!-- --8<-- [start:{name}] -->" in (REPO / source).read_text(encoding="utf-8")
    marked = {("README.md", n) for n in MARKER.findall((REPO / "README.md").read_text())}
    assert marked - included == set()


def test_readme_anchor_links_point_at_the_page_that_holds_them(site: Path) -> None:
    page = (site / "explanation" / "scale" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../reference/manifest/#csv-members"' in page
    assert 'href="#csv-members"' not in page
