"""The Dockerfile's shape, the build context it sees, and the lock file it installs.

What can be checked without a Docker engine: the image is multi-stage, installs the hashed lock
before the source (so the dependency layer is cached), runs as a numeric non-root user, has
``ENTRYPOINT ["reconcile"]`` and ``RECONCILER_MANIFEST``; ``.dockerignore`` sends the builder
what the Dockerfile copies and nothing else of note; the lock pins every runtime dependency of
pyproject.toml, hash-checked. ``test_install.py`` then performs the install steps for real.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.container import dockerfile as df

LOCK = df.REPO / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:\\)?$")


def _stages() -> list[df.Stage]:
    return df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))


def _lock_pins() -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, [sha256 hashes])} from the lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{current} is pinned twice in requirements.lock"
            pins[current] = (match.group(2), [])
            continue
        hashed = re.match(r"^--hash=sha256:([0-9a-f]{64})\s*(?:\\)?$", line)
        assert hashed, f"requirements.lock: unexpected line {line!r}"
        assert current is not None, "requirements.lock: a hash before any requirement"
        pins[current][1].append(hashed.group(1))
    return pins


# --- the Dockerfile ----------------------------------------------------------------------------


def test_the_dockerfile_is_multi_stage_and_the_runtime_stage_takes_only_the_environment() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    build, runtime = stages[0], stages[-1]
    assert build.name, "the build stage is named, for COPY --from"
    copies = [df.parse_copy(ins) for ins in runtime.all("COPY")]
    assert copies, "the runtime stage copies the virtual environment from the build stage"
    assert all(copy.flags.get("from") == build.name for copy in copies), (
        "the runtime stage copies nothing from the build context (no source, no tests)"
    )
    assert runtime.all("RUN"), "the runtime stage creates its user"
    for ins in runtime.all("RUN"):
        assert "pip" not in ins.args, "nothing is installed in the runtime stage"


def test_the_user_is_numeric_and_not_root() -> None:
    users = _stages()[-1].all("USER")
    assert users, "the runtime stage sets USER"
    user = users[-1].args
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user!r} is numeric (runAsNonRoot can only verify a numeric UID)"
    assert int(match.group(1)) != 0
    assert match.group(2) is None or int(match.group(2)) != 0


def test_the_entrypoint_is_reconcile_in_exec_form() -> None:
    entrypoints = _stages()[-1].all("ENTRYPOINT")
    assert entrypoints
    assert df.exec_form(entrypoints[-1]) == ["reconcile"]
    assert not _stages()[-1].all("CMD"), "no default arguments: the manifest comes from the env"


def test_the_runtime_environment_names_the_manifest_and_writes_no_bytecode() -> None:
    env = _stages()[-1].env()
    assert env.get("RECONCILER_MANIFEST") == "/config/manifest.yaml"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    venv_bin = "/opt/reconciler/bin"
    assert env.get("PATH", "").split(":")[0] == venv_bin, "reconcile is found on PATH first"


def test_the_lock_is_copied_and_installed_before_the_source() -> None:
    build = _stages()[0]
    order = build.instructions

    def index(predicate: str) -> int:
        for i, ins in enumerate(order):
            if re.search(predicate, f"{ins.keyword} {ins.args}"):
                return i
        raise AssertionError(f"no instruction matches {predicate!r}")

    copy_lock = index(r"^COPY .*requirements\.lock")
    install_lock = index(r"^RUN .*pip install .*-r requirements\.lock")
    copy_source = index(r"^COPY .*\breconciler\b")
    install_project = index(r"^RUN .*pip install .*reconciler-\*\.whl")
    assert copy_lock < install_lock < copy_source < install_project
    copied_first = df.parse_copy(order[copy_lock])
    assert copied_first.sources == ["requirements.lock"], "only the lock: the layer caches"


def test_the_lock_install_is_hash_checked_and_takes_no_unpinned_dependency() -> None:
    build = _stages()[0]
    (install,) = [
        command
        for ins in build.all("RUN")
        for command in df.shell_commands(ins)
        if "-r requirements.lock" in command
    ]
    words = install.split()
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:"):
        assert flag in words, f"the lock install uses {flag}"
    (project,) = [
        command
        for ins in build.all("RUN")
        for command in df.shell_commands(ins)
        if "pip install" in command and ".whl" in command
    ]
    assert "--no-deps" in project.split(), "the project's wheel adds no dependency of its own"


def test_the_base_image_is_the_same_in_both_stages() -> None:
    # The virtual environment links to the base image's interpreter: both stages must have it.
    stages = _stages()
    assert stages[0].base == stages[-1].base


# --- the build context -------------------------------------------------------------------------


def test_dockerignore_sends_what_the_dockerfile_copies() -> None:
    patterns = df.ignore_patterns(df.DOCKERIGNORE.read_text(encoding="utf-8"))
    sources = [
        source
        for stage in _stages()
        for ins in stage.all("COPY")
        if "from" not in (copy := df.parse_copy(ins)).flags
        for source in copy.sources
    ]
    assert "requirements.lock" in sources
    for source in sources:
        assert (df.REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not df.is_ignored(source, patterns), f"COPY {source} but .dockerignore drops it"
    for module in (df.REPO / "reconciler").rglob("*.py"):
        relative = module.relative_to(df.REPO).as_posix()
        if "__pycache__" not in relative:
            assert not df.is_ignored(relative, patterns), f"{relative} is left out of the image"


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        ".venv-ci/bin/python",
        "tests/conftest.py",
        "manifests/example.yaml",
        ".env",
        ".aws/credentials",
        "reconciler/__pycache__/cli.cpython-311.pyc",
        "reconciler/aws/__pycache__/base.cpython-311.pyc",
        "reconciler.egg-info/PKG-INFO",
        "dist/reconciler-0.1.0-py3-none-any.whl",
        "Dockerfile",
    ],
)
def test_dockerignore_keeps_everything_else_out(path: str) -> None:
    patterns = df.ignore_patterns(df.DOCKERIGNORE.read_text(encoding="utf-8"))
    assert df.is_ignored(path, patterns)


def test_the_dockerignore_matcher_follows_dockers_rules() -> None:
    # The matcher above is ours, so it gets a check of its own: last match wins, '!'
    # re-includes, a directory pattern covers what is below it, '*' stays in one level.
    patterns = ["*", "!keep", "keep/drop", "**/*.tmp", "!keep/**/ok.tmp"]
    assert df.is_ignored("anything", patterns)
    assert not df.is_ignored("keep/file.py", patterns)
    assert df.is_ignored("keep/drop/file.py", patterns)
    assert df.is_ignored("keep/a/b/x.tmp", patterns)
    assert not df.is_ignored("keep/a/ok.tmp", patterns)
    assert not df.is_ignored("dir/file", ["dir/*/x"])
    assert df.is_ignored("dir/sub/x", ["dir/*/x"])


# --- the lock ----------------------------------------------------------------------------------


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((df.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _lock_pins()
    problems: list[str] = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement.name}=={pins[name][0]} is outside {text!r}")
    assert not problems, (
        "requirements.lock is stale; regenerate it with the command at its top:\n"
        + "\n".join(problems)
    )


def test_every_pin_in_the_lock_is_exact_and_hashed() -> None:
    pins = _lock_pins()
    assert len(pins) >= 10, "the runtime closure (boto3, pydantic, ... and their dependencies)"
    for name, (version, hashes) in pins.items():
        assert hashes, f"{name}=={version} has no --hash (pip --require-hashes refuses it)"
        assert name != "reconciler", "the project itself is installed from its wheel, not the lock"


# --- the development constraints ---------------------------------------------------------------

DEV_LOCK = df.REPO / "requirements-dev.lock"


def _dev_pins() -> dict[str, str]:
    """{canonical name: version} from the development constraints (no hashes: see .ci/run)."""
    pins: dict[str, str] = {}
    for raw in DEV_LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements-dev.lock: not a name==version pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{name} is pinned twice in requirements-dev.lock"
        pins[name] = match.group(2)
    return pins


def test_ci_tests_the_versions_the_container_ships() -> None:
    # CI installs under requirements-dev.lock; a runtime package at another version there than
    # in requirements.lock would mean CI passes on code the image does not run.
    dev = _dev_pins()
    differing = [
        f"{name}: requirements.lock {version}, requirements-dev.lock {dev.get(name, 'missing')}"
        for name, (version, _) in sorted(_lock_pins().items())
        if dev.get(name) != version
    ]
    assert not differing, (
        "regenerate requirements-dev.lock with the command at its top:\n" + "\n".join(differing)
    )


def test_the_dev_lock_pins_every_test_and_dev_tool_within_its_range() -> None:
    project = tomllib.loads((df.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = _dev_pins()
    assert "reconciler" not in dev, "the project is installed from the checkout, not pinned"
    problems: list[str] = []
    for extra in ("test", "dev"):
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            if name == "reconciler":
                continue
            if name not in dev:
                problems.append(f"{requirement.name} ([{extra}]) is not in requirements-dev.lock")
            elif not requirement.specifier.contains(dev[name], prereleases=True):
                problems.append(f"{requirement.name}=={dev[name]} is outside {text!r}")
    assert not problems, (
        "requirements-dev.lock is stale; regenerate it with the command at its top:\n"
        + "\n".join(problems)
    )


def test_ci_installs_under_the_dev_lock() -> None:
    ci = (df.REPO / ".ci" / "run").read_text(encoding="utf-8")
    installs = [
        line for line in ci.splitlines() if re.search(r"pip install .*-e '\.\[dev\]'", line)
    ]
    assert installs, ".ci/run installs the project with its dev extra"
    assert all("-c requirements-dev.lock" in line for line in installs), installs
