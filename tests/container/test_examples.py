"""Every file under examples/ parses, holds what it promises, and calls `reconcile` correctly.

The examples are copied into other people's repositories and clusters, so a typo in one is a
broken deployment somewhere else. Each file is parsed (YAML with the safe loader, JSON), the
ECS files are validated against botocore's own service models (what ``--cli-input-json``
accepts), the ConfigMap's manifest is loaded by the real manifest loader, and every
``reconcile`` invocation found in the examples and in the README is parsed by the real
command-line parser (``reconciler.cli.parse_invocation``).
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from reconciler.cli import parse_invocation
from reconciler.errors import UsageError
from tests.container import dockerfile as df

EXAMPLES = df.REPO / "examples"
WORKFLOW = EXAMPLES / "github-actions" / "reconcile.yml"
CRONJOB = EXAMPLES / "kubernetes" / "cronjob.yaml"
CONFIGMAP = EXAMPLES / "kubernetes" / "configmap.yaml"
TASK_DEFINITION = EXAMPLES / "ecs" / "task-definition.json"
SCHEDULE = EXAMPLES / "ecs" / "schedule.json"
# Every page of the documentation site too (docs/, built by mkdocs: tests/docs/test_site.py);
# its pages include README sections, which are checked here through the README.
DOCS = [
    EXAMPLES / "README.md",
    df.REPO / "README.md",
    df.REPO / "CONTRIBUTING.md",
    *sorted((df.REPO / "docs").rglob("*.md")),
]

SHELL_OPERATORS = set("();<>|&")
DOCKER_VALUE_FLAGS = {
    *("-v", "--volume", "-e", "--env", "--env-file", "--name", "-w", "--workdir", "-u"),
    *("--user", "--network", "--mount", "--tmpfs", "--entrypoint", "--platform", "-p"),
}
IMAGE = re.compile(r"^(?:\S+/)?reconciler(?:-[\w-]+)?(?::[\w.-]+)?(?:@sha256:[0-9a-f]+)?$")


def _yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _image_uid() -> int:
    user = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[-1].all("USER")[-1].args
    return int(user.split(":")[0])


# --- every file parses -------------------------------------------------------------------------


def _example_files() -> list[Path]:
    return sorted(path for path in EXAMPLES.rglob("*") if path.is_file())


def test_the_examples_are_all_there() -> None:
    names = {path.relative_to(EXAMPLES).as_posix() for path in _example_files()}
    assert {
        "README.md",
        "github-actions/reconcile.yml",
        "kubernetes/cronjob.yaml",
        "kubernetes/configmap.yaml",
        "ecs/task-definition.json",
        "ecs/schedule.json",
    } <= names


@pytest.mark.parametrize(
    "path", _example_files(), ids=lambda path: path.relative_to(EXAMPLES).as_posix()
)
def test_every_example_file_parses(path: Path) -> None:
    if path.suffix in (".yml", ".yaml"):
        documents = _yaml(path)
        assert documents, f"{path.name} holds no YAML document"
        assert all(isinstance(doc, dict) for doc in documents)
    elif path.suffix == ".json":
        assert isinstance(_json(path), dict)
    elif path.suffix == ".md":
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not re.match(r"^[a-z]+:", target):
                assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
    else:
        pytest.fail(f"{path}: no check knows this kind of file; add one to {Path(__file__).name}")


# --- reconcile invocations ---------------------------------------------------------------------


def _shell_invocations(script: str) -> Iterator[list[str]]:
    """The argument lists of every `reconcile` (or `docker run … reconciler-image`) command."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as exc:  # unbalanced quotes: fine in prose, not around a reconcile
            if "reconcile" in line:
                raise AssertionError(f"cannot split {line!r}: {exc}") from exc
            continue
        command_start = True
        for i, token in enumerate(tokens):
            is_operator = set(token) <= SHELL_OPERATORS
            if command_start and token == "reconcile":
                yield _until_operator(tokens[i + 1 :])
            if command_start and token == "docker" and tokens[i + 1 : i + 2] == ["run"]:
                image = _docker_image_index(tokens[i + 2 :])
                if image is not None:
                    yield _until_operator(tokens[i + 2 + image + 1 :])
            command_start = is_operator


def _docker_image_index(words: list[str]) -> int | None:
    """Index of the image in `docker run`'s words, if it is the reconciler's; else None."""
    takes_value = False
    for j, word in enumerate(words):
        if set(word) <= SHELL_OPERATORS:
            return None
        if takes_value:
            takes_value = False
        elif word in DOCKER_VALUE_FLAGS:
            takes_value = True
        elif not word.startswith("-"):
            return j if IMAGE.match(word) else None
    return None


