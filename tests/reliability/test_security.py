"""Security (issue 7, item 4): read-only dry runs, no credential in any output, masked emails,
YAML only through a safe loader.

The crash, fault and hostile-manifest suites already check, for every scenario they run, that
the dry run makes read calls only (against the sandbox's calls log) and that no output line
carries a credential or a full email. This module adds the scenario where credentials are most
at risk: an administrator reached through ``administrator.roleArn`` (every administrator call
signed with an AssumeRole session) and member roles, one of which is refused, run with debug
logs in every output format; proves the leak detector itself finds what it looks for
(``--show-emails``, a planted key); and checks the YAML loading of the whole package, by
reading its source (AST) and by feeding a Python-object tag to both YAML readers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import reconciler
from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import RegionCatalog
from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState, SandboxStateError
from tests.cli.conftest import ADMIN, root_email
from tests.reliability.harness import (
    TRAITS,
    dry_run_problems,
    honesty_problems,
    leaks,
    onboarding_manifest,
    onboarding_world,
    run,
    secrets_of,
    write_yaml,
)

PACKAGE = Path(reconciler.__file__).resolve().parent
ADMIN_ROLE = f"arn:aws:iam::{ADMIN}:role/MembershipReconciler"
DEBUG_JSON = ("--log-level", "debug", "--log-format", "json", "--no-progress")


@pytest.fixture(scope="module")
def roles_world() -> Iterator[tuple[Sandbox, list[str], str]]:
    state, members = onboarding_world(4)
    # The last member only lets another role in: its AssumeRole is refused (AccessDenied).
    refused = members[-1]
    state["accounts"][refused]["roles"] = ["SomebodyElsesRole"]
    with Sandbox(SandboxState.from_dict(state), SandboxOptions(rate=0), port=0) as sandbox:
        yield sandbox, members, refused


def test_no_credential_or_email_in_any_output_with_assumed_roles(
    roles_world: tuple[Sandbox, list[str], str], tmp_path: Path
) -> None:
    sandbox, members, refused = roles_world
    data = onboarding_manifest(members)
    data["administrator"]["roleArn"] = ADMIN_ROLE
    path = write_yaml(tmp_path / "manifest.yaml", data)

    runs = [
        run(sandbox, tmp_path / "dry-text", "--manifest", path, "--dry-run", *DEBUG_JSON),
        run(
            sandbox,
            tmp_path / "dry-md",
            "--manifest",
            path,
            "--dry-run",
            "--output",
            "markdown",
            *DEBUG_JSON,
        ),
        run(sandbox, tmp_path / "apply", "--manifest", path, "--output", "json", *DEBUG_JSON),
        run(sandbox, tmp_path / "again", "--manifest", path, *DEBUG_JSON),
        run(
            sandbox,
            tmp_path / "console",
            "--manifest",
            path,
            "--log-format",
            "console",
            "--log-level",
            "debug",
            "--no-progress",
        ),
    ]
    dry_text, dry_markdown, applied, again, _ = runs
    # The scenario did what it is meant to exercise: every administrator call under an
    # assumed role, member roles assumed, one refused with AWS's error in the output.
    issued = sandbox.issued_credentials
    assert len(issued) >= 1 + len(members) - 1
    # Every service accepted in the member accounts (as them).
    for traits in TRAITS.values():
        accepted = {
            c["account"]
            for c in applied.calls
            if c["service"] == traits.name and c["operation"] in traits.accepts
        }
        assert accepted, traits.name
        assert ADMIN not in accepted, traits.name
    assert applied.code == 1
    assert honesty_problems(applied, sandbox, members) == []
    document = applied.json()
    # Its member side cannot accept, so it is not invited: named as blocking drift.
    reasons = [r["reason"] for r in document["results"] if r["account_id"] == refused]
    reasons += [
        d["detail"] for d in document["drift"] if d["account_id"] == refused and d["blocking"]
    ]
    assert reasons
    assert all("AccessDenied" in reason for reason in reasons), reasons
    for preview in (dry_text, dry_markdown):
        assert dry_run_problems(preview, administrator_role=True) == []
        assert preview.code == 0
    assert again.code == 1

    # Nothing leaked, anywhere: no key id, secret or session token (whole, or a truncated
    # piece), no full email.
    for result in runs:
        debug_events = [line for line in result.stderr.splitlines() if "aws.call" in line]
        assert debug_events, "debug logging was on: every call is logged"
        found = leaks(result.stdout + result.stderr, sandbox, members, emails_masked=True)
        assert found == [], f"{result.args}: {found}"


def test_the_leak_detector_finds_what_it_looks_for(
    roles_world: tuple[Sandbox, list[str], str], tmp_path: Path
) -> None:
    sandbox, members, _ = roles_world
    path = write_yaml(tmp_path / "manifest.yaml", onboarding_manifest(members))
    shown = run(
        sandbox, tmp_path / "shown", "--manifest", path, "--dry-run", "--show-emails", *DEBUG_JSON
    )
    # --show-emails prints them: the detector sees them, so its silence elsewhere means something.
    found = leaks(shown.stdout + shown.stderr, sandbox, members, emails_masked=True)
    assert any(item.startswith("email ") for item in found), found
    assert any(root_email(member) in shown.stdout for member in members)
    # Every kind of credential is looked for, truncated pieces included.
    key_id, secret, token = sandbox.issued_credentials[0]
    for planted in (key_id, secret, token, token[:30], sandbox.credentials[1]):
        assert leaks(f"error: {planted} ...", sandbox, [], emails_masked=True)
    assert len(secrets_of(sandbox)) > 3 * len(sandbox.issued_credentials)


# -- YAML: safe loaders only ----------------------------------------------------------------

UNSAFE_NAMES = frozenset(
    {
        "load",  # only with an explicit safe Loader, checked below
        "load_all",
        "unsafe_load",
        "unsafe_load_all",
        "full_load",
        "full_load_all",
        "Loader",
        "FullLoader",
        "UnsafeLoader",
        "CLoader",
        "CFullLoader",
        "CUnsafeLoader",
        "add_constructor",
        "add_multi_constructor",
        "Constructor",
        "FullConstructor",
        "UnsafeConstructor",
    }
)
SAFE_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})


def yaml_problems(source: str, filename: str) -> tuple[list[str], int]:
    """Unsafe YAML loading in ``source``, and how many uses of the yaml module it has."""
    tree = ast.parse(source, filename)
    aliases = {"yaml"}
    problems: list[str] = []
    uses = 0
    safe_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "yaml"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("yaml"):
            for alias in node.names:
                if alias.name in UNSAFE_NAMES:
                    problems.append(f"{filename}:{node.lineno}: from yaml import {alias.name}")
    # Module-level names bound to a safe loader (`_L = getattr(yaml, "CSafeLoader", ...)`).
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if (
            isinstance(target, ast.Name)
            and value is not None
            and _only_safe_loaders(value, aliases)
        ):
            safe_names.add(target.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in (
            "add_constructor",
            "add_multi_constructor",
        ):
            problems.append(f"{filename}:{node.lineno}: .{node.attr} (a loader's constructors)")
        if isinstance(node, ast.Attribute) and _is_yaml(node.value, aliases):
            uses += 1
            if node.attr in UNSAFE_NAMES - {"load", "load_all"}:
                problems.append(f"{filename}:{node.lineno}: yaml.{node.attr}")
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Name)
                and func.id == "getattr"
                and len(node.args) >= 2
                and _is_yaml(node.args[0], aliases)
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in UNSAFE_NAMES
            ):
                problems.append(f"{filename}:{node.lineno}: getattr(yaml, {node.args[1].value!r})")
            if (
                isinstance(func, ast.Attribute)
                and _is_yaml(func.value, aliases)
                and func.attr in ("load", "load_all")
            ):
                loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
                if loader is None and len(node.args) >= 2:
                    loader = node.args[1]
                if loader is None or not (
                    _only_safe_loaders(loader, aliases)
                    or (isinstance(loader, ast.Name) and loader.id in safe_names)
                ):
                    problems.append(
                        f"{filename}:{node.lineno}: yaml.{func.attr} without a safe Loader"
                    )
    return problems, uses


def _is_yaml(node: ast.AST, aliases: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in aliases


def _only_safe_loaders(node: ast.AST, aliases: set[str]) -> bool:
    """An expression naming only safe loaders: yaml.SafeLoader, getattr(yaml, "CSafeLoader",
    yaml.SafeLoader)..."""
    named = [
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and _is_yaml(n.value, aliases)
    ] + [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    return bool(named) and all(name in SAFE_LOADERS for name in named)


def test_the_package_loads_yaml_only_with_safe_loaders() -> None:
    problems: list[str] = []
    uses = 0
    files = sorted(PACKAGE.rglob("*.py"))
    for path in files:
        found, count = yaml_problems(path.read_text(encoding="utf-8"), str(path))
        problems += found
        uses += count
    assert len(files) > 30
    assert uses >= 4, "the scan found the package's own YAML readers"
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.load(text, Loader=yaml.FullLoader)\n",
        "import yaml\nyaml.load(text, yaml.Loader)\n",
        "import yaml\nyaml.load(text)\n",
        "import yaml as y\ny.unsafe_load(text)\n",
        "import yaml\nyaml.full_load(text)\n",
        "from yaml import Loader\n",
        "from yaml import unsafe_load\n",
        "import yaml\nL = getattr(yaml, 'UnsafeLoader')\n",
        "import yaml\nL = yaml.CLoader\nyaml.load(text, Loader=L)\n",
        "import yaml\nyaml.SafeLoader.add_constructor('!x', f)\n",
    ],
)
def test_the_yaml_scan_catches_unsafe_loading(snippet: str) -> None:
    problems, _ = yaml_problems(snippet, "snippet.py")
    assert problems


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.safe_load(text)\n",
        "import yaml\nyaml.load(text, Loader=yaml.CSafeLoader)\n",
        "import yaml\nL = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\nyaml.load(text, Loader=L)\n",
    ],
)
def test_the_yaml_scan_accepts_safe_loading(snippet: str) -> None:
    assert yaml_problems(snippet, "snippet.py")[0] == []


PAYLOAD = '!!python/object/apply:os.system ["touch {marker}"]'


def test_python_tags_are_refused_not_run(
    tmp_path: Path, catalog_for_security: RegionCatalog
) -> None:
    marker = tmp_path / "executed"
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        f"version: 1\nadministrator:\n  accountId: {PAYLOAD.format(marker=marker)}\n"
    )
    with pytest.raises(ManifestError) as refused:
        load_manifest(manifest, catalog=catalog_for_security)
    assert "tag" in str(refused.value)
    state = tmp_path / "state.yaml"
    state.write_text(f"version: 1\ndefaultAccount: {PAYLOAD.format(marker=marker)}\n")
    with pytest.raises(SandboxStateError):
        SandboxState.load(state)
    assert not marker.exists()


@pytest.fixture(scope="module")
def catalog_for_security() -> RegionCatalog:
    from reconciler.aws.regions import load_region_catalog

    return load_region_catalog()
