"""Two accounts with one root email are refused (issue 13, point 6).

AWS root emails are unique and compared ignoring case, so a repeated email is always a copy
error, which GuardDuty would only report a run later as EmailVerificationFailed. The error names
both accounts and where each email is written, in a single file, across the files of a
directory manifest and in CSV files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import RegionCatalog
from tests.manifest.conftest import BASE, WriteManifest

HEADER = BASE[: BASE.index("members:\n")]


def refused(path: Path, catalog: RegionCatalog) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, catalog=catalog)
    assert "\n" not in str(info.value)
    return info.value


def test_same_email_twice_names_both_accounts_and_lines(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    path = write(BASE.replace("aws+333@example.com", "aws+222@example.com"))
    error = refused(path, catalog)
    assert (error.path, error.line, error.field) == (str(path), 14, "members[1].email")
    message = str(error)
    assert "account 333333333333 has the same root email as account 222222222222" in message
    assert "(at members[0].email, line 12;" in message
    assert "value 'aws+222@example.com'" in message


@pytest.mark.parametrize(
    "copy", ["AWS+222@example.com", "aws+222@EXAMPLE.COM", "Aws+222@Example.Com"]
)
def test_emails_are_compared_ignoring_case(
    copy: str, write: WriteManifest, catalog: RegionCatalog
) -> None:
    error = refused(write(BASE.replace("aws+333@example.com", copy)), catalog)
    assert error.line == 14
    # Both spellings are shown: the value here, the first one where it is written.
    assert f"value {copy!r}" in str(error)
    assert "written aws+222@example.com there" in str(error)


def test_distinct_emails_and_members_without_email_pass(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    text = BASE + "".join(
        f'  - accountId: "{n}"\n    services: [securityhub]\n'
        for n in ("444444444444", "555555555555")
    )
    manifest = load_manifest(write(text), catalog=catalog)
    assert [m.email for m in manifest.members] == [
        "aws+222@example.com",
        "aws+333@example.com",
        None,
        None,
    ]


def test_across_files_of_a_directory_manifest(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = tmp_path / "manifest.d"
    root.mkdir()
    (root / "00-base.yaml").write_text(BASE)
    (root / "10-team.yaml").write_text(
        'members:\n  - accountId: "444444444444"\n    email: AWS+333@example.com\n'
    )
    error = refused(root, catalog)
    assert (error.path, error.line, error.field) == (
        str(root / "10-team.yaml"),
        3,
        "members[0].email",
    )
    assert "account 444444444444 has the same root email as account 333333333333" in str(error)
    assert f"(at members[1].email in {root / '00-base.yaml'}:14," in str(error)


def test_within_a_csv_file(write: WriteManifest, catalog: RegionCatalog) -> None:
    write("222222222222,aws+222@example.com\n333333333333,AWS+222@example.com\n", "members.csv")
    path = write(HEADER + "members: {csv: members.csv}\n")
    error = refused(path, catalog)
    assert (error.path, error.line, error.field) == (str(path.parent / "members.csv"), 2, "email")
    assert "account 333333333333 has the same root email as account 222222222222" in str(error)
    assert "(at line 1," in str(error)


def test_between_a_csv_file_and_inline_members(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = tmp_path / "manifest.d"
    root.mkdir()
    (root / "00-base.yaml").write_text(BASE)
    (root / "10-imported.yaml").write_text("members: {csv: imported.csv}\n")
    (root / "imported.csv").write_text(
        "444444444444,aws+444@example.com\n555555555555,aws+222@example.com\n"
    )
    error = refused(root, catalog)
    assert (error.path, error.line) == (str(root / "imported.csv"), 2)
    assert "account 555555555555 has the same root email as account 222222222222" in str(error)
    assert f"(at members[0].email in {root / '00-base.yaml'}:12;" in str(error)


def test_a_50000_member_manifest_with_one_copy_at_the_end(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    # One pass over the members: the copy of the first member's email is found at the last.
    ids = [f"{n:012d}" for n in range(200_000_000_000, 200_000_050_000)]
    rows = [f"{account},aws+{account}@example.com" for account in ids[:-1]]
    rows.append(f"{ids[-1]},AWS+{ids[0]}@example.com")
    write("\n".join(rows) + "\n", "members.csv")
    guardduty_only = HEADER.replace("  securityhub:\n    mode: organization\n", "")
    path = write(guardduty_only + "members: {csv: members.csv}\n")
    error = refused(path, catalog)
    assert (error.line, error.field) == (50_000, "email")
    assert f"account {ids[-1]} has the same root email as account {ids[0]}" in str(error)