def _until_operator(tokens: list[str]) -> list[str]:
    args: list[str] = []
    for token in tokens:
        if set(token) <= SHELL_OPERATORS:
            if token[0] in "<>" and args and args[-1].isdigit():
                args.pop()  # the fd of a redirection such as 2>
            break
        args.append(token)
    return args


def _markdown_shell_blocks(text: str) -> Iterator[str]:
    """The bodies of fenced code blocks marked sh, bash or shell, or not marked at all."""
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        fence = re.match(r"^\s*```\s*(\S*)", line)
        if fence and language is None:
            language, body = fence.group(1), []
        elif fence:
            if language in ("", "sh", "bash", "shell"):
                yield "\n".join(body)
            language = None
        elif language is not None:
            body.append(line)


def _workflow_runs() -> Iterator[tuple[str, str, str]]:
    (workflow,) = _yaml(WORKFLOW)
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                yield job_name, step.get("name", ""), step["run"]


def _invocations() -> list[tuple[str, list[str]]]:
    """(where, argv) for every reconcile invocation in the examples and the operations doc."""
    found: list[tuple[str, list[str]]] = []
    for job, step, script in _workflow_runs():
        found += [(f"workflow {job}/{step}", argv) for argv in _shell_invocations(script)]
    for doc in _yaml(CRONJOB):
        if doc["kind"] == "CronJob":
            pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            found += [(f"cronjob {c['name']}", list(c.get("args", []))) for c in pod["containers"]]
    for container in _json(TASK_DEFINITION)["containerDefinitions"]:
        found.append((f"ecs {container['name']}", list(container.get("command", []))))
    for path in DOCS:
        if path.exists():
            for block in _markdown_shell_blocks(path.read_text(encoding="utf-8")):
                found += [(path.name, argv) for argv in _shell_invocations(block)]
    return found


