"""The whole file must be UTF-8, comments included (issue 13, point 7).

Every byte of a manifest file, of each file of a directory manifest and of a CSV file is
decoded before any YAML is parsed, so a Latin-1 byte in a comment is refused like one in a
value: one line naming the file, the line and the byte (its value and offset), never the text
around it. A UTF-8 byte-order mark is accepted. A saved plan (``--plan``) is held to the same
rule: exit 3 naming the byte, not a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifest
from reconciler.model import RegionCatalog
from tests.manifest.conftest import BASE, WriteManifest

VALID = BASE.encode()
HEADER = BASE[: BASE.index("members:\n")].encode()


def refused(path: Path, catalog: RegionCatalog) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, catalog=catalog)
    message = str(info.value)
    assert "\n" not in message
    assert "codec" not in message  # Python's words, not ours
    return info.value


@pytest.mark.parametrize(
    ("content", "line", "offset"),
    [
        # A comment line at the top, before any key.
        (b"# caf\xe9 manifest\n" + VALID, 1, 5),
        # A comment after a value.
        (VALID.replace(b"version: 1\n", b"version: 1  # r\xe9vision\n"), 1, 15),
        # A comment on the last line, with no line break after it.
        (VALID + b"# fin \xff", 15, len(VALID) + 6),
        # A comment-only line in the middle of the members.
        (
            VALID.replace(b"members:\n", b"members:\n  # \xe0 voir\n"),
            11,
            VALID.index(b"members:") + 13,
        ),
        # Not Latin-1 but not UTF-8 either: an encoded surrogate, an overlong '/'.
        (b"# \xed\xa0\x80\n" + VALID, 1, 2),
        (b"# \xc0\xaf\n" + VALID, 1, 2),
    ],
)
def test_a_byte_that_is_not_utf8_is_refused_wherever_it_is(
    content: bytes, line: int, offset: int, write: WriteManifest, catalog: RegionCatalog
) -> None:
    path = write(content)
    error = refused(path, catalog)
    assert (error.path, error.line) == (str(path), line)
    assert f"byte 0x{content[offset]:02x} at byte offset {offset} cannot be decoded" in str(error)
    # The comment's text is not echoed.
    for word in ("caf", "vision", "fin", "voir"):
        assert word not in str(error)


def test_in_a_comment_of_a_directory_manifest_file(tmp_path: Path, catalog: RegionCatalog) -> None:
    root = tmp_path / "manifest.d"
    root.mkdir()
    (root / "00-base.yaml").write_bytes(VALID)
    (root / "10-team.yaml").write_bytes(
        b'members:\n  - accountId: "444444444444"  # \xe9quipe\n    email: aws+444@example.com\n'
    )
    error = refused(root, catalog)
    assert (error.path, error.line) == (str(root / "10-team.yaml"), 2)
    assert "byte 0xe9" in str(error)
    assert "quipe" not in str(error)


def test_in_any_row_of_a_csv_file(write: WriteManifest, catalog: RegionCatalog) -> None:
    rows = b"".join(f"{n}00000000000,aws+{n}@example.com\n".encode() for n in range(2, 9))
    csv = write(rows.replace(b"aws+7", b"\xe9+7"), "members.csv")
    path = write(HEADER + b"members: {csv: members.csv}\n")
    error = refused(path, catalog)
    assert (error.path, error.line) == (str(csv), 6)
    assert "byte 0xe9" in str(error)
    assert "example.com" not in str(error)


def test_a_utf8_byte_order_mark_and_utf8_comments_are_accepted(
    write: WriteManifest, catalog: RegionCatalog
) -> None:
    text = "\ufeff# équipe sécurité, 日本\n" + BASE
    manifest = load_manifest(write(text.encode()), catalog=catalog)
    assert [m.account_id for m in manifest.members] == ["222222222222", "333333333333"]


def test_a_saved_plan_that_is_not_utf8_is_exit_3_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler import cli

    plan = tmp_path / "plan.json"
    # Past the first 8 KiB, where a text-mode read would count from its own chunk.
    plan.write_bytes(b'{"format": "' + b"x" * 10_000 + b'\xe9"}\n')
    assert cli.main(["--plan", str(plan)]) == cli.EXIT_INVALID
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"reconcile: error: {plan}: not a saved plan: the file is not UTF-8 text: byte 0xe9 at "
        "byte offset 10012 cannot be decoded\n"
    )
