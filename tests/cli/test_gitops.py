"""GitOps and operations end to end against the sandbox.

Aspects under test:
- saved plans: --dry-run --out writes a plan; --plan applies exactly its actions; a plan whose
  members changed, or whose manifest changed, is refused with exit 1 and no mutating call,
  saying what changed (field by field: a member that appeared, a status, an email, masked
  unless --show-emails); an already-applied plan is a no-op with exit 0;
- the JSON output validates against the published schema (schemas/plan.schema.json), for a
  dry run, an apply and a failing run;
- markdown output: the summary table, the actions, collapsible lists, the drift; it is also
  appended to $GITHUB_STEP_SUMMARY under GitHub Actions; text colours only when asked;
- --validate: exit 0 or 3 with no AWS call;
- --iam-policy: covers exactly the operations a run calls; --read-only covers what a dry run
  calls and no mutating action;
- metrics: the textfile (parsed with prometheus-client's own parser) carries the numbers,
  is replaced atomically, and keeps the last success across a failed run; the Pushgateway
  receives a POST;
- progress: periodic JSON events in JSON log mode, never on stdout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from reconciler.aws.registry import OPERATIONS
from tests.cli.conftest import EXTERNAL, Bed, manifest, masked_email, org_account, root_email, world

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text())
MEMBERS = [org_account(i) for i in range(6)]


def test_saved_plan_is_applied_exactly_then_is_a_no_op(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    plan_file = bed.tmp / "plan.json"
    preview = bed.run("--manifest", path, "--dry-run", "--out", plan_file, "--output", "json")
    assert preview.code == 0
    assert preview.count(mutating=True) == 0
    saved = json.loads(plan_file.read_text())
    assert saved["format"] == "reconciler-plan"
    planned = [
        (a["service"], a["region"], a["operation"], a["account_ids"])
        for a in preview.json()["actions"]
    ]
    assert [
        (a["service"], a["region"], a["operation"], [m["account_id"] for m in a["members"]])
        for a in saved["actions"]
    ] == planned

    applied = bed.run("--plan", plan_file, "--output", "json")
    assert applied.code == 0, applied.stdout + applied.stderr
    mutating = [
        (c["service"], c["region"], c["operation"], c["accounts"])
        for c in applied.calls
        if c["mutating"]
    ]
    assert sorted(mutating) == sorted((s, r, o, len(ids)) for s, r, o, ids in planned)

    again = bed.run("--plan", plan_file)
    assert again.code == 0
    assert again.count(mutating=True) == 0
    assert "Everything up to date." in again.stdout


def test_saved_plan_is_refused_when_its_members_changed(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS, regions=["us-east-1"], securityhub=None))
    plan_file = bed.tmp / "plan.json"
    assert bed.run("--manifest", path, "--dry-run", "--out", plan_file).code == 0
    # Someone adds one of the planned members by hand in the meantime.
    bed.sandbox.state.add_members(
        "111111111111",
        "us-east-1",
        "guardduty",
        [
            {
                "accountId": MEMBERS[0],
                "email": "x@example.com",
                "status": "Enabled",
                "type": "organization",
            }
        ],
    )
    refused = bed.run("--plan", plan_file)
    assert refused.code == 1
    assert refused.count(mutating=True) == 0
    assert refused.stderr.splitlines()[-1] == (
        "reconcile: error: saved plan refused, nothing applied: changed since the plan was made: "
        f"guardduty us-east-1 create {MEMBERS[0]}: member appeared (status Enabled); "
        "make a new plan"
    )


def test_a_refused_plan_names_each_changed_field(make_bed: Callable[..., Bed]) -> None:
    other = "777777777777"
    bed = make_bed(world(external=[EXTERNAL, other]))
    bed.sandbox.state.add_members(
        "111111111111",
        "us-east-1",
        "guardduty",
        [{"accountId": EXTERNAL, "email": root_email(EXTERNAL), "status": "Created"}],
    )
    data = manifest(
        [EXTERNAL, other], regions=["us-east-1"], guardduty="invitation", securityhub=None
    )
    path = bed.write_manifest(data)
    plan_file = bed.tmp / "plan.json"
    assert bed.run("--manifest", path, "--dry-run", "--out", plan_file).code == 0
    # Someone recreates the member with another address and invites it, through the API; the
    # address is not the account's, so the invitation fails verification.
    guardduty = boto3.client("guardduty", region_name="us-east-1")
    detector = guardduty.list_detectors()["DetectorIds"][0]
    guardduty.delete_members(DetectorId=detector, AccountIds=[EXTERNAL])
    guardduty.create_members(
        DetectorId=detector, AccountDetails=[{"AccountId": EXTERNAL, "Email": "Other@example.com"}]
    )
    guardduty.invite_members(DetectorId=detector, AccountIds=[EXTERNAL])

    masked = bed.run("--plan", plan_file)
    assert masked.code == 1
    assert masked.count(mutating=True) == 0
    assert masked.stderr.splitlines()[-1] == (
        "reconcile: error: saved plan refused, nothing applied: changed since the plan was made: "
        f"guardduty us-east-1 invite {EXTERNAL}: status Created → EmailVerificationFailed; "
        f"guardduty us-east-1 invite {EXTERNAL}: email {masked_email(root_email(EXTERNAL))} → "
        f"{masked_email('other@example.com')}; "
        "make a new plan"
    )
    shown = bed.run("--plan", plan_file, "--show-emails")
    assert shown.code == 1
    assert (
        f"invite {EXTERNAL}: email root+{EXTERNAL}@example.com → other@example.com;" in shown.stderr
    )


def test_saved_plan_is_refused_when_the_manifest_changed(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    plan_file = bed.tmp / "plan.json"
    assert bed.run("--manifest", path, "--dry-run", "--out", plan_file).code == 0
    bed.write_manifest(manifest(MEMBERS[:3]))
    refused = bed.run("--plan", plan_file)
    assert refused.code == 1
    assert refused.count(mutating=True) == 0
    assert "manifest" in refused.stderr


def test_a_broken_plan_file_is_invalid_input(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    plan_file = bed.tmp / "plan.json"
    plan_file.write_text('{"format": "something-else"}')
    result = bed.run("--plan", plan_file, "--manifest", bed.write_manifest(manifest(MEMBERS)))
    assert result.code == 3
    assert result.calls == []


def test_json_output_validates_against_the_published_schema(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(no_detector=["eu-west-1"]))
    member = "877777777777"
    path = bed.write_manifest(manifest([*MEMBERS, member], emails={member: "wrong@example.com"}))
    for args in (["--dry-run"], [], ["--dry-run"]):
        result = bed.run("--manifest", path, "--output", "json", *args)
        jsonschema.validate(result.json(), SCHEMA)
    # The schema is strict enough to catch a wrong document.
    broken = result.json()
    broken["actions"] = [
        {
            "service": "macie",
            "region": "us-east-1",
            "operation": "X",
            "step": "x",
            "account_ids": [],
        }
    ]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_markdown_output_and_github_step_summary(
    make_bed: Callable[..., Bed], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = make_bed(world(org_accounts=12, no_hub=["eu-west-1"]))
    summary_file = bed.tmp / "summary.md"
    summary_file.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    path = bed.write_manifest(manifest([org_account(i) for i in range(12)]))
    result = bed.run("--manifest", path, "--dry-run", "--output", "markdown", "--detailed-exitcode")
    assert result.code == 1  # a blocked shard
    text = result.stdout
    assert text.startswith("### ❌ reconcile dry run: administrator `111111111111`")
    assert "| service | region | status | desired | in AWS | changes | drift |" in text
    assert "| guardduty | us-east-1 | ready | 12 | 0 | 12 create | 0 |" in text
    assert "**blocked**: Security Hub is not enabled in eu-west-1" in text
    assert "<details><summary>accounts</summary>" in text  # 12 accounts fold away
    assert summary_file.read_text() == "earlier step\n" + text + "\n"


def test_text_colours_only_when_asked() -> None:
    from reconciler import report
    from reconciler.pipeline import run
    from tests.factories import GD_EAST, account, desired_members, desired_state, observed

    class Port:
        key = GD_EAST

        def observe(self) -> Any:
            return observed(GD_EAST)

    outcome = run(
        desired_state({GD_EAST: desired_members([account(1)])}), {GD_EAST: Port()}, dry_run=True
    )  # type: ignore[dict-item]
    plain = report.render_text(outcome)
    coloured = report.render_text(outcome, color=True)
    assert "\033[" not in plain
    assert "\033[32m  + create" in coloured


def test_validate_makes_no_call(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    good = bed.run("--manifest", bed.write_manifest(manifest(MEMBERS)), "--validate")
    assert good.code == 0
    assert "valid: 6 member accounts" in good.stdout
    bad = bed.tmp / "bad.yaml"
    bad.write_text("version: 2\n")
    invalid = bed.run("--manifest", bad, "--validate")
    assert invalid.code == 3
    assert good.calls == []
    assert invalid.calls == []


def test_iam_policy_covers_exactly_what_runs_call(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(external=[EXTERNAL]))
    data = manifest(
        [EXTERNAL], regions=["us-east-1"], guardduty="invitation", securityhub="invitation"
    )
    for service in ("guardduty", "securityhub"):
        data["services"][service]["invitation"] = {
            "accept": {"roleName": "OrganizationAccountAccessRole"}
        }
    path = bed.write_manifest(data)

    def actions(policy_run: Any) -> set[str]:
        return {a for statement in policy_run.json()["Statement"] for a in statement["Action"]}

    full = actions(bed.run("--iam-policy", "--manifest", path))
    read_only = actions(bed.run("--iam-policy", "--read-only", "--manifest", path))
    member = actions(bed.run("--iam-policy", "member", "--manifest", path))
    assert read_only < full
    assert all(
        not OPERATIONS.lookup(*a.split(":")).mutating for a in read_only if not a.startswith("sts")
    )  # type: ignore[union-attr]

    dry = bed.run("--manifest", path, "--dry-run")
    applied = bed.run("--manifest", path)
    assert applied.code == 0, applied.stdout
    admin_calls = {
        f"{c['service']}:{c['operation']}" for c in dry.calls if c["account"] == "111111111111"
    }
    admin_calls -= {"sts:GetCallerIdentity"}  # needs no permission
    assert admin_calls <= read_only
    applied_admin = {
        f"{c['service']}:{c['operation']}" for c in applied.calls if c["account"] == "111111111111"
    }
    assert applied_admin - {"sts:GetCallerIdentity"} <= full
    member_calls = {
        f"{c['service']}:{c['operation']}" for c in applied.calls if c["account"] == EXTERNAL
    }
    assert member_calls <= member
    policy = bed.run("--iam-policy", "--manifest", path).json()
    assume = [s for s in policy["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert assume[0]["Resource"] == ["arn:aws:iam::*:role/OrganizationAccountAccessRole"]


def _metrics(path: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_metrics_file_of_an_apply_and_of_a_failed_run(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    metrics_file = bed.tmp / "reconciler.prom"
    path = bed.write_manifest(manifest(MEMBERS, regions=["us-east-1"]))
    assert bed.run("--manifest", path, "--metrics-file", metrics_file).code == 0
    found = _metrics(metrics_file)
    desired = {
        (labels["service"], labels["region"]): value
        for labels, value in found["reconciler_desired_members"]
    }
    assert desired == {("guardduty", "us-east-1"): 6, ("securityhub", "us-east-1"): 6}
    converged = {
        labels["service"]: value for labels, value in found["reconciler_converged_members"]
    }
    assert converged == {"guardduty": 6, "securityhub": 6}
    applied = [
        v for labels, v in found["reconciler_account_changes"] if labels["outcome"] == "applied"
    ]
    assert sum(applied) == 12
    assert found["reconciler_exit_code"] == [({}, 0.0)]
    last_success = found["reconciler_last_success_timestamp_seconds"][0][1]
    calls = {labels["operation"]: v for labels, v in found["reconciler_aws_calls"]}
    assert calls["guardduty.CreateMembers"] == 1
    assert not list(bed.tmp.glob(".reconciler.prom.*"))  # no temporary file left behind

    # A failing run (a blocked region) keeps the last success and reports exit 1.
    bed.sandbox.state.set_detector("111111111111", "us-east-1", None)
    assert bed.run("--manifest", path, "--metrics-file", metrics_file).code == 1
    found = _metrics(metrics_file)
    assert found["reconciler_exit_code"] == [({}, 1.0)]
    assert found["reconciler_last_success_timestamp_seconds"][0][1] == last_success
    blocked = {labels["service"]: value for labels, value in found["reconciler_shard_blocked"]}
    assert blocked == {"guardduty": 1.0, "securityhub": 0.0}


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(("POST", self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.do_POST()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    _Gateway.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_metrics_are_pushed_to_a_pushgateway(make_bed: Callable[..., Bed], gateway: str) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    assert bed.run("--manifest", path, "--dry-run", "--pushgateway", gateway).code == 0
    [(method, url, body)] = _Gateway.received
    assert method == "POST"
    assert url == "/metrics/job/reconciler/manifest/manifest.yaml"
    assert b"reconciler_desired_members{" in body
    assert b"reconciler_dry_run 1.0" in body


def test_progress_events_in_json_log_mode(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed(world(org_accounts=60))
    path = bed.write_manifest(manifest([org_account(i) for i in range(60)], regions=["us-east-1"]))
    result = bed.run("--manifest", path, "--log-format", "json", "--output", "json")
    assert result.code == 0
    events = [json.loads(line) for line in result.stderr.splitlines()]
    final = [e for e in events if e["event"] == "progress" and e.get("final")]
    assert final == [{**final[0], "done": 120, "total": 120}]
    assert '"event": "progress"' not in result.stdout
    quiet = bed.run("--manifest", path, "--log-format", "json", "--no-progress")
    assert not [line for line in quiet.stderr.splitlines() if '"progress"' in line]


def test_event_progress_is_throttled() -> None:
    from reconciler.progress import EventProgress
    from tests.factories import GD_EAST

    now = [0.0]
    sink = EventProgress(interval=5.0, clock=lambda: now[0])
    emitted: list[dict[str, Any]] = []
    import structlog

    with structlog.testing.capture_logs() as logs:
        sink.start({GD_EAST: 100})
        for _ in range(10):
            now[0] += 1.0
            sink.advance(GD_EAST, 10)
        sink.finish()
    emitted = [entry for entry in logs if entry["event"] == "progress"]
    assert [(e["done"], e.get("final", False)) for e in emitted] == [
        (50, False),
        (100, False),
        (100, True),
    ]


def test_example_manifest_has_the_schema_line() -> None:
    example = Path(__file__).parents[2] / "manifests" / "example.yaml"
    first = example.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/manifest.schema.json"
    assert yaml.safe_load(example.read_text())["version"] == 1
