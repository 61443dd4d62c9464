"""The GitHub Actions example posts a plan of any size as pull-request comments, one per part,
updated in place on the next push rather than added again.

The workflow's ``actions/github-script`` step is run for real, with Node.js, against a stand-in
for the GitHub REST client that keeps the pull request's comments in memory (the script sees
what ``github-script`` gives it: ``github``, ``context``, ``require``). The plan it posts is the
real ``reconcile --output markdown`` rendering of a plan too big for one comment.

Aspects under test:
- a plan in N parts makes N comments, in order, each under GitHub's limit with its footer;
- the next push with a shorter plan updates the first comments in place and deletes the rest;
- a plan that fits is one comment; a comment of the earlier one-comment format is replaced.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import report
from tests.pure.test_markdown_parts import _plan

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "github-actions" / "reconcile.yml"

HARNESS = r"""
const fs = require('fs');
const state = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let next = state.comments.reduce((m, c) => Math.max(m, c.id), 0) + 1;
const calls = [];
const rest = { issues: {
  listComments: async () => state.comments,
  createComment: async ({ body }) => { calls.push(['create', next]); state.comments.push({ id: next++, body, user: { type: 'Bot' } }); },
  updateComment: async ({ comment_id, body }) => { calls.push(['update', comment_id]); state.comments.find(c => c.id === comment_id).body = body; },
  deleteComment: async ({ comment_id }) => { calls.push(['delete', comment_id]); state.comments = state.comments.filter(c => c.id !== comment_id); },
} };
const github = { rest, paginate: async (fn, args) => fn(args) };
const context = { serverUrl: 'https://github.com', runId: 7, repo: { owner: 'o', repo: 'r' },
  issue: { number: 1 }, payload: { pull_request: { head: { sha: 'abcdef0123456' } } } };
const script = fs.readFileSync(process.argv[3], 'utf8');
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'require', script)(github, context, require).then(() => {
  fs.writeFileSync(process.argv[2], JSON.stringify({ comments: state.comments, calls }));
});
"""


def _script() -> str:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (step,) = [s for s in workflow["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", "")]
    return str(step["with"]["script"])


def _post(tmp_path: Path, plan_md: str, comments: list[dict[str, Any]]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js runs the workflow's github-script step (.ci/run installs it)"
    (tmp_path / "plan.md").write_text(plan_md, encoding="utf-8")
    (tmp_path / "script.js").write_text(_script(), encoding="utf-8")
    (tmp_path / "harness.js").write_text(HARNESS, encoding="utf-8")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"comments": comments}), encoding="utf-8")
    done = subprocess.run(
        [node, "harness.js", str(state), "script.js"],
        cwd=tmp_path,
        env={"EXIT_CODE": "2", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(state.read_text(encoding="utf-8")))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.fixture(scope="module")
def big_plan() -> list[str]:
    outcome = _plan(10_000, ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"))
    return report.render_markdown_parts(outcome)  # type: ignore[arg-type]


def test_a_plan_in_parts_is_one_comment_per_part_then_updated_in_place(
    tmp_path: Path, big_plan: list[str]
) -> None:
    assert len(big_plan) >= 3
    first = _post(tmp_path, "\n".join(big_plan), [])
    bodies = [c["body"] for c in first["comments"]]
    assert [call[0] for call in first["calls"]] == ["create"] * len(big_plan)
    for index, body in enumerate(bodies, start=1):
        assert body.startswith(
            f"<!-- reconcile-plan {index} -->\n<!-- reconcile-plan part {index} of"
        )
        assert _units(body) <= report.GITHUB_COMMENT_LIMIT
        assert body.endswith(
            "exit code 2 · [run](https://github.com/o/r/actions/runs/7) · commit abcdef0"
        )
    assert "| service | region | status |" in bodies[0]

    small = report.render_markdown_parts(_plan(30))  # type: ignore[arg-type]
    second = _post(tmp_path, "\n".join(small), first["comments"])
    assert second["calls"][0] == ["update", first["comments"][0]["id"]]
    assert [c[0] for c in second["calls"][1:]] == ["delete"] * (len(big_plan) - 1)
    (only,) = second["comments"]
    assert only["body"].startswith("<!-- reconcile-plan 1 -->\n### ")


def test_a_comment_of_the_one_comment_format_is_replaced(tmp_path: Path) -> None:
    old = {"id": 41, "body": "<!-- reconcile-plan -->\nold plan", "user": {"type": "Bot"}}
    human = {
        "id": 42,
        "body": "<!-- reconcile-plan --> quoted by a person",
        "user": {"type": "User"},
    }
    small = report.render_markdown_parts(_plan(30))  # type: ignore[arg-type]
    posted = _post(tmp_path, "\n".join(small), [old, human])
    assert posted["calls"][0][0] == "create"
    assert ["delete", 41] in posted["calls"]
    assert {c["id"] for c in posted["comments"]} == {42, 43}
