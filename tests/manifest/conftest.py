"""Shared fixtures of the manifest tests: the real region catalog and a manifest writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.aws.regions import load_region_catalog
from reconciler.model import RegionCatalog

#: A small valid manifest; the rule tests change one thing in it at a time.
BASE = """\
version: 1
administrator:
  accountId: "111111111111"
regions: [us-east-1, eu-west-1]
services:
  guardduty:
    mode: organization
  securityhub:
    mode: organization
members:
  - accountId: "222222222222"
    email: aws+222@example.com
  - accountId: "333333333333"
    email: aws+333@example.com
"""

WriteManifest = Callable[..., Path]


@pytest.fixture(scope="session")
def catalog() -> RegionCatalog:
    return load_region_catalog()


@pytest.fixture
def write(tmp_path: Path) -> WriteManifest:
    """Write text (or bytes) to ``tmp_path/name`` and return the path."""

    def _write(content: str | bytes, name: str = "manifest.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
