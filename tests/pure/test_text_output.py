"""The text output reads right: masked emails stay apart, stand-ins are named, headings say
what to do.

Aspects under test (no AWS):
- a masked email keeps its first character and domain and carries six hex digits of the
  SHA-256 of the whole (case-folded) address: different addresses read differently, the same
  address reads the same, whatever its case;
- the header names the sandbox (or another endpoint) when the run did not talk to AWS;
- a shard whose only findings are blocking drift is headed "needs attention, nothing to apply",
  one with only non-blocking drift "drift to review", never "changes".
"""

from __future__ import annotations

import argparse
import hashlib
import re

import pytest

from reconciler import redact, render, report
from reconciler.model import Mode, Service
from reconciler.pipeline import run
from tests.factories import (
    GD_EAST,
    ObservingPort,
    account,
    desired_members,
    desired_state,
    observed,
)


def _expected(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[0]}***#{hashlib.sha256(address.lower().encode()).hexdigest()[:6]}@{domain}"


def test_masked_emails_differ_where_the_addresses_differ() -> None:
    first, second = "aws+222@example.com", "aws+333@example.com"
    text = redact.mask_emails(f"{first} and {second}")
    assert text == f"{_expected(first)} and {_expected(second)}"
    assert _expected(first) != _expected(second)
    assert "222" not in text
    assert "333" not in text


def test_the_same_address_masks_the_same_whatever_its_case() -> None:
    lower = redact.mask_emails("root+1@example.com")
    upper = redact.mask_emails("ROOT+1@example.com")
    assert lower[1:] == upper[1:]  # only the kept first character follows the case
    assert re.fullmatch(r"r\*\*\*#[0-9a-f]{6}@example\.com", lower)


def test_ten_thousand_addresses_mask_to_nearly_as_many_lines() -> None:
    addresses = [f"aws+{200000000000 + i}@example.com" for i in range(10_000)]
    masked = {redact.mask_emails(a) for a in addresses}
    # Six hex digits: a few shared digests among 10,000 (the account ID tells those apart).
    assert len(masked) > 9_980


def _report(statuses: dict[str, str], mode: Mode = Mode.INVITATION) -> object:
    members = list(statuses)
    desired = desired_state({GD_EAST: desired_members(members)}, modes={Service("guardduty"): mode})
    ports = {GD_EAST: ObservingPort(observed(GD_EAST, statuses))}
    return run(desired, ports, dry_run=True)  # type: ignore[arg-type]


def _heading(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"{GD_EAST.service} ")]
    return line


def test_a_shard_with_only_blocking_drift_is_not_headed_changes() -> None:
    outcome = _report({account(1): "Resigned"})
    text = report.render_text(outcome)  # type: ignore[arg-type]
    heading = _heading(text)
    assert "changes" not in heading
    assert heading.startswith("guardduty us-east-1: needs attention, nothing to apply (")
    assert "  ! resigned" in text


def test_a_shard_with_actions_is_headed_changes_and_a_converged_one_up_to_date() -> None:
    pending = report.render_text(_report({account(1): "Created"}))  # type: ignore[arg-type]
    assert _heading(pending).startswith("guardduty us-east-1: changes (")
    done = report.render_text(  # type: ignore[arg-type]
        _report({account(1): "Enabled"}, Mode.ORGANIZATION)
    )
    assert _heading(done).startswith("guardduty us-east-1: up to date (")


@pytest.mark.parametrize(
    ("sandbox", "endpoint", "expected"),
    [
        ("state.yaml", None, "the local sandbox from state.yaml, not AWS"),
        (None, "http://127.0.0.1:4566", "endpoint http://127.0.0.1:4566, not AWS"),
        (None, None, None),
    ],
)
def test_the_header_names_what_the_run_talked_to(
    monkeypatch: pytest.MonkeyPatch, sandbox: str | None, endpoint: str | None, expected: str | None
) -> None:
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    target = render.target(argparse.Namespace(sandbox=sandbox))
    assert target == expected
    header = report.render_text(_report({account(1): "Enabled"}), target=target).splitlines()[0]  # type: ignore[arg-type]
    assert header.endswith(f"; {expected})" if expected else "; dry run, nothing will be changed)")


def test_masking_twice_changes_nothing() -> None:
    once = redact.mask_emails("failed for aws+222@example.com; retry")
    assert redact.mask_emails(once) == once
    assert redact.clean(once) == once
