"""MkDocs hooks: the pages' README sections and the generated reference tables.

A page line ``--8<-- "README.md:name"`` is replaced by the README's section between its
``[start:name]``/``[end:name]`` markers (the README's introduction and Quickstart are written
once, there), and README-style links (``#anchor``, ``docs/page.md``) are pointed at the page and
heading that hold them on the site.

``<!-- generated: cli-options -->`` becomes a table of every ``reconcile`` option, read from the
parser (:func:`reconciler.options.build_parser`); ``<!-- generated: manifest-keys -->`` a table of
every manifest key, read from the published JSON Schema (``schemas/manifest.schema.json``, which a
test keeps equal to the pydantic models). tests/docs/test_site.py builds the site and checks both.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Any

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_SNIPPET = re.compile(r'^--8<-- "([\w.]+\.md):([\w-]+)"$', re.MULTILINE)
_MARKER = re.compile(r"^<!-- --8<-- \[(start|end):([\w-]+)\] -->$")
_HEADING = re.compile(r"^#{1,6} (.+)$")
_LINK = re.compile(r"\]\(#([^)\s]+)\)")
_DOCS_LINK = re.compile(r"\]\(docs/([^)\s#]+)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a README heading (what the README's own links use)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors() -> dict[str, tuple[str, str]]:
    """GitHub anchor of each heading of the site's pages → (the page, the site's slug).

    The pages' text came from the README, whose links use GitHub's anchors (``#scale-and-speed``)
    and assume one page; here each is pointed at the page and heading that hold it.
    """
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(DOCS.rglob("*.md")):
        page = path.relative_to(DOCS).as_posix()
        text = include_sections(path.read_text(encoding="utf-8"))
        fenced = False
        for line in text.splitlines():
            if line.startswith("```"):
                fenced = not fenced
                continue
            heading = _HEADING.match(line)
            if heading and not fenced:
                title = heading.group(1)
                found.setdefault(github_anchor(title), (page, slugify(title.replace("`", ""), "-")))
    return found


def section(source: str, name: str) -> str:
    """The lines of ``source`` between its ``[start:name]`` and ``[end:name]`` markers."""
    lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
    start = f"<!-- --8<-- [start:{name}] -->"
    end = f"<!-- --8<-- [end:{name}] -->"
    if start not in lines or end not in lines:
        raise ValueError(f"{source} has no section {name!r} (its markers are missing)")
    body = lines[lines.index(start) + 1 : lines.index(end)]
    return "\n".join(line for line in body if not _MARKER.match(line))


def include_sections(markdown: str) -> str:
    """Each ``--8<-- "FILE.md:name"`` line replaced by that section of the file."""
    return _SNIPPET.sub(lambda m: section(m.group(1), m.group(2)), markdown)


def rewrite_links(markdown: str, page_path: str) -> str:
    """README-style links, pointed at the page and heading that hold them on the site:
    ``(#anchor)`` by the heading's GitHub anchor, ``(docs/x.md)`` relative to this page."""
    table = anchors()
    here = posixpath.dirname(page_path) or "."

    def link(match: re.Match[str]) -> str:
        anchor = match.group(1)
        if anchor not in table:
            return match.group(0)
        target, slug = table[anchor]
        if target == page_path:
            return f"](#{slug})"
        return f"]({posixpath.relpath(target, here)}#{slug})"

    markdown = _LINK.sub(link, markdown)
    return _DOCS_LINK.sub(lambda m: f"]({posixpath.relpath(m.group(1), here)}", markdown)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def cli_options() -> str:
    from reconciler.options import build_parser

    rows = ["| option | value | default | what it does |", "|---|---|---|---|"]
    for action in build_parser()._actions:
        if not action.option_strings:
            continue
        value = action.metavar or ("|".join(map(str, action.choices)) if action.choices else "")
        if action.nargs == 0:
            value = ""
        default = action.default
        shown = "" if default in (None, False, [], argparse.SUPPRESS) else f"`{default}`"
        names = ", ".join(f"`{name}`" for name in action.option_strings)
        rows.append(
            f"| {names} | {_cell(f'`{value}`') if value else ''} | {_cell(shown)} "
            f"| {_cell(action.help or '')} |"
        )
    return "\n".join(rows)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(schema["$defs"][ref.rsplit("/", 1)[1]])
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            if isinstance(option, dict) and ("$ref" in option or option.get("type") == "object"):
                return {**_resolve(schema, option), "description": node.get("description", "")}
    return node


def _kind(node: dict[str, Any]) -> str:
    if "type" in node:
        return str(node["type"])
    options = [o.get("type") or o.get("$ref", "").rsplit("/", 1)[-1] for o in node.get("anyOf", [])]
    return " or ".join(str(o) for o in options if o) or ""


def manifest_keys() -> str:
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text(encoding="utf-8"))
    rows = ["| key | type | required | description |", "|---|---|---|---|"]

    def walk(node: dict[str, Any], prefix: str, depth: int) -> None:
        node = _resolve(schema, node)
        required = set(node.get("required", []))
        for name, child in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            description = child.get("description") or _resolve(schema, child).get("description", "")
            rows.append(
                f"| `{path}` | {_cell(_kind(child))} | {'yes' if name in required else ''} "
                f"| {_cell(description)} |"
            )
            if depth < 6:
                walk(child, f"{path}.", depth + 1)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, f"{prefix[:-1]}[].", depth + 1)

    walk(schema, "", 0)
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, **_: object) -> str:
    markdown = rewrite_links(include_sections(markdown), page.file.src_uri)
    if "<!-- generated: cli-options -->" in markdown:
        markdown = markdown.replace("<!-- generated: cli-options -->", cli_options())
    if "<!-- generated: manifest-keys -->" in markdown:
        markdown = markdown.replace("<!-- generated: manifest-keys -->", manifest_keys())
    return markdown
