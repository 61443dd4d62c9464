"""The coverage grid and its page's data, without a browser (tests/browser opens the page).

Aspects under test (no AWS):
- each cell's status: converged (a member, nothing to do), pending (an action: its step as the
  reason), blocked (the shard's reason; or blocking drift), unmanaged, failed and converged
  after an apply (the verified result wins over the plan);
- the page's data decodes back to the grid: every shard's cell string has one fixed-width
  base-36 index per account into the table of distinct (status, reason) pairs;
- text from AWS cannot end the page's script: "</script>" in a reason is escaped;
- emails in reasons are masked unless asked otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from reconciler import coverage
from reconciler.model import Mode, Service, ShardObservation
from reconciler.pipeline import run
from reconciler.verify import AccountResult, Outcome
from tests.factories import (
    GD_EAST,
    SH_EAST,
    ObservingPort,
    account,
    desired_members,
    desired_state,
    observed,
)


def _report(blocked_reason: str = "Security Hub is not enabled") -> object:
    ids = [account(i) for i in range(4)]
    desired = desired_state(
        {GD_EAST: desired_members(ids[:3]), SH_EAST: desired_members(ids[:2])},
        modes={Service("guardduty"): Mode.INVITATION, Service("securityhub"): Mode.ORGANIZATION},
    )
    # account 0: a member; 1: missing (create); 2: resigned (blocking); 3: not in the manifest.
    gd = observed(GD_EAST, {ids[0]: "Enabled", ids[2]: "Resigned", ids[3]: "Enabled"})
    sh = ShardObservation(SH_EAST, ready=False, reason=blocked_reason)
    return run(desired, {GD_EAST: ObservingPort(gd), SH_EAST: ObservingPort(sh)}, dry_run=True)  # type: ignore[arg-type]


def test_each_cell_has_its_status_and_reason() -> None:
    grid = coverage.grid(_report())  # type: ignore[arg-type]
    gd, sh = grid.cells[GD_EAST], grid.cells[SH_EAST]
    assert gd[account(0)] == ("converged", "")
    assert gd[account(1)] == ("pending", "planned: create")
    assert gd[account(2)][0] == "blocked"
    assert gd[account(2)][1].startswith("resigned: ")
    assert gd[account(3)][0] == "unmanaged"
    assert sh == {
        account(0): ("blocked", "Security Hub is not enabled"),
        account(1): ("blocked", "Security Hub is not enabled"),
    }
    assert grid.accounts == tuple(account(i) for i in range(4))


def test_after_an_apply_the_verified_result_wins() -> None:
    report = _report()
    results = (
        AccountResult(GD_EAST, account(1), Outcome.FAILED, "AccessDenied for a@example.com", None),
    )
    applied = replace(report, dry_run=False, results=results)  # type: ignore[type-var]
    grid = coverage.grid(applied)  # type: ignore[arg-type]
    status, reason = grid.cells[GD_EAST][account(1)]
    assert status == "failed"
    assert "a@example.com" not in reason
    assert re.search(r"a\*\*\*#[0-9a-f]{6}@example\.com", reason)
    converged = replace(
        applied, results=(AccountResult(GD_EAST, account(1), Outcome.CONVERGED, "", "Enabled"),)
    )
    assert coverage.grid(converged).cells[GD_EAST][account(1)] == ("converged", "")  # type: ignore[arg-type]


def test_the_page_data_decodes_back_to_the_grid() -> None:
    report = _report()
    data = coverage.payload(report)  # type: ignore[arg-type]
    grid = coverage.grid(report)  # type: ignore[arg-type]
    width = data["width"]
    for index, key in enumerate(grid.keys):
        cells = data["cells"][index]  # type: ignore[index]
        assert len(cells) == width * len(grid.accounts)
        for row, acct in enumerate(grid.accounts):
            kind = data["kinds"][int(cells[row * width : (row + 1) * width], 36)]  # type: ignore[index]
            assert tuple(kind) == grid.cells[key].get(acct, ("", ""))
    counts = {(s["service"], s["region"]): s["counts"] for s in data["shards"]}  # type: ignore[attr-defined]
    assert counts[("guardduty", "us-east-1")] == {
        "converged": 1,
        "pending": 1,
        "blocked": 1,
        "unmanaged": 1,
    }


def test_a_reason_cannot_end_the_script() -> None:
    page = coverage.render_html(_report("bad </script><script>alert(1)</script> <!-- x"))  # type: ignore[arg-type]
    (data,) = re.findall(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert "</script" not in data
    assert "<!--" not in data
    decoded = json.loads(data)
    assert any("</script><script>alert(1)" in reason for _, reason in decoded["kinds"])
    assert page.count("<script") == 2
