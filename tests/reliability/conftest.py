"""The reliability suites' numbers: collected by the tests, printed at the end of the run.

Each suite records what it measured (k values tried, faults injected, retries, manifests
rejected, the slowest rejection) with :func:`report`; pytest prints them in a "reliability"
section of its terminal summary, and writes them as JSON to ``$RELIABILITY_REPORT`` when that
is set. They are reported, never asserted on when they are times (no timing assertions).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import pytest

_LINES: list[tuple[str, str, dict[str, Any]]] = []
_LOCK = threading.Lock()


def report(suite: str, line: str, **numbers: Any) -> None:
    """Record one summary line (and its numbers) for the end-of-run summary."""
    with _LOCK:
        _LINES.append((suite, line, numbers))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    with _LOCK:
        lines = list(_LINES)
    if not lines:
        return
    terminalreporter.section("reliability")
    for suite, line, _ in lines:
        terminalreporter.write_line(f"{suite}: {line}")
    target = os.environ.get("RELIABILITY_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(
                [{"suite": s, "line": line, **numbers} for s, line, numbers in lines],
                handle,
                indent=2,
            )


@pytest.fixture
def reliability_report() -> Any:
    return report
