"""What the manifest loader reads, and what its errors show (issue 13, points 3, 4 and 5).

Aspects under test:
- kinds of path: a manifest that is a FIFO or a device is refused at once (never opened, so
  never blocking); in a directory manifest a FIFO or a directory named ``*.yaml`` is an error,
  not skipped; a CSV that is not a regular file is refused as such;
- containment: ``members: {csv: PATH}`` reads only files inside the manifest's directory (the
  root of a directory manifest), and so do the files of a directory manifest: an absolute path
  outside, a ``..`` escape or a symlink leaving the root is refused (exit 3 at the CLI) before
  the file is read, or even looked for; paths that stay inside are read as before;
- no echo: an error shows no content but the value of the field it names: CSV line errors
  (bad quoting, extra columns, a header) name the line without showing it, a file with no
  member row at all is refused without its content, a manifest that is a bare string is
  refused without it, and a long value is shown once, shortened.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.manifest import csvimport, load_manifest
from reconciler.model import RegionCatalog
from tests.manifest.test_sources import HEADER, TEAM_A, directory, refused

CSV_ROWS = "222222222222,aws+222@example.com\n333333333333,aws+333@example.com\n"
SECRET = "hunter2-do-not-print"


def csv_manifest(tmp_path: Path, reference: str, *, name: str = "manifest.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + f"members: {{csv: {reference!r}}}\n")
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the CSV reader opens."""
    opened: list[str] = []
    original = csvimport.read_text

    def spy(path: str, **kwargs: str) -> tuple[str, bytes]:
        opened.append(os.path.realpath(path))
        return original(path, **kwargs)

    monkeypatch.setattr(csvimport, "read_text", spy)
    return opened


# --- kinds of path (point 3) ----------------------------------------------------------------


def test_a_fifo_manifest_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "manifest.yaml"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes; the old loader hung here. The
    # timeout only keeps a regression from hanging the suite.
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "--validate", "--manifest", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        f"reconcile: error: {fifo}: the manifest must be a regular file or a directory, not a FIFO"
    ]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_manifest_is_refused(device: str, catalog: RegionCatalog) -> None:
    error = refused(Path(device), catalog)
    assert str(error) == (
        f"{device}: the manifest must be a regular file or a directory, not a character device"
    )


