"""Every path a run writes is checked before the first AWS call (issue 13, points 1 and 2).

Aspects under test:
- an output (--out, --sandbox-save, --metrics-file) in a missing directory, in a place that
  cannot be written, or naming a directory is exit 3 with one line naming the path as given,
  before any AWS call and before any plan is printed;
- an output that resolves to an input of the run (the manifest, a file of a directory
  manifest, its CSV, the saved plan, the sandbox state), by its own name, a symlink or a hard
  link, is refused with exit 3 and the input is left untouched; so are two outputs naming one
  file; ``--sandbox X --sandbox-save X`` (saving the sandbox over its own state) is allowed;
- a write that fails after the check names the user's path, never a temporary file's.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from reconciler import cli, outputs
from reconciler.errors import OutputError
from reconciler_sandbox import SandboxState
from tests.cli.conftest import Bed, manifest, org_account, world

MEMBERS = [org_account(i) for i in range(2)]
FLAGS = ("--out", "--sandbox-save", "--metrics-file")


def _args_for(flag: str, path: str | Path, state: Path) -> list[str]:
    """The invocation writing ``path`` through ``flag`` (each flag's companion flags with it)."""
    if flag == "--out":
        return ["--dry-run", "--out", str(path)]
    if flag == "--sandbox-save":
        return ["--sandbox", str(state), "--sandbox-save", str(path)]
    return ["--metrics-file", str(path)]


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.yaml"
    SandboxState.from_dict(world()).save(path)
    return path


def _refused(bed: Bed, *args: str | Path) -> str:
    """Run, and check the run is exit 3 with one error line, no AWS call and no plan."""
    result = bed.run(*args)
    assert result.code == cli.EXIT_INVALID, result.stdout + result.stderr
    assert result.stdout == ""
    # One line: not even the embedded sandbox's start was logged.
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reconcile: error: ")
    assert "Traceback" not in result.stderr
    assert result.calls == []
    return lines[0]


@pytest.mark.parametrize("flag", FLAGS)
def test_an_output_in_a_missing_directory_is_refused_before_any_call(
    make_bed: Callable[..., Bed], state_file: Path, flag: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    line = _refused(bed, "--manifest", path, *_args_for(flag, "/nonexistent/plan.json", state_file))
    assert f"{flag} /nonexistent/plan.json: " in line
    assert "no such directory" in line
    assert ".tmp" not in line


@pytest.mark.parametrize("flag", FLAGS)
def test_an_output_naming_a_directory_is_refused(
    make_bed: Callable[..., Bed], state_file: Path, flag: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    (bed.tmp / "reports").mkdir()
    line = _refused(bed, "--manifest", path, *_args_for(flag, bed.tmp / "reports", state_file))
    assert f"{flag} {bed.tmp / 'reports'}: is a directory" in line


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize(
    "where",
    [
        # sysfs takes no new file, even from root (these tests may run as root, where no
        # permission bit stops a write).
        "/sys/plan.json",
        # A path through a regular file.
        "{tmp}/manifest.yaml/plan.json",
    ],
)
def test_an_output_in_an_unwritable_place_is_refused(
    make_bed: Callable[..., Bed], state_file: Path, flag: str, where: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    target = where.format(tmp=bed.tmp)
    before = path.read_bytes()
    line = _refused(bed, "--manifest", path, *_args_for(flag, target, state_file))
    assert f"{flag} {target}: " in line
    assert ".tmp" not in line
    assert path.read_bytes() == before
    assert not list(Path("/sys").glob(".plan.json*"))


def test_the_path_is_named_as_the_user_gave_it(
    make_bed: Callable[..., Bed], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = make_bed()
    bed.write_manifest(manifest(MEMBERS))
    monkeypatch.chdir(bed.tmp)
    line = _refused(bed, "--manifest", "manifest.yaml", "--dry-run", "--out", "missing/plan.json")
    assert "--out missing/plan.json: no such directory missing" in line
    assert str(bed.tmp) not in line


@pytest.mark.parametrize("flag", FLAGS)
def test_an_output_naming_the_manifest_is_refused_and_the_manifest_kept(
    make_bed: Callable[..., Bed], state_file: Path, flag: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    before = path.read_bytes()
    line = _refused(bed, "--manifest", path, *_args_for(flag, path, state_file))
    assert f"{flag} {path}: " in line
    assert "the manifest" in line
    assert path.read_bytes() == before


def test_an_output_naming_a_file_of_a_directory_manifest_is_refused(
    make_bed: Callable[..., Bed],
) -> None:
    bed = make_bed()
    data = manifest(MEMBERS)
    members = {"members": data.pop("members")}
    directory = bed.tmp / "manifests"
    directory.mkdir()
    (directory / "base.yaml").write_text(yaml.safe_dump(data))
    (directory / "members.yaml").write_text(yaml.safe_dump({"version": 1, **members}))
    before = (directory / "members.yaml").read_bytes()
    line = _refused(bed, "--manifest", directory, "--dry-run", "--out", directory / "members.yaml")
    assert f"--out {directory / 'members.yaml'}: this is a file of the manifest" in line
    assert (directory / "members.yaml").read_bytes() == before


def test_an_output_naming_the_members_csv_is_refused(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    data = manifest(MEMBERS)
    csv = bed.tmp / "members.csv"
    csv.write_text("".join(f"{m['accountId']},{m['email']}\n" for m in data["members"]))
    data["members"] = {"csv": "members.csv"}
    path = bed.write_manifest(data)
    before = csv.read_bytes()
    line = _refused(bed, "--manifest", path, "--metrics-file", csv)
    assert f"--metrics-file {csv}: " in line
    assert "this is a file of the manifest, which the run reads" in line
    assert csv.read_bytes() == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_that_is_a_link_to_the_manifest_is_refused(
    make_bed: Callable[..., Bed], link: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    before = path.read_bytes()
    alias = bed.tmp / "plan.json"
    if link == "symlink":
        alias.symlink_to(path.name)
    else:
        os.link(path, alias)
    _refused(bed, "--manifest", path, "--dry-run", "--out", alias)
    assert path.read_bytes() == before


def test_an_output_naming_the_saved_plan_is_refused(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    plan = bed.tmp / "plan.json"
    assert bed.run("--manifest", path, "--dry-run", "--out", plan).code == 0
    before = plan.read_bytes()
    line = _refused(bed, "--plan", plan, "--metrics-file", plan)
    assert f"--metrics-file {plan}: " in line
    assert "--plan" in line
    assert plan.read_bytes() == before


@pytest.mark.parametrize("flag", ["--out", "--metrics-file"])
def test_an_output_naming_the_sandbox_state_is_refused(
    make_bed: Callable[..., Bed], state_file: Path, flag: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    before = state_file.read_bytes()
    extra = ["--dry-run"] if flag == "--out" else []
    line = _refused(bed, "--manifest", path, "--sandbox", state_file, *extra, flag, state_file)
    assert f"{flag} {state_file}: " in line
    assert "--sandbox" in line
    assert state_file.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS))
    target = bed.tmp / "out.json"
    line = _refused(bed, "--manifest", path, "--dry-run", "--out", target, "--metrics-file", target)
    assert f"--metrics-file {target}: " in line
    assert "--out" in line
    assert not target.exists()


def test_the_sandbox_may_be_saved_over_its_own_state(
    tmp_path: Path, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest(MEMBERS)))
    before = state_file.read_text()
    args = ["--manifest", str(path), "--sandbox", str(state_file), "--log-level", "warning"]
    assert cli.main([*args, "--sandbox-save", str(state_file)]) == 0, capsys.readouterr()
    assert state_file.read_text() != before  # the members were created, and saved
    assert cli.main([*args, "--dry-run", "--detailed-exitcode"]) == 0  # converged


def test_a_failed_write_names_the_users_path_not_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "gone" / "plan.json"
    with pytest.raises(OutputError) as info:
        outputs.write_text("--out", str(target), "{}")
    message = str(info.value)
    assert message.startswith(f"--out {target}: ")
    assert ".tmp" not in message


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_text("old")
    outputs.write_text("--out", str(target), "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_the_readme_examples_print_what_the_readme_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/reference/cli.md, "Output paths": each `$ reconcile ...` line and the error line under it.
    root = Path(__file__).parents[2]
    section = (root / "docs" / "reference" / "cli.md").read_text().split("### Output paths", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    pairs = [(block[i], block[i + 1]) for i in range(0, len(block), 2)]
    assert len(pairs) == 2
    monkeypatch.chdir(root)
    # Should the check ever come too late, the run's calls go to a closed loopback port.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    before = (root / "manifests" / "example.yaml").read_bytes()
    for command, printed in pairs:
        assert command.startswith("$ reconcile ")
        capsys.readouterr()
        assert cli.main(shlex.split(command)[2:]) == cli.EXIT_INVALID
        out, err = capsys.readouterr()
        assert (out, err) == ("", printed + "\n")
    assert (root / "manifests" / "example.yaml").read_bytes() == before


def test_a_failed_sandbox_save_names_the_path_and_exits_1(
    tmp_path: Path,
    state_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The disk fills up between the check and the write.
    def full(self: SandboxState, path: str) -> None:
        raise OSError(28, "No space left on device", f"{path}.partial")

    monkeypatch.setattr(SandboxState, "save", full)
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest(MEMBERS)))
    target = tmp_path / "after.yaml"
    args = ["--manifest", str(path), "--sandbox", str(state_file), "--log-level", "error"]
    code = cli.main([*args, "--sandbox-save", str(target)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILED
    assert err == (
        f"reconcile: error: --sandbox-save {target}: could not write it: No space left on device\n"
    )


def test_every_listed_option_is_one_the_parser_has() -> None:
    # A renamed option would silently drop out of the check: the lists must name real ones.
    options = {action.dest: action.option_strings for action in cli.build_parser()._actions}
    for dest, flag in outputs.OUTPUT_OPTIONS:
        assert options[dest] == [flag]
    for dest, flag, _ in outputs.INPUT_OPTIONS:
        assert options[dest] == [flag]
