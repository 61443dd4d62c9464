"""A plan of any size fits in pull-request comments: numbered parts, the summary first.

Aspects under test (no AWS):
- a plan that fits is one part, the same text as ``render_markdown``;
- a plan over GitHub's 65,536-character limit splits into parts that each fit with the
  headroom kept, counted in UTF-16 code units as GitHub counts;
- part 1 holds the headline and the per-shard summary table; every part opens with its marker
  ``<!-- reconcile-plan part K of N -->`` (K = 1..N, N the same in all);
- nothing is lost or repeated: every account of every action appears as often in the parts as
  in the whole comment, and no ``<details>`` block is cut (each part balances them);
- a section cut between parts is headed "(continued)".
"""

from __future__ import annotations

import re

from reconciler import report
from reconciler.model import Mode, Service, ShardKey
from reconciler.pipeline import run
from tests.factories import ObservingPort, account, desired_members, desired_state, observed

MARKER = re.compile(r"^<!-- reconcile-plan part (\d+) of (\d+) -->$", re.MULTILINE)


def _plan(members: int, regions: tuple[str, ...] = ("us-east-1",)) -> object:
    ids = [account(i) for i in range(members)]
    keys = [ShardKey(Service("guardduty"), region) for region in regions]
    desired = desired_state(
        {key: desired_members(ids) for key in keys}, modes={Service("guardduty"): Mode.ORGANIZATION}
    )
    ports = {key: ObservingPort(observed(key, {})) for key in keys}
    return run(desired, ports, dry_run=True)  # type: ignore[arg-type]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_a_plan_that_fits_is_one_part_the_same_as_the_comment() -> None:
    outcome = _plan(30)
    parts = report.render_markdown_parts(outcome)  # type: ignore[arg-type]
    assert parts == [report.render_markdown(outcome)]  # type: ignore[arg-type]
    assert not MARKER.search(parts[0])


def test_ten_thousand_accounts_in_four_regions_split_into_parts_that_fit() -> None:
    outcome = _plan(10_000, ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"))
    whole = report.render_markdown(outcome)  # type: ignore[arg-type]
    assert _units(whole) > report.GITHUB_COMMENT_LIMIT
    parts = report.render_markdown_parts(outcome)  # type: ignore[arg-type]
    count = len(parts)
    assert count > 1
    for index, part in enumerate(parts, start=1):
        assert _units(part) <= report.GITHUB_COMMENT_LIMIT - report.COMMENT_HEADROOM
        assert MARKER.findall(part) == [(str(index), str(count))]
        assert part.startswith(f"<!-- reconcile-plan part {index} of {count} -->\n")
        assert part.count("<details>") == part.count("</details>")
    first = parts[0]
    assert "| service | region | status | desired | in AWS | changes | drift |" in first
    assert first.index("| guardduty | us-east-1 |") < first.index("#### Actions")
    assert all("| service | region | status |" not in part for part in parts[1:])
    assert any("#### Actions (continued)" in part for part in parts[1:])
    for i in (0, 4_321, 9_999):
        needle = f"`{account(i)}`"
        assert sum(part.count(needle) for part in parts) == whole.count(needle) == 4


def test_a_small_limit_makes_many_parts_and_keeps_every_account() -> None:
    outcome = _plan(3_000)
    parts = report.render_markdown_parts(outcome, limit=8_000)  # type: ignore[arg-type]
    assert len(parts) >= 5
    assert all(_units(p) <= 8_000 - report.COMMENT_HEADROOM for p in parts)
    for i in range(3_000):
        assert sum(part.count(f"`{account(i)}`") for part in parts) == 1
    assert all(part.count("<details>") == part.count("</details>") for part in parts)