def test_a_directory_named_yaml_in_a_directory_manifest_is_an_error(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    root = directory(tmp_path, {"00-base.yaml": HEADER + TEAM_A, "10-team.yaml/x.txt": "x"})
    error = refused(root, catalog)
    assert error.path == str(root / "10-team.yaml")
    assert "is a directory" in str(error)


def test_a_fifo_in_a_directory_manifest_is_an_error(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(tmp_path, {"00-base.yaml": HEADER + TEAM_A})
    os.mkfifo(root / "10-team.yaml")
    error = refused(root, catalog)
    assert error.path == str(root / "10-team.yaml")
    assert "a FIFO" in str(error)


def test_hidden_entries_of_a_directory_manifest_are_still_skipped(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    root = directory(tmp_path, {"00-base.yaml": HEADER + TEAM_A, ".cache.yaml/x": "x"})
    assert len(load_manifest(root, catalog=catalog).members) == 1


def test_a_csv_that_is_a_fifo_is_refused_as_such(tmp_path: Path, catalog: RegionCatalog) -> None:
    os.mkfifo(tmp_path / "members.csv")
    error = refused(csv_manifest(tmp_path, "members.csv"), catalog)
    assert error.field == "members.csv"
    assert "not a regular file (a FIFO)" in str(error)


# --- containment (point 4) ------------------------------------------------------------------


@pytest.mark.parametrize("outside", ["/etc/passwd", "/proc/self/environ"])
def test_an_absolute_csv_path_outside_the_manifest_directory_is_refused(
    tmp_path: Path, catalog: RegionCatalog, reads: list[str], outside: str
) -> None:
    path = csv_manifest(tmp_path, outside)
    error = refused(path, catalog)
    message = str(error)
    assert (error.path, error.line, error.field) == (str(path), 10, "members.csv")
    assert "outside the manifest's directory" in message
    assert "root:" not in message
    assert "PATH=" not in message
    assert reads == []


def test_a_dotdot_escape_is_refused_before_reading(
    tmp_path: Path, catalog: RegionCatalog, reads: list[str]
) -> None:
    (tmp_path / "members.csv").write_text(CSV_ROWS)
    (tmp_path / "manifests").mkdir()
    error = refused(csv_manifest(tmp_path / "manifests", "../members.csv"), catalog)
    assert "outside the manifest's directory" in str(error)
    assert error.value == "../members.csv"
    assert reads == []


def test_an_escape_to_a_missing_file_is_refused_without_looking_for_it(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    # Whether a file exists outside the root is not the manifest's business either.
    error = refused(csv_manifest(tmp_path, "../../nope/credentials"), catalog)
    assert "outside the manifest's directory" in str(error)
    assert "no such" not in str(error)


def test_a_symlink_leaving_the_root_is_refused(
    tmp_path: Path, catalog: RegionCatalog, reads: list[str]
) -> None:
    (tmp_path / "outside.csv").write_text(CSV_ROWS)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "members.csv").symlink_to(tmp_path / "outside.csv")
    error = refused(csv_manifest(root, "members.csv"), catalog)
    assert "outside the manifest's directory" in str(error)
    assert "symlink" in str(error)
    assert reads == []


def test_a_symlinked_directory_leaving_the_root_is_refused(
    tmp_path: Path, catalog: RegionCatalog, reads: list[str]
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "members.csv").write_text(CSV_ROWS)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "accounts").symlink_to(tmp_path / "elsewhere")
    error = refused(csv_manifest(root, "accounts/members.csv"), catalog)
    assert "symlink" in str(error)
    assert reads == []


@pytest.mark.parametrize(
    "reference",
    ["members.csv", "accounts/../members.csv", "./members.csv", "{root}/members.csv", "link.csv"],
)
def test_paths_that_stay_inside_are_read(
    tmp_path: Path, catalog: RegionCatalog, reference: str
) -> None:
    (tmp_path / "accounts").mkdir()
    (tmp_path / "members.csv").write_text(CSV_ROWS)
    (tmp_path / "link.csv").symlink_to("members.csv")
    path = csv_manifest(tmp_path, reference.format(root=tmp_path))
    manifest = load_manifest(path, catalog=catalog)
    assert [m.account_id for m in manifest.members] == ["222222222222", "333333333333"]


def test_a_relative_manifest_path_contains_its_csv_too(
    tmp_path: Path, catalog: RegionCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "members.csv").write_text(CSV_ROWS)
    csv_manifest(tmp_path, "members.csv")
    monkeypatch.chdir(tmp_path)
    assert len(load_manifest("manifest.yaml", catalog=catalog).members) == 2
    (tmp_path / "sub").mkdir()
    csv_manifest(tmp_path / "sub", "../members.csv")
    monkeypatch.chdir(tmp_path / "sub")
    assert "outside" in str(refused(Path("manifest.yaml"), catalog))


def test_a_directory_manifest_contains_its_csv_to_its_root(
    tmp_path: Path, catalog: RegionCatalog, reads: list[str]
) -> None:
    (tmp_path / "shared.csv").write_text(CSV_ROWS)
    root = directory(
        tmp_path,
        {"00-base.yaml": HEADER, "10-team.yaml": "members: {csv: ../shared.csv}\n"},
    )
    error = refused(root, catalog)
    assert error.path == str(root / "10-team.yaml")
    assert f"outside the manifest's directory {root}" in str(error)
    assert reads == []


def test_a_file_of_a_directory_manifest_may_not_link_outside(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    (tmp_path / "secret.yaml").write_text(f"token: {SECRET}\n")
    root = directory(tmp_path, {"00-base.yaml": HEADER + TEAM_A})
    (root / "10-team.yaml").symlink_to(tmp_path / "secret.yaml")
    error = refused(root, catalog)
    assert error.path == str(root / "10-team.yaml")
    assert "outside the manifest's directory" in str(error)
    assert SECRET not in str(error)


def test_a_file_of_a_directory_manifest_may_link_inside(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    root = directory(tmp_path, {"00-base.yaml": HEADER, "teams/a.yaml": TEAM_A})
    (root / "10-team.yaml").symlink_to("teams/a.yaml")
    assert len(load_manifest(root, catalog=catalog).members) == 1


def test_the_cli_refuses_an_escaping_csv_with_exit_3(tmp_path: Path) -> None:
    path = csv_manifest(tmp_path, "/etc/passwd")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "--validate", "--manifest", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"reconcile: error: {path}:10, field members.csv, value '/etc/passwd'")
    assert "root:" not in line


# --- no echo (point 5) ----------------------------------------------------------------------


def write_csv(tmp_path: Path, rows: str) -> Path:
    (tmp_path / "members.csv").write_text(rows, newline="")
    return csv_manifest(tmp_path, "members.csv")


@pytest.mark.parametrize(
    "rows",
    [
        f"API_TOKEN={SECRET}\nREGION=us-east-1\n",
        f"[default]\naws_secret_access_key = {SECRET}\n",
        f"root:x:0:0:{SECRET}:/root:/bin/bash\n",
        f'{{"token": "{SECRET}"}}\n',
    ],
)
def test_a_file_with_no_member_row_is_refused_without_its_content(
    tmp_path: Path, catalog: RegionCatalog, rows: str
) -> None:
    error = refused(write_csv(tmp_path, rows), catalog)
    message = str(error)
    assert error.path == str(tmp_path / "members.csv")
    assert error.line is None
    assert "no line of this file is a member row" in message
    assert SECRET not in message
    for line in rows.splitlines():
        assert line not in message


@pytest.mark.parametrize(
    ("rows", "reason", "line"),
    [
        (f"222222222222,aws+222@example.com,{SECRET}\n", "found 3 columns", 1),
        (f'222222222222,aws+222@example.com\n"333333333333,{SECRET}\n', "not a valid CSV", 2),
        (f"AccountId,Email,{SECRET}\n222222222222,aws+222@example.com\n", "header line", 1),
    ],
)
def test_csv_line_errors_name_the_line_without_showing_it(
    tmp_path: Path, catalog: RegionCatalog, rows: str, reason: str, line: int
) -> None:
    error = refused(write_csv(tmp_path, rows), catalog)
    assert reason in str(error)
    assert error.line == line
    assert not error.has_value
    assert SECRET not in str(error)


def test_a_bad_field_of_a_member_row_still_shows_that_field(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    error = refused(write_csv(tmp_path, f"222222222222,{SECRET}\n"), catalog)
    assert error.field == "email"
    assert f"value '{SECRET}'" in str(error)


def test_a_manifest_that_is_a_bare_string_is_refused_without_it(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(f"{SECRET} and the rest of a token file\n")
    error = refused(path, catalog)
    assert "must be a YAML mapping" in str(error)
    assert SECRET not in str(error)


def test_a_long_value_is_shown_once_and_shortened(tmp_path: Path, catalog: RegionCatalog) -> None:
    long = "x" * 300
    path = tmp_path / "manifest.yaml"
    path.write_text(f'version: 1\nadministrator: "{long}"\n')
    error = refused(path, catalog)
    message = str(error)
    assert "x" * 100 not in message
    assert len(message) < 400
