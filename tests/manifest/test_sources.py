"""Directory manifests and CSV members: merging, provenance in errors, the CSV format."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import RegionCatalog, Service
from tests.manifest.conftest import BASE, WriteManifest

HEADER = """\
version: 1
administrator:
  accountId: "111111111111"
regions: [us-east-1, eu-west-1]
services:
  guardduty:
    mode: organization
  securityhub:
    mode: organization
"""
TEAM_A = """\
members:
  - accountId: "222222222222"
    email: aws+222@example.com
"""
TEAM_B = """\
version: 1
members:
  - accountId: "333333333333"
    email: aws+333@example.com
    services: [securityhub]
"""


def directory(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "manifest.d"
    root.mkdir()
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body)
    return root


def refused(path: Path, catalog: RegionCatalog) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, catalog=catalog)
    assert "\n" not in str(info.value)
    return info.value


# --- directories -----------------------------------------------------------------------


def test_directory_files_are_merged_in_name_order(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {"00-base.yaml": HEADER, "20-team-b.yml": TEAM_B, "10-team-a.yaml": TEAM_A},
    )
    manifest = load_manifest(root, catalog=catalog)
    assert [m.account_id for m in manifest.members] == ["222222222222", "333333333333"]
    assert manifest.members[1].services == frozenset({Service("securityhub")})
    assert manifest.source == str(root)
    assert manifest.files == tuple(
        str(root / name) for name in ("00-base.yaml", "10-team-a.yaml", "20-team-b.yml")
    )


def test_directory_ignores_other_files_hidden_files_and_subdirectories(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    root = directory(
        tmp_path,
        {
            "00-base.yaml": HEADER + TEAM_A,
            "README.md": "not yaml",
            ".#00-base.yaml": "editor lock file: {",
            "nested/x.yaml": "not: [read",
        },
    )
    assert len(load_manifest(root, catalog=catalog).members) == 1


def test_identical_values_in_two_files_are_fine(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {"a.yaml": HEADER, "b.yaml": "regions: [us-east-1, eu-west-1]\n" + TEAM_A},
    )
    assert load_manifest(root, catalog=catalog).regions == ("us-east-1", "eu-west-1")


def test_mappings_merge_key_by_key(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {
            "a.yaml": HEADER.replace("  securityhub:\n    mode: organization\n", ""),
            "b.yaml": "services:\n  securityhub:\n    mode: invitation\n",
            "c.yaml": "prune: {enabled: true}\n",
            "d.yaml": "prune: {maxDeletions: 2}\n",
        },
    )
    manifest = load_manifest(root, catalog=catalog)
    assert set(manifest.services) == {Service("guardduty"), Service("securityhub")}
    assert (manifest.prune.enabled, manifest.prune.max_deletions) == (True, 2)


def test_conflicting_scalar_names_both_files(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {"a.yaml": HEADER, "b.yaml": "prune: {}\nservices:\n  guardduty:\n    mode: invitation\n"},
    )
    error = refused(root, catalog)
    assert error.path == str(root / "b.yaml")
    assert error.line == 4
    assert error.field == "services.guardduty.mode"
    assert f"set differently in {root / 'a.yaml'}:7 ('organization')" in str(error)


def test_conflicting_list_names_both_files(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(tmp_path, {"a.yaml": HEADER, "b.yaml": "regions: [eu-west-1]\n"})
    error = refused(root, catalog)
    assert (error.path, error.line, error.field) == (str(root / "b.yaml"), 1, "regions")
    assert f"{root / 'a.yaml'}:4" in str(error)


def test_duplicate_member_across_files_names_both(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(tmp_path, {"a.yaml": HEADER + TEAM_A, "b.yaml": "\n" + TEAM_A})
    error = refused(root, catalog)
    assert (error.path, error.line, error.field) == (
        str(root / "b.yaml"),
        3,
        "members[0].accountId",
    )
    assert f"first at members[0].accountId in {root / 'a.yaml'}:11" in str(error)


def test_errors_in_a_later_file_name_that_file(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {"a.yaml": HEADER + TEAM_A, "b.yaml": 'members:\n  - accountId: "444444444444"\n'},
    )
    error = refused(root, catalog)
    assert (error.path, error.line, error.field) == (str(root / "b.yaml"), 2, "members[0]")
    assert "an email is required" in str(error)


def test_a_key_no_file_sets_names_the_directory(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(tmp_path, {"a.yaml": HEADER.replace("version: 1\n", ""), "b.yaml": TEAM_A})
    error = refused(root, catalog)
    assert (error.path, error.line) == (str(root), None)
    assert "version is missing" in str(error)


def test_a_missing_key_in_a_merged_mapping(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {
            "a.yaml": HEADER.replace('  accountId: "111111111111"\n', "  roleArn: x\n"),
            "b.yaml": "administrator: {roleArn: x}\n" + TEAM_A,
        },
    )
    error = refused(root, catalog)
    # The administrator mapping was merged from both files; a.yaml wrote it first.
    assert (error.path, error.line, error.field) == (
        str(root / "a.yaml"),
        2,
        "administrator.accountId",
    )
    assert "required key 'accountId' is missing" in str(error)


def test_empty_directory(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(tmp_path, {"notes.txt": "x"})
    assert "holds no *.yaml or *.yml file" in str(refused(root, catalog))


# --- CSV ---------------------------------------------------------------------------------


def with_csv(tmp_path: Path, rows: str | bytes, *, manifest: str = HEADER) -> Path:
    (tmp_path / "accounts").mkdir(exist_ok=True)
    csv = tmp_path / "accounts" / "members.csv"
    if isinstance(rows, bytes):
        csv.write_bytes(rows)
    else:
        csv.write_text(rows, newline="")
    path = tmp_path / "manifest.yaml"
    path.write_text(manifest + "members: {csv: accounts/members.csv}\n")
    return path


def test_csv_in_the_aws_scripts_format(tmp_path: Path, catalog: RegionCatalog) -> None:
    rows = (
        "222222222222,aws+222@example.com\r\n"
        "\r\n"
        " 333333333333 , aws+333@example.com \r\n"
        '"444444444444","aws+444@example.com"\r\n'
    )
    manifest = load_manifest(with_csv(tmp_path, rows), catalog=catalog)
    assert [(m.account_id, m.email) for m in manifest.members] == [
        ("222222222222", "aws+222@example.com"),
        ("333333333333", "aws+333@example.com"),
        ("444444444444", "aws+444@example.com"),
    ]
    assert manifest.members[0].services == frozenset({Service("guardduty"), Service("securityhub")})
    assert str(tmp_path / "accounts" / "members.csv") in manifest.files


def test_csv_with_old_mac_line_endings(tmp_path: Path, catalog: RegionCatalog) -> None:
    # Excel for Mac's "CSV (Macintosh)" ends each line with a lone CR.
    rows = "222222222222,aws+222@example.com\r\r333333333333,aws+333@example.com\r"
    manifest = load_manifest(with_csv(tmp_path, rows), catalog=catalog)
    assert [m.account_id for m in manifest.members] == ["222222222222", "333333333333"]
    bad = "222222222222,aws+222@example.com\r\r33333333333,aws+333@example.com\r"
    error = refused(with_csv(tmp_path, bad), catalog)
    assert (error.line, error.field) == (3, "accountId")


def test_csv_with_a_byte_order_mark(tmp_path: Path, catalog: RegionCatalog) -> None:
    rows = "\ufeff222222222222,aws+222@example.com\n".encode()
    assert len(load_manifest(with_csv(tmp_path, rows), catalog=catalog).members) == 1


def test_csv_without_emails_for_security_hub(tmp_path: Path, catalog: RegionCatalog) -> None:
    header = HEADER.replace("  guardduty:\n    mode: organization\n", "")
    manifest = load_manifest(
        with_csv(tmp_path, "222222222222\n333333333333,\n", manifest=header), catalog=catalog
    )
    assert [m.email for m in manifest.members] == [None, None]


@pytest.mark.parametrize(
    ("rows", "reason", "line", "field"),
    [
        (
            "222222222222,aws+222@example.com\n22222222222,aws+2@example.com\n",
            "has 11",
            2,
            "accountId",
        ),
        (
            "222222222222,aws+222@example.com\n\n\n2222222222222,a@example.com\n",
            "has 13",
            4,
            "accountId",
        ),
        ("222222222222,aws+222@example.com\n333333333333,bad\n", "6 to 64 characters", 2, "email"),
        ("222222222222,aws+222@example.com\n333333333333\n", "an email is required", 2, None),
        ("111111111111,aws+111@example.com\n", "this is the administrator account", 1, "accountId"),
        (
            "222222222222,a+1@example.com\r\n222222222222,a+2@example.com\r\n",
            "listed twice (first at line 1)",
            2,
            "accountId",
        ),
        ("AccountId,Email\n", "looks like a header line", 1, None),
        ("222222222222,aws+222@example.com,x\n", "found 3 columns", 1, None),
        ('"222222222222,aws+222@example.com\n', "not a valid CSV line", 1, None),
    ],
)
def test_csv_errors_name_the_csv_file_and_line(
    rows: str, reason: str, line: int, field: str | None, tmp_path: Path, catalog: RegionCatalog
) -> None:
    error = refused(with_csv(tmp_path, rows), catalog)
    assert reason in str(error)
    assert error.path == str(tmp_path / "accounts" / "members.csv")
    assert error.line == line
    assert error.field == field


def test_csv_not_utf8(tmp_path: Path, catalog: RegionCatalog) -> None:
    error = refused(with_csv(tmp_path, b"222222222222,caf\xe9@example.com\n"), catalog)
    assert "byte 0xe9 at byte offset 16" in str(error)


def test_csv_path_missing(tmp_path: Path, catalog: RegionCatalog) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(HEADER + "members: {csv: nope.csv}\n")
    error = refused(path, catalog)
    assert (error.path, error.line, error.field) == (str(path), 10, "members.csv")
    assert "no such CSV file" in str(error)


def test_csv_in_a_directory_manifest(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = directory(
        tmp_path,
        {
            "00-base.yaml": HEADER + TEAM_A,
            "10-imported.yaml": "members: {csv: imported.csv}\n",
            "imported.csv": "333333333333,aws+333@example.com\n222222222222,aws+222@example.com\n",
        },
    )
    error = refused(root, catalog)
    assert (error.path, error.line) == (str(root / "imported.csv"), 2)
    assert f"first at members[0].accountId in {root / '00-base.yaml'}:11" in str(error)


def test_base_manifest_is_valid(write: WriteManifest, catalog: RegionCatalog) -> None:
    assert len(load_manifest(write(BASE), catalog=catalog).members) == 2
