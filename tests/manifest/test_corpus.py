"""The hostile-manifest corpus (issue 7, item 3): each is refused with one clear line.

Every entry of ``tests/data/bad-manifests/expected.yaml`` must raise ManifestError (never
another exception), with a single-line message naming the expected file, line and field, no
traceback text, and a bounded memory peak. The 50 MB file is generated here, not committed.
"""

from __future__ import annotations

import os
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import ManifestError
from reconciler.manifest import MAX_FILE_BYTES, load_manifest
from reconciler.model import RegionCatalog

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad-manifests"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())
MEMORY_LIMIT = 100 * 1024 * 1024


def refuse(path: Path, catalog: RegionCatalog) -> ManifestError:
    """Load ``path``, which must fail with ManifestError inside the memory bound."""
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError) as info:
            load_manifest(path, catalog=catalog)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{path.name}: peak {peak:,} bytes"
    error = info.value
    message = str(error)
    assert "\n" not in message
    assert "\r" not in message
    assert "Traceback" not in message
    assert "pydantic" not in message.lower()
    assert "validation error" not in message.lower()
    return error


def test_the_corpus_is_large_and_indexed() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.name not in ("expected.yaml", "csv")}
    assert on_disk == set(EXPECTED), "every corpus entry has an expectation, and vice versa"
    assert len(EXPECTED) >= 60


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if (CORPUS / n).is_file()))
def test_marked_line_is_the_expected_line(name: str) -> None:
    # Files mark the line their error is on with `# <-- error`; the index must agree.
    lines = re.split(rb"\r\n|\r|\n", (CORPUS / name).read_bytes())  # YAML's line breaks
    marked = [number for number, line in enumerate(lines, 1) if b"# <-- error" in line]
    if marked:
        assert marked == [EXPECTED[name]["line"]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_manifest_is_refused(name: str, catalog: RegionCatalog) -> None:
    expected = EXPECTED[name]
    path = CORPUS / name
    error = refuse(path, catalog)
    message = str(error)
    assert expected["error"] in message
    named = CORPUS / expected.get("file", name)
    assert os.path.normpath(error.path) == os.path.normpath(named), message
    assert message.startswith(error.path)
    assert error.line == expected["line"], message
    if expected["line"] is not None:
        assert message.startswith(f"{error.path}:{expected['line']}")
    if "field" in expected:
        assert error.field == expected["field"], message
        assert f"field {expected['field']}" in message


def test_a_50_megabyte_file_is_refused_before_it_is_read(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"version: 1\nmembers:\n")
        line = b'  - {accountId: "222222222222", email: aws+222@example.com}\n'
        handle.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert path.stat().st_size > 50 * 1024 * 1024
    error = refuse(path, catalog)
    assert f"may be at most {MAX_FILE_BYTES:,} bytes" in str(error)
    assert error.line is None
