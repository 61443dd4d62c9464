"""``reconcile`` end to end against the sandbox, counted in its calls log.

Aspects under test:
- exit codes: 2 for a dry-run with pending changes (--detailed-exitcode), 0 for an apply that
  converges, 0 for a rerun with nothing to do, 1 for a blocked shard or an unconverged
  account, 3 for an invalid manifest or invocation (with zero AWS calls);
- the exact calls of an onboarding run, per shard: the converged-run reads, ⌈k/50⌉
  CreateMembers, ⌈k/50⌉ GetMembers (and ⌈k/50⌉ InviteMembers in invitation mode);
- a dry-run and a rerun make zero mutating calls;
- stdout carries only the plan (valid JSON with --output json); logs go to stderr;
- throttling storms and injected 500s still converge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from tests.cli.conftest import ADMIN, EXTERNAL, Bed, manifest, org_account, world

MEMBERS = [org_account(i) for i in range(6)]


def test_dry_run_then_apply_then_rerun(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))

    preview = bed.run("--manifest", path, "--dry-run", "--detailed-exitcode")
    assert preview.code == 2
    assert preview.count(mutating=True) == 0
    assert preview.stdout.count("+ create") == 6 * 4
    assert "Changes pending" in preview.stdout

    applied = bed.run("--manifest", path, "--output", "json")
    assert applied.code == 0, applied.stdout + applied.stderr
    document = applied.json()
    assert document["summary"]["status"] == "converged"
    assert document["summary"]["converged"] == 24
    assert {r["outcome"] for r in document["results"]} == {"converged"}
    assert applied.by_operation() == {
        ("sts", "GetCallerIdentity"): 1,
        ("guardduty", "ListDetectors"): 2,
        ("guardduty", "GetDetector"): 2,
        ("guardduty", "ListMembers"): 2,
        ("guardduty", "CreateMembers"): 2,
        ("guardduty", "GetMembers"): 2,
        ("securityhub", "DescribeHub"): 2,
        ("securityhub", "ListMembers"): 2,
        ("securityhub", "CreateMembers"): 2,
        ("securityhub", "GetMembers"): 2,
    }

    rerun = bed.run("--manifest", path, "--dry-run", "--detailed-exitcode")
    assert rerun.code == 0
    assert rerun.count(mutating=True) == 0
    assert "Everything up to date." in rerun.stdout

    again = bed.run("--manifest", path)
    assert again.code == 0
    assert again.count(mutating=True) == 0


@pytest.mark.parametrize("members", [1, 50, 51, 120])
def test_onboarding_calls_match_the_bound(make_bed: Callable[..., Bed], members: int) -> None:
    bed = make_bed(world(org_accounts=members, regions=("us-east-1",)))
    ids = [org_account(i) for i in range(members)]
    path = bed.write_manifest(manifest(ids, regions=["us-east-1"], securityhub=None))
    result = bed.run("--manifest", path)
    assert result.code == 0, result.stdout + result.stderr
    batches = math.ceil(members / 50)
    assert result.by_operation() == {
        ("sts", "GetCallerIdentity"): 1,
        ("guardduty", "ListDetectors"): 1,
        ("guardduty", "GetDetector"): 1,
        ("guardduty", "ListMembers"): 1,
        ("guardduty", "CreateMembers"): batches,
        ("guardduty", "GetMembers"): batches,
    }
    accounts_per_create = [c["accounts"] for c in result.calls if c["operation"] == "CreateMembers"]
    assert all(1 <= n <= 50 for n in accounts_per_create)
    assert sum(accounts_per_create) == members

    converged = bed.run("--manifest", path)
    assert converged.count("ListMembers") == max(1, math.ceil(members / 50))
    assert converged.count(mutating=True) == 0


def test_a_shard_without_detector_or_hub_is_blocked(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(no_detector=["eu-west-1"], no_hub=["eu-west-1"]))
    path = bed.write_manifest(manifest(MEMBERS))
    result = bed.run("--manifest", path, "--output", "json")
    assert result.code == 1
    shards = {(s["service"], s["region"]): s for s in result.json()["shards"]}
    assert shards[("guardduty", "eu-west-1")]["status"] == "blocked"
    assert "GuardDuty is not enabled in eu-west-1" in shards[("guardduty", "eu-west-1")]["reason"]
    assert shards[("securityhub", "eu-west-1")]["status"] == "blocked"
    assert shards[("guardduty", "us-east-1")]["status"] == "ready"
    creates = [c for c in result.calls if c["operation"] == "CreateMembers"]
    assert {c["region"] for c in creates} == {"us-east-1"}
    # The ready shards were still converged.
    assert {r["region"] for r in result.json()["results"]} == {"us-east-1"}


def test_invitation_mode_reports_email_verification_failure(make_bed: Callable[..., Bed]) -> None:
    member = "877777777777"  # outside the organization, like EXTERNAL
    bed = make_bed(world(external=[EXTERNAL, member]))
    path = bed.write_manifest(
        manifest(
            [EXTERNAL, member],
            regions=["us-east-1"],
            guardduty="invitation",
            securityhub="invitation",
            emails={member: "not-the-root@example.com"},
        )
    )
    result = bed.run("--manifest", path, "--output", "json", "--show-emails")
    assert result.code == 1
    outcomes = {(r["service"], r["account_id"]): r for r in result.json()["results"]}
    assert outcomes[("guardduty", EXTERNAL)]["outcome"] == "converged"
    assert outcomes[("guardduty", EXTERNAL)]["status"] == "Invited"
    failed = outcomes[("guardduty", member)]
    assert failed["outcome"] == "failed"
    assert "EmailVerificationFailed" in failed["reason"]
    # Security Hub does not verify the email: both invited.
    assert outcomes[("securityhub", member)]["outcome"] == "converged"
    assert result.count("InviteMembers") == 2

    # The next run does not invite anyone again: no duplicate invitation email.
    rerun = bed.run("--manifest", path, "--output", "json")
    assert rerun.count("InviteMembers") == 0
    assert rerun.code == 1
    kinds = {(d["account_id"], d["kind"]) for d in rerun.json()["drift"]}
    assert (member, "email-verification-failed") in kinds


def test_identity_mismatch_exits_1_and_names_both_accounts(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS, administrator="123456789012"))
    result = bed.run("--manifest", path)
    assert result.code == 1
    assert "111111111111" in result.stderr
    assert "123456789012" in result.stderr
    assert result.by_operation() == {("sts", "GetCallerIdentity"): 1}
    assert result.stdout == ""


def test_invalid_manifest_exits_3_with_one_line_and_no_call(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.tmp / "bad.yaml"
    path.write_text("version: 1\nadministrator:\n  accountId: 111111111111\n")
    result = bed.run("--manifest", path)
    assert result.code == 3
    assert result.calls == []
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["--service", "macie"],
        ["--output", "xml"],
        ["--detailed-exitcode"],
        ["--max-concurrency", "0"],
        ["--rate", "guardduty=fast"],
        ["--region", "ap-south-1"],
    ],
)
def test_invalid_invocation_exits_3(make_bed: Callable[..., Bed], args: list[str]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    result = bed.run("--manifest", path, *args)
    assert result.code == 3
    assert result.calls == []
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_manifest_argument_uses_the_environment(
    make_bed: Callable[..., Bed], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = make_bed()
    assert bed.run("--dry-run").code == 3
    path = bed.write_manifest(manifest(MEMBERS))
    monkeypatch.setenv("RECONCILER_MANIFEST", str(path))
    assert bed.run("--dry-run", "--detailed-exitcode").code == 2


def test_stdout_is_only_the_plan_and_stderr_the_logs(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    result = bed.run("--manifest", path, "--dry-run", "--output", "json", "--log-format", "json")
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert document["dry_run"] is True
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events[-1]["event"] == "run.summary"
    assert events[-1]["exit_code"] == 0
    assert {"shard.observed", "plan.built"} <= {e["event"] for e in events}


def test_filters_limit_the_shards(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    result = bed.run("--manifest", path, "--service", "securityhub", "--region", "eu-west-1")
    assert result.code == 0
    assert {(c["service"], c["region"]) for c in result.calls if c["service"] != "sts"} == {
        ("securityhub", "eu-west-1")
    }


def test_throttling_storm_still_converges(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(org_accounts=60), rate=2.0, burst=2)
    path = bed.write_manifest(manifest([org_account(i) for i in range(60)], regions=["us-east-1"]))
    # Our client bucket is faster than the server's on purpose: the server throttles, botocore
    # retries, and the run still converges.
    result = bed.run(
        "--manifest",
        path,
        "--output",
        "json",
        "--rate",
        "guardduty=20/20",
        "--rate",
        "securityhub=20/20",
    )
    assert result.code == 0, result.stdout
    assert result.json()["summary"]["converged"] == 120
    assert any(c["status"] == 429 for c in result.calls)


def test_injected_server_errors_still_converge(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(org_accounts=60), fault_rate=0.2, seed=7)
    path = bed.write_manifest(manifest([org_account(i) for i in range(60)]))
    result = bed.run("--manifest", path, "--output", "json", "--max-attempts", "10")
    assert result.code == 0, result.stdout
    assert result.json()["summary"]["converged"] == 240
    assert any(c["status"] == 500 for c in result.calls)
    assert result.json()["summary"]["aws_calls"]["retries"] > 0
    assert bed.run("--manifest", path).count(mutating=True) == 0


def test_admin_is_never_reported_as_unmanaged(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    bed.run("--manifest", path)
    result = bed.run("--manifest", path, "--output", "json")
    assert all(d["account_id"] != ADMIN for d in result.json()["drift"])
