"""The Dockerfile's install steps, performed without Docker, and the entrypoint run like the image.

No Docker engine runs here or in CI, so this test replays the build stage for real: it copies
what the Dockerfile's COPY instructions copy (less what .dockerignore drops) into a build
directory, runs the stage's RUN commands in order (a fresh virtual environment, the hashed lock
installed with --no-deps, the project's wheel built and installed with --no-deps, pip check),
with the image's paths mapped into a temporary directory. Then it runs the entrypoint the way
the runtime stage does: the stage's ENV, HOME unset, the installed environment made read-only
(as the root filesystem is), a read-only working directory holding the manifest that
RECONCILER_MANIFEST names, and not as root: as the current user, or, when the tests run as
root, as the image's UID (or, if the interpreter is private to root, as root without any
capability, which the file modes then bind like any user). Nothing may be written there.

It needs the package index. It is skipped, saying why, only when downloading the locked
packages fails for a network reason; any other failure is a real one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler_sandbox import Sandbox, SandboxOptions, SandboxState
from tests.container import dockerfile as df

VENV_IN_IMAGE = "/opt/reconciler"
BUILD_VENV_IN_IMAGE = "/opt/build"  # the build stage's build-backend environment
LOCKS = ("requirements.lock", "requirements-build.lock")
PIP_TIMEOUT = 240  # seconds for one pip command; the whole test takes well under that
# Docker's own settings for the build (PIP_NO_CACHE_DIR) are not replayed: pip's cache is kept,
# so a second run reuses the downloads.
NOT_REPLAYED = {"PIP_NO_CACHE_DIR"}


@dataclass(frozen=True)
class Image:
    root: Path  # stands for the image's /
    venv: Path  # the image's /opt/reconciler
    build_venv: Path  # the build stage's /opt/build (not in the image)
    config: Path  # the image's WORKDIR and /config, where the manifest is
    env: dict[str, str]  # the environment the entrypoint runs with
    entrypoint: list[str]
    uid: int | None  # the image's UID, when the tests run as root and it can run Python here
    prefix: list[str]  # else, when root: drop every capability (root bound by the mode bits)


def _run(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = PIP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _lock_pin(name: str, lock: str = "requirements.lock") -> str:
    for line in (df.REPO / lock).read_text(encoding="utf-8").splitlines():
        match = re.match(rf"^({re.escape(name)}==\S+)", line.strip(), re.IGNORECASE)
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not pinned in {lock}")


NETWORK_FAILURE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Max retries exceeded|ProxyError|ConnectTimeout|"
    r"Read timed out|Network is unreachable|No route to host|Connection refused|"
    r"connection broken by"
)


def _probe_index(scratch: Path) -> None:
    """Download every locked package (into pip's cache too); skip only if the network fails.

    A probe that fails for any other reason (a hash mismatch, a pin the index does not have)
    is the lock's fault, and fails the test. Both locks: the runtime's and the build backend's.
    """
    for lock in LOCKS:
        probe = _run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes"),
                *("--only-binary=:all:", "--retries", "1", "--timeout", "20"),
                *("--dest", str(scratch), "-r", str(df.REPO / lock)),
            ],
            cwd=scratch,
        )
        if probe.returncode == 0:
            continue
        output = f"{probe.stdout}\n{probe.stderr}"
        network = [line.strip() for line in output.splitlines() if NETWORK_FAILURE.search(line)]
        if network:
            pytest.skip(f"cannot download packages from the package index: {network[-1][:240]}")
        pytest.fail(f"pip download -r {lock} failed (not a network failure):\n{output}")


def _copy_context(stage: df.Stage, workdir: Path) -> None:
    """COPY every build-context source of the stage into workdir, as the builder would."""
    patterns = df.ignore_patterns(df.DOCKERIGNORE.read_text(encoding="utf-8"))

    def skip(directory: str, names: list[str]) -> set[str]:
        base = Path(directory).relative_to(df.REPO)
        return {name for name in names if df.is_ignored((base / name).as_posix(), patterns)}

    for ins in stage.all("COPY"):
        copy = df.parse_copy(ins)
        assert "from" not in copy.flags, "the build stage copies only from the context"
        assert not copy.dest.startswith("/"), "destinations relative to the WORKDIR"
        dest = workdir / copy.dest
        into_directory = copy.dest.endswith("/") or copy.dest == "." or len(copy.sources) > 1
        for source in copy.sources:
            origin = df.REPO / source
            if origin.is_dir():  # a directory's contents go to dest
                shutil.copytree(origin, dest, ignore=skip, dirs_exist_ok=True)
            else:
                target = dest / origin.name if into_directory else dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def _map_paths(command: str, *, venv: Path, workdir: Path, image_workdir: str) -> str:
    command = re.sub(rf"(?<![\w/]){re.escape(VENV_IN_IMAGE)}(?![\w-])", str(venv), command)
    build_venv = str(venv.parent / Path(BUILD_VENV_IN_IMAGE).name)
    command = re.sub(rf"(?<![\w/]){re.escape(BUILD_VENV_IN_IMAGE)}(?![\w-])", build_venv, command)
    command = re.sub(rf"(?<![\w/]){re.escape(image_workdir)}(?![\w-])", str(workdir), command)
    # The image's `python` is the base interpreter; here, the one running the tests.
    return re.sub(r"^python(3(\.\d+)?)?(?=\s)", lambda _: sys.executable, command)


def _build(root: Path) -> Path:
    """Replay the build stage; return the virtual environment it produced."""
    build = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[0]
    (workdir_ins,) = build.all("WORKDIR")
    workdir = root / "build"
    workdir.mkdir()
    _copy_context(build, workdir)
    venv = root / "opt" / "reconciler"
    env = {**os.environ, **{k: v for k, v in build.env().items() if k not in NOT_REPLAYED}}
    commands = [command for ins in build.all("RUN") for command in df.shell_commands(ins)]
    assert any("requirements.lock" in command for command in commands)
    for command in commands:
        mapped = _map_paths(command, venv=venv, workdir=workdir, image_workdir=workdir_ins.args)
        done = _run(["bash", "-c", mapped], cwd=workdir, env=env)
        assert done.returncode == 0, (
            f"RUN {command}\n(as {mapped})\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return venv


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            info = path.lstat()
            seen[str(path)] = (info.st_size, info.st_mtime_ns)
    return seen


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    # Not pytest's tmp_path: its parent is private to the user running the tests, and the
    # entrypoint may run as the image's UID, which must be able to read the environment.
    root = Path(tempfile.mkdtemp(prefix="reconciler-image-"))
    root.chmod(0o755)
    try:
        scratch = root / "probe"
        scratch.mkdir()
        _probe_index(scratch)
        venv = _build(root)

        runtime = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[-1]
        image_env = runtime.env()
        config = root / "config"
        config.mkdir()
        shutil.copy(df.REPO / "manifests" / "example.yaml", config / "manifest.yaml")
        shutil.copy(df.REPO / "manifests" / "sandbox-state.yaml", config / "sandbox-state.yaml")
        config.chmod(0o555)  # a read-only working directory, as the root filesystem is
        for path in config.iterdir():
            path.chmod(0o444)

        env = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}
        env.update(image_env)
        env["PATH"] = (
            image_env["PATH"]
            .replace(VENV_IN_IMAGE, str(venv))
            .replace("${PATH}", "$PATH")
            .replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
        )
        assert image_env["RECONCILER_MANIFEST"] == "/config/manifest.yaml"
        env["RECONCILER_MANIFEST"] = str(config / "manifest.yaml")
        env.pop("HOME", None)
        # The root filesystem is read-only in the examples: so is the installed environment.
        for path in [venv, *venv.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        (user,) = runtime.all("USER")
        uid, prefix = _run_as(int(user.args.split(":")[0]))
        (entrypoint,) = runtime.all("ENTRYPOINT")
        build_venv = venv.parent / Path(BUILD_VENV_IN_IMAGE).name
        yield Image(root, venv, build_venv, config, env, df.exec_form(entrypoint), uid, prefix)
    finally:
        for path in [root, *root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(root, ignore_errors=True)


def _readable_by_anyone(path: Path) -> bool:
    """Whether any user can reach and read path (o+x on every parent, o+r on it)."""
    path = path.resolve()
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _run_as(image_uid: int) -> tuple[int | None, list[str]]:
    """How to run the entrypoint as a non-root user: (uid to switch to, command prefix)."""
    if os.geteuid() != 0:
        return None, []  # already a non-root user
    interpreter = Path(os.path.realpath(sys.executable))  # through the venv's symlink
    stdlib = Path(sysconfig.get_paths()["stdlib"]) / "os.py"
    if _readable_by_anyone(interpreter) and _readable_by_anyone(stdlib):
        return image_uid, []  # the image's own UID, as in the image
    # The interpreter lives where only root can reach it (e.g. under /root): stay root but
    # without any capability, so the file mode bits bind it like any other user.
    # (util-linux's setpriv; without it the run stays root, and the read-only check says so.)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None, []
    return None, [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def _as_image_user(
    image: Image, argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*image.prefix, *argv],
        cwd=image.config,
        env=image.env if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        user=image.uid,
        group=image.uid,
        extra_groups=[] if image.uid is not None else None,
    )


def _entrypoint(
    image: Image, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the image's entrypoint with args, as its USER, in its read-only working directory."""
    program = shutil.which(image.entrypoint[0], path=image.env["PATH"])
    assert program == str(image.venv / "bin" / image.entrypoint[0]), program
    return _as_image_user(image, [program, *image.entrypoint[1:], *args], env)


@pytest.fixture
def aws_endpoint(image: Image) -> Iterator[dict[str, str]]:
    """The image's environment pointed at a sandbox served from outside the image.

    The image has no sandbox (it is a distribution of its own): the tests serve one from their
    own environment, the way a user would point the image at any AWS-compatible endpoint.
    """
    state = SandboxState.load(df.REPO / "manifests" / "sandbox-state.yaml")
    with Sandbox(state, SandboxOptions(), host="127.0.0.1", port=0) as sandbox:
        sandbox.start()
        key, secret = sandbox.credentials
        yield {
            **image.env,
            "AWS_ENDPOINT_URL": sandbox.endpoint_url,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def test_the_image_has_the_locked_dependencies_and_the_wheel_not_the_checkout(image: Image) -> None:
    python = image.venv / "bin" / "python"
    where = _run(
        [str(python), "-c", "import reconciler, boto3; print(reconciler.__file__)"],
        cwd=image.config,
        env=image.env,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    installed = Path(where.stdout.strip())
    assert installed.is_relative_to(image.venv), f"{installed} is not from the installed wheel"
    assert not (installed.parent.parent / "tests").exists()
    # Every package was installed from the lock, at its pinned version.
    frozen = _run(
        [str(python), "-m", "pip", "freeze", "--all"], cwd=image.config, env=image.env, timeout=60
    )
    versions = {
        name.lower().replace("_", "-"): version
        for name, _, version in (line.partition("==") for line in frozen.stdout.splitlines())
    }
    for package in ("boto3", "pydantic", "structlog", "pyyaml"):
        assert _lock_pin(package).lower() == f"{package}=={versions[package]}"


def test_the_build_lock_install_refuses_other_bytes(image: Image, tmp_path: Path) -> None:
    # The Dockerfile's own install command, with every hash of the lock swapped for one no
    # published file has: pip must refuse to install, so a rebuild never takes other bytes.
    build = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[0]
    (command,) = [
        c
        for ins in build.all("RUN")
        for c in df.shell_commands(ins)
        if "-r requirements-build.lock" in c
    ]
    text = (df.REPO / "requirements-build.lock").read_text(encoding="utf-8")
    tampered = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, text)
    assert tampered != text
    (tmp_path / "requirements-build.lock").write_text(tampered, encoding="utf-8")
    venv = tmp_path / "opt" / "reconciler"
    done = _run(
        [
            "bash",
            "-c",
            f"{sys.executable} -m venv {tmp_path}/opt/build && "
            + _map_paths(command, venv=venv, workdir=tmp_path, image_workdir="/src"),
        ],
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stdout + done.stderr


def test_the_wheel_was_built_by_the_locked_backend_which_stays_out_of_the_image(
    image: Image,
) -> None:
    # The build environment holds exactly the build lock's setuptools and wheel: the wheel was
    # built with them (no isolated build fetched others), and a rebuild installs the same bytes.
    frozen = _run(
        [str(image.build_venv / "bin" / "python"), "-m", "pip", "freeze", "--all"],
        cwd=image.root,
        env=image.env,
        timeout=60,
    )
    assert frozen.returncode == 0, frozen.stderr
    installed = {line.lower() for line in frozen.stdout.splitlines()}
    for package in ("setuptools", "wheel"):
        assert _lock_pin(package, "requirements-build.lock").lower() in installed
    # The runtime stage copies the runtime environment only.
    runtime = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[-1]
    copied = [source for ins in runtime.all("COPY") for source in df.parse_copy(ins).sources]
    assert copied == [VENV_IN_IMAGE]


def test_the_entrypoint_prints_its_version(image: Image) -> None:
    project = tomllib.loads((df.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    done = _entrypoint(image, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reconcile {project['version']}"


def test_the_entrypoint_prints_its_help(image: Image) -> None:
    done = _entrypoint(image, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: reconcile")
    assert "--manifest" in done.stdout
    assert "--dry-run" in done.stdout


def test_a_dry_run_reads_the_manifest_from_the_env_and_writes_nothing(
    image: Image, aws_endpoint: dict[str, str]
) -> None:
    before = _snapshot(image.venv, image.config)
    done = _entrypoint(
        image,
        "--dry-run",
        "--detailed-exitcode",
        "--output",
        "json",
        "--log-format",
        "json",
        env=aws_endpoint,
    )
    assert done.returncode == 2, f"changes pending expected\n{done.stdout}\n{done.stderr}"
    document = json.loads(done.stdout)
    assert document["dry_run"] is True
    assert document["administrator"] == "111111111111"
    assert document["manifest"].endswith("manifest.yaml")
    assert document["summary"]["status"] == "changes-pending"
    assert document["actions"], "the sandbox starts with no members: there is work to plan"
    assert "Traceback" not in done.stderr
    assert _snapshot(image.venv, image.config) == before, "the run wrote to the filesystem"


def test_an_apply_converges_and_writes_nothing(image: Image, aws_endpoint: dict[str, str]) -> None:
    before = _snapshot(image.venv, image.config)
    done = _entrypoint(image, "--output", "json", "--log-format", "json", env=aws_endpoint)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    summary = json.loads(done.stdout)["summary"]
    assert summary["status"] == "converged"
    assert summary["failed"] == 0
    assert summary["converged"] > 0
    assert _snapshot(image.venv, image.config) == before, "the run wrote to the filesystem"


def test_the_wheel_holds_the_product_and_no_sandbox(image: Image) -> None:
    (wheel,) = (image.root / "build" / "dist").glob("reconciler-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")
        )
    tops = {name.split("/")[0] for name in names}
    assert tops == {"reconciler", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert "reconciler/cli.py" in names
    assert "reconciler/aws/session.py" in names
    assert not [n for n in names if n.split("/")[1:2] == ["sandbox"] or "reconciler_sandbox" in n]
    assert not [n for n in names if n.endswith(("/server.py", "/wire.py"))]
    assert "reconcile-sandbox" not in entry_points
    assert "reconcile = reconciler.cli:main" in entry_points


def test_the_image_has_no_sandbox_and_says_how_to_get_one(image: Image) -> None:
    python = image.venv / "bin" / "python"
    found = _run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('reconciler_sandbox'))"],
        cwd=image.config,
        env=image.env,
        timeout=60,
    )
    assert found.stdout.strip() == "None", found.stdout
    assert not (image.venv / "bin" / "reconcile-sandbox").exists()
    done = _entrypoint(image, "--dry-run", "--sandbox", "sandbox-state.yaml")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == (
        "reconcile: error: --sandbox: the sandbox is not installed; pip install -e ./sandbox "
        "(the reconciler-sandbox distribution of this repository)"
    )
    assert done.stdout == ""


def test_a_missing_manifest_is_a_clear_error(image: Image) -> None:
    env = {**image.env, "RECONCILER_MANIFEST": str(image.config / "absent.yaml")}
    done = _as_image_user(image, [str(image.venv / "bin" / "reconcile"), "--dry-run"], env)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("reconcile: error:")
    assert "absent.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_installed_environment_and_the_working_directory_are_read_only(image: Image) -> None:
    # The premise of the "writes nothing" checks above: the entrypoint's user cannot write here.
    script = (
        "import sys\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        open(path, 'w').close()\n"
        "    except PermissionError:\n"
        "        print('refused', path)\n"
        "    else:\n"
        "        print('written', path)\n"
    )
    targets = [image.config / "probe", image.venv / "probe", image.venv / "bin" / "probe"]
    python = str(image.venv / "bin" / "python")
    done = _as_image_user(image, [python, "-c", script, *map(str, targets)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [f"refused {target}" for target in targets], (
        f"running as {os.geteuid() if image.uid is None else image.uid}, prefix {image.prefix}"
    )