def _parse(argv: list[str]) -> str | None:
    """None if the real parser accepts argv, else its error."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            parse_invocation(argv)
    except UsageError as exc:
        return str(exc)
    except SystemExit as exc:  # --help, --version
        return None if exc.code == 0 else f"exit {exc.code}: {err.getvalue().strip()}"
    return None


def test_the_invocation_finder_finds_what_it_should() -> None:
    script = (
        "set +e\nreconcile --dry-run --out plan.json > plan.md 2>err.log\ncode=$?\n"
        "echo reconcile --not-me && reconcile \\\n  --plan plan.json | tee log\n"
        'docker run --rm -v "$PWD:/config:ro" -e X=1 --read-only reconciler:0.1.0 --validate\n'
        "docker run --rm --name reconciler other/image --not-ours\n"
        "# reconcile --commented-out\n"
    )
    assert list(_shell_invocations(script)) == [
        ["--dry-run", "--out", "plan.json"],
        ["--plan", "plan.json"],
        ["--validate"],
    ]


def test_every_reconcile_invocation_is_accepted_by_the_real_parser() -> None:
    invocations = _invocations()
    places = {where.split()[0] for where, _ in invocations}
    assert {"workflow", "cronjob", "ecs"} <= places
    rejected = [
        f"{where}: reconcile {shlex.join(argv)}: {error}"
        for where, argv in invocations
        if (error := _parse(argv)) is not None
    ]
    assert not rejected, "\n".join(rejected)


def test_the_parser_check_would_catch_a_bad_flag() -> None:
    assert _parse(["--dry-run", "--detailed-exit-code"]) is not None
    assert _parse(["--output", "yaml"]) is not None
    assert _parse(["--dry-run"]) is None


# --- the invocations, run against the sandbox ---------------------------------------------------

SANDBOX_STATE = df.REPO / "manifests" / "sandbox-state.yaml"
EXAMPLE_MANIFEST = df.REPO / "manifests" / "example.yaml"


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from reconciler import cli

    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_workflow_plan_and_apply_steps_work_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The workflow's own two command lines, in order, in one working directory (the artifact
    # carries plan.json from one to the other); the sandbox stands in for AWS.
    (plan,) = [
        argv
        for job, _, run in _workflow_runs()
        if job == "plan"
        for argv in _shell_invocations(run)
    ]
    (apply,) = [
        argv
        for job, _, run in _workflow_runs()
        if job == "apply"
        for argv in _shell_invocations(run)
    ]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_MANIFEST", str(EXAMPLE_MANIFEST))
    sandbox = ["--sandbox", str(SANDBOX_STATE)]

    code, markdown, err = _main([*plan, *sandbox], capsys)
    assert code == 2, f"changes pending against the sandbox's empty membership\n{err}"
    assert "| service | region |" in markdown, "the markdown plan for the PR comment"
    saved = tmp_path / plan[plan.index("--out") + 1]
    assert json.loads(saved.read_text(encoding="utf-8")), "the plan artifact"

    code, report, err = _main([*apply, *sandbox], capsys)
    assert code == 0, f"the reviewed plan applies to an unchanged world\n{report}\n{err}"
    assert "111111111111" in report


def test_the_cronjob_invocation_runs_and_writes_its_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = _k8s()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = list(container["args"])
    at = args.index("--metrics-file") + 1
    metrics = tmp_path / Path(args[at]).name  # the pod's /metrics mount
    args[at] = str(metrics)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_MANIFEST", str(EXAMPLE_MANIFEST))  # the ConfigMap's file

    code, _, err = _main([*args, "--sandbox", str(SANDBOX_STATE)], capsys)
    assert code == 0, err
    text = metrics.read_text(encoding="utf-8")
    assert "# TYPE" in text, "Prometheus text format for the textfile collector"
    assert re.search(r"^reconciler_\w+", text, re.MULTILINE)


# --- GitHub Actions ----------------------------------------------------------------------------


def test_the_workflow_plans_on_pull_requests_and_applies_on_push() -> None:
    (workflow,) = _yaml(WORKFLOW)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {}, "nothing by default; each job asks for what it uses"
    jobs = workflow["jobs"]
    assert set(jobs) == {"plan", "apply"}
    assert "pull_request" in jobs["plan"]["if"]
    assert "push" in jobs["apply"]["if"]

    plan_runs = [
        argv
        for job, _, run in _workflow_runs()
        if job == "plan"
        for argv in _shell_invocations(run)
    ]
    apply_runs = [
        argv
        for job, _, run in _workflow_runs()
        if job == "apply"
        for argv in _shell_invocations(run)
    ]
    assert len(plan_runs) == 1
    assert len(apply_runs) == 1
    (plan,), (apply,) = plan_runs, apply_runs
    assert {"--dry-run", "--detailed-exitcode"} <= set(plan)
    assert plan[plan.index("--output") + 1] == "markdown"
    saved = plan[plan.index("--out") + 1]
    assert "--dry-run" not in apply
    assert apply[apply.index("--plan") + 1] == saved, "apply exactly the plan that was saved"


def test_every_job_assumes_its_role_through_oidc_with_minimal_permissions() -> None:
    (workflow,) = _yaml(WORKFLOW)
    allowed = {"contents", "id-token", "pull-requests", "actions"}
    for name, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert permissions["id-token"] == "write", name
        assert set(permissions) <= allowed, f"{name}: {set(permissions) - allowed}"
        assert permissions["contents"] == "read", name
        steps = job["steps"]
        uses = [step.get("uses", "") for step in steps]
        credentials = [i for i, u in enumerate(uses) if "configure-aws-credentials" in u]
        assert len(credentials) == 1, f"{name} assumes one role"
        role = steps[credentials[0]]["with"]
        assert "role-to-assume" in role
        assert "aws-access-key-id" not in role, "OIDC, no stored keys"
        runs_reconcile = [
            i for i, step in enumerate(steps) if list(_shell_invocations(step.get("run", "")))
        ]
        assert runs_reconcile
        assert min(runs_reconcile) > credentials[0], f"{name}: credentials before reconcile runs"
    assert workflow["jobs"]["plan"]["permissions"].get("pull-requests") == "write", "the comment"


def test_the_apply_job_downloads_the_reviewed_plan_before_applying_it() -> None:
    (workflow,) = _yaml(WORKFLOW)
    steps = workflow["jobs"]["apply"]["steps"]
    download = next(i for i, s in enumerate(steps) if "download-artifact" in s.get("uses", ""))
    apply = next(i for i, s in enumerate(steps) if "--plan" in s.get("run", ""))
    assert download < apply
    assert "run-id" in steps[download]["with"], "the artifact of the pull request's run"
    plan_steps = workflow["jobs"]["plan"]["steps"]
    upload = next(s for s in plan_steps if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == steps[download]["with"]["name"]
    assert "plan.json" in upload["with"]["path"]


def test_every_action_is_pinned_to_a_commit() -> None:
    (workflow,) = _yaml(WORKFLOW)
    uses = [
        step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step
    ]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned"


# --- Kubernetes --------------------------------------------------------------------------------


def _k8s() -> dict[str, dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in _yaml(CRONJOB) + _yaml(CONFIGMAP):
        assert doc["kind"] not in by_kind, f"one {doc['kind']} per example"
        by_kind[doc["kind"]] = doc
    return by_kind


def test_the_cronjob_runs_hourly_one_at_a_time() -> None:
    cronjob = _k8s()["CronJob"]
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    minute, hour, *rest = spec["schedule"].split()
    assert minute.isdigit()
    assert int(minute) < 60
    assert hour == "*"
    assert rest == ["*"] * 3


def test_the_cronjob_runs_non_root_with_a_read_only_root_filesystem() -> None:
    pod = _k8s()["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _image_uid()
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context.get("runAsUser", _image_uid()) == _image_uid()
    assert "command" not in container, "the image's ENTRYPOINT (reconcile) is used"
    resources = container["resources"]
    assert resources["requests"]["cpu"]
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_the_cronjob_reads_the_manifest_from_the_configmap_read_only() -> None:
    kinds = _k8s()
    cronjob, configmap, account = kinds["CronJob"], kinds["ConfigMap"], kinds["ServiceAccount"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["RECONCILER_MANIFEST"] == "/config/manifest.yaml"
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    config = mounts["/config"]
    assert config["readOnly"] is True
    source = volumes[config["name"]]["configMap"]
    assert source["name"] == configmap["metadata"]["name"]
    assert [item["path"] for item in source.get("items", [])] in ([], ["manifest.yaml"])
    assert "manifest.yaml" in configmap["data"]
    assert configmap["metadata"]["namespace"] == cronjob["metadata"]["namespace"]
    # The metrics file goes to a writable mount: the root filesystem is read-only.
    metrics = container["args"][container["args"].index("--metrics-file") + 1]
    directory = str(Path(metrics).parent)
    assert directory in mounts
    assert not mounts[directory].get("readOnly", False)
    # IRSA: the pod's service account carries the role.
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", role)


def test_the_configmap_manifest_is_valid(tmp_path: Path) -> None:
    from reconciler.aws.regions import load_region_catalog
    from reconciler.manifest import load_manifest

    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(_k8s()["ConfigMap"]["data"]["manifest.yaml"], encoding="utf-8")
    loaded = load_manifest(manifest, catalog=load_region_catalog())
    assert loaded.members


# --- Amazon ECS --------------------------------------------------------------------------------


def _validate(service: str, operation: str, params: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model(service)
    validate_parameters(params, model.operation_model(operation).input_shape)


def test_the_ecs_files_are_valid_api_input() -> None:
    # What `aws ecs register-task-definition --cli-input-json` and `aws scheduler
    # create-schedule --cli-input-json` accept: botocore's own models, no call made.
    _validate("ecs", "RegisterTaskDefinition", _json(TASK_DEFINITION))
    _validate("scheduler", "CreateSchedule", _json(SCHEDULE))
    broken = _json(TASK_DEFINITION)
    broken["containerDefinitions"][0]["readOnlyRootFilesystem"] = True  # ECS spells it readonly
    with pytest.raises(ParamValidationError):
        _validate("ecs", "RegisterTaskDefinition", broken)


def test_the_task_definition_runs_non_root_read_only_with_a_task_role() -> None:
    task = _json(TASK_DEFINITION)
    assert "FARGATE" in task["requiresCompatibilities"]
    assert re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", task["taskRoleArn"])
    (container,) = task["containerDefinitions"]
    assert container["readonlyRootFilesystem"] is True
    uid = container["user"].split(":")[0]
    assert uid.isdigit()
    assert int(uid) == _image_uid() != 0
    assert "entryPoint" not in container, "the image's ENTRYPOINT (reconcile) is used"
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["RECONCILER_MANIFEST"] == "/config/manifest.yaml"
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert {"awslogs-group", "awslogs-region"} <= set(container["logConfiguration"]["options"])
    assert container["command"][container["command"].index("--log-format") + 1] == "json"


def test_the_schedule_runs_the_task_hourly() -> None:
    schedule = _json(SCHEDULE)
    expression = schedule["ScheduleExpression"]
    cron = re.fullmatch(r"cron\((\d+) \* \* \* \? \*\)", expression)
    assert expression == "rate(1 hour)" or (cron and int(cron.group(1)) < 60), expression
    ecs = schedule["Target"]["EcsParameters"]
    family = ecs["TaskDefinitionArn"].rsplit("/", 1)[1].split(":")[0]
    assert family == _json(TASK_DEFINITION)["family"]
    assert ecs["TaskCount"] == 1
    assert ecs["LaunchType"] == "FARGATE"
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
