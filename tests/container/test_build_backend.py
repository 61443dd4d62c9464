"""The image's build backend comes from a hashed lock too, so a rebuild builds with the same bytes.

``pip wheel`` of a project builds it in an isolated environment by default, into which pip
installs whatever versions of ``build-system.requires`` the index offers that day, unhashed. The
Dockerfile instead installs setuptools and wheel from ``requirements-build.lock`` (exact pins,
SHA-256 hashes, wheels only) into an environment of their own and builds the wheel there without
isolation. These checks read the Dockerfile and the lock; ``test_install.py`` replays the build.
"""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.container import dockerfile as df

BUILD_LOCK = df.REPO / "requirements-build.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:\\)?$")
HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})\s*(?:\\)?$")


def _build_commands() -> list[str]:
    build = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[0]
    return [command for ins in build.all("RUN") for command in df.shell_commands(ins)]


def _pins() -> dict[str, tuple[str, list[str]]]:
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for raw in BUILD_LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pin = PIN.match(line)
        if pin:
            current = canonicalize_name(pin.group(1))
            assert current not in pins, f"{current} is pinned twice"
            pins[current] = (pin.group(2), [])
            continue
        hashed = HASH.match(line)
        assert hashed, f"requirements-build.lock: unexpected line {line!r}"
        assert current is not None, "requirements-build.lock: a hash before any requirement"
        pins[current][1].append(hashed.group(1))
    return pins


def test_the_build_lock_pins_every_build_requirement_within_its_range_with_hashes() -> None:
    requires = tomllib.loads((df.REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "build-system"
    ]["requires"]
    pins = _pins()
    for text in requires:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements-build.lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {text!r}"
        )
    for name, (version, hashes) in pins.items():
        assert hashes, f"{name}=={version} has no --hash"


def test_every_pip_install_of_the_build_is_hashed_or_offline() -> None:
    installs = [c for c in _build_commands() if re.search(r"\bpip install\b", c)]
    assert installs
    for command in installs:
        words = command.split()
        assert "--require-hashes" in words or "--no-index" in words, command
        assert "--no-deps" in words, command


def test_the_build_lock_goes_into_an_environment_of_its_own() -> None:
    (install,) = [c for c in _build_commands() if "-r requirements-build.lock" in c]
    words = install.split()
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:"):
        assert flag in words, f"the build lock is installed with {flag}"
    build_env = words[0].removesuffix("/bin/pip")
    assert build_env != "/opt/reconciler", "the backend stays out of the runtime environment"
    assert f"python -m venv {build_env}" in _build_commands()


def test_the_wheel_is_built_by_the_locked_backend_without_isolation() -> None:
    (install,) = [c for c in _build_commands() if "-r requirements-build.lock" in c]
    build_pip = install.split()[0]
    wheels = [c for c in _build_commands() if re.search(r"\bpip wheel\b", c)]
    assert wheels, "the build stage builds the project's wheel"
    for command in wheels:
        words = command.split()
        assert words[0] == build_pip, "built with the environment that holds the locked backend"
        # Isolation would install build-system.requires from the index, unpinned and unhashed.
        assert "--no-build-isolation" in words
        # ...and a backend missing from the lock fails the build instead of going unnoticed.
        assert "--check-build-dependencies" in words


def test_the_build_lock_is_copied_before_it_is_installed_and_sent_to_the_builder() -> None:
    build = df.stages(df.DOCKERFILE.read_text(encoding="utf-8"))[0]
    order = [f"{ins.keyword} {ins.args}" for ins in build.instructions]
    copied = next(i for i, text in enumerate(order) if re.match(r"COPY .*requirements-build", text))
    installed = next(i for i, text in enumerate(order) if "-r requirements-build.lock" in text)
    assert copied < installed
    patterns = df.ignore_patterns(df.DOCKERIGNORE.read_text(encoding="utf-8"))
    assert not df.is_ignored("requirements-build.lock", patterns)
