"""The safe YAML reader: typing of plain scalars, the refusals, the bounds, and `locate`."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import ManifestError
from reconciler.manifest import yamlio
from reconciler.manifest.yamlio import locate, parse_yaml, read_text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("012345678901", 12345678901),  # YAML 1.1 would give the string "012345678901"
        ("0123", 123),  # YAML 1.1 would give octal 83
        ("-7", -7),
        ("+7", 7),
        ("0o17", 15),
        ("0x1f", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-.inf", float("-inf")),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("yes", "yes"),  # YAML 1.1 booleans are strings in 1.2
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("2024-01-01", "2024-01-01"),  # no timestamps
        ("1:30", "1:30"),  # no sexagesimal numbers
        ("1_000", "1_000"),
        ("'012345678901'", "012345678901"),
        ('"true"', "true"),
        ("!!str 012345678901", "012345678901"),
        ("! 12", "12"),
        ("aws+222@example.com", "aws+222@example.com"),
        ("nonsense", "nonsense"),
        ("|\n  block\n", "block\n"),
    ],
)
def test_plain_scalars_follow_yaml_1_2(text: str, value: Any) -> None:
    assert parse_yaml(f"key: {text}\n", "m.yaml") == {"key": value}


def test_keys_stay_as_written() -> None:
    assert parse_yaml("on: 1\n12: 2\ntrue: 3\n", "m.yaml") == {"on": 1, "12": 2, "true": 3}


def test_not_a_number() -> None:
    value = parse_yaml("key: .nan\n", "m.yaml")["key"]
    assert value != value


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "---\n...\n", "~\n"])
def test_no_document_is_none(text: str) -> None:
    assert parse_yaml(text, "m.yaml") is None


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        ("a: &x 1\nb: *x\n", "YAML anchors (&x) and aliases are not allowed", 1),
        ("a: [1, *x]\n", "YAML aliases (*x) are not allowed", 1),
        ("a: 1\n---\nb: 2\n", "a manifest is a single YAML document", 2),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first set on line 1)", 3),
        ("a:\n  b: 1\n  b: 1\n", "duplicate key 'b' (first set on line 2)", 3),
        ("a: {<<: {b: 1}}\n", "YAML merge keys (<<) are not allowed", 1),
        ("a: !!binary aGVsbG8=\n", "YAML tag tag:yaml.org,2002:binary is not allowed", 1),
        ("a: !!set {b}\n", "YAML tag tag:yaml.org,2002:set is not allowed", 1),
        ("? {a: 1}\n: b\n", "a mapping key must be a plain name", 1),
        ("a:\n  - 1\n  -\n", "empty value (null)", 3),
        ("a: null\n", "empty value (null)", 1),
        ("a: ~\n", "empty value (null)", 1),
        # A truncated file is refused on its last line, not on the line after it.
        ("a: [1\n", "invalid YAML: did not find expected ',' or ']' at the end of the file", 1),
        ("a: 'x\n", "invalid YAML: found unexpected end of stream (while scanning", 1),
        ("a: 1\nb: [\n\n", "(while parsing a flow node)", 3),
        ("a: [1, 2\nb: 3\n", "(while parsing a flow sequence that started on line 1)", 2),
        ("a:\n\t- 1\n", "tabs cannot indent YAML", 2),
        ("a: b\x07\n", "character #x0007 is not allowed", 1),
    ],
)
def test_refusals_name_the_line(text: str, reason: str, line: int) -> None:
    with pytest.raises(ManifestError) as info:
        parse_yaml(text, "m.yaml")
    assert reason in str(info.value)
    assert info.value.line == line
    assert str(info.value).startswith(f"m.yaml:{line}")


@pytest.mark.parametrize(
    "line_break", ["\r", "\r\n", "\x85", "\u2028", "\u2029"], ids=["cr", "crlf", "nel", "ls", "ps"]
)
def test_yaml_line_breaks_other_than_newline_count_as_lines(line_break: str) -> None:
    # YAML counts these as line breaks, so its marks do too; the line shown must be YAML's, and
    # looking it up must not fail on a file with fewer "\n"s than YAML lines.
    tabbed = line_break.join(["a:", "\t- 1", ""])
    with pytest.raises(ManifestError) as info:
        parse_yaml(tabbed, "m.yaml")
    assert str(info.value).startswith("m.yaml:2: invalid YAML")
    assert str(info.value).endswith("; tabs cannot indent YAML, use spaces")

    truncated = line_break.join(["a: 1", "b: 2", "c: ["])
    with pytest.raises(ManifestError) as info:
        parse_yaml(truncated, "m.yaml")
    assert str(info.value).startswith("m.yaml:3: invalid YAML")
    assert "at the end of the file" in str(info.value)


@pytest.mark.parametrize("loader", ["libyaml", "pure"])
def test_a_disallowed_character_is_placed_on_its_yaml_line(
    loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader error carries an offset, not a line (libyaml's in UTF-8 bytes, so the non-ASCII
    # characters ahead of it must not push it down): count YAML's line breaks before it.
    if loader == "pure":
        monkeypatch.setattr(yamlio, "_Loader", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.fail("this PyYAML has no libyaml: the container's wheels do")
    text = "name: Zoë Ørsted\u2028team: sécurité\r\nc: x\x07\nd: 1\n"
    with pytest.raises(ManifestError) as info:
        parse_yaml(text, "m.yaml")
    assert str(info.value).startswith("m.yaml:3: invalid YAML: character #x0007")


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbfa: 1\nb: [x, {c: d}]\n",
        b"\xef\xbb\xbfa: 1\nb: \x01\n",
        "name: Zo\u00eb\rteam: [".encode(),
        b"\xef\xbb\xbfa: 1\na: 2\n",
        "a:\u2028\t- 1\n".encode(),
    ],
    ids=["bom", "bom-control-character", "non-ascii-cr-truncated", "bom-duplicate", "ls-tab"],
)
def test_parsing_the_files_bytes_reads_as_parsing_its_text(raw: bytes, tmp_path: Path) -> None:
    # The loader reads the manifest's bytes (no UTF-8 copy of the text): values, lines and
    # messages are those of the text, byte-order mark and non-ASCII text included.
    path = tmp_path / "m.yaml"
    path.write_bytes(raw)
    text, data = yamlio.read_text(str(path))

    def outcome(utf8: bytes | None) -> object:
        try:
            return parse_yaml(text, "m.yaml", utf8=utf8)
        except ManifestError as error:
            return str(error)

    assert outcome(data) == outcome(None)
    assert yamlio.locate(data, [("a",)]) == yamlio.locate(text, [("a",)])


def test_depth_limit_is_exact() -> None:
    fits = "[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH
    assert parse_yaml(fits, "m.yaml") is not None
    deeper = "[" * (yamlio.MAX_DEPTH + 1) + "]" * (yamlio.MAX_DEPTH + 1)
    with pytest.raises(ManifestError, match="nested more than 32 levels"):
        parse_yaml(deeper, "m.yaml")


def test_deep_nesting_fails_fast_without_recursion() -> None:
    # PyYAML's own C composer segfaults on this; we stop at level 33.
    with pytest.raises(ManifestError, match="nested more than"):
        parse_yaml("a: " + "[" * 1_000_000, "m.yaml")


def test_libyaml_own_depth_limit_reads_as_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    # libyaml builds with a nesting limit of their own (PyYAML 6.0.4's wheels) stop in the
    # scanner, ahead of our check; whichever libyaml is installed, the user reads one message.
    def scanner_refuses(*_: object) -> None:
        mark = yaml.Mark("m.yaml", 0, 15, 3, None, None)
        raise yaml.scanner.ScannerError(
            "while increasing flow level", mark, "exceeded maximum nesting depth", mark
        )

    monkeypatch.setattr(yamlio, "_build", scanner_refuses)
    with pytest.raises(ManifestError) as info:
        parse_yaml("#\n" * 15 + "x: [[[]]]", "m.yaml")
    assert str(info.value) == (
        "m.yaml:16: the YAML is nested more than 32 levels deep; a manifest needs at most 5"
    )


def test_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_NODES", 10)
    assert parse_yaml("[1, 2, 3, 4, 5, 6, 7, 8, 9]", "m.yaml") == list(range(1, 10))
    with pytest.raises(ManifestError, match="more than 10 YAML nodes"):
        parse_yaml("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "m.yaml")


def test_billion_laughs_in_bounded_memory() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError, match="anchors"):
            parse_yaml("\n".join(lines), "m.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024


def test_read_text_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ManifestError) as info:
        read_text(str(path))
    assert "byte 0xe9 at byte offset 11" in str(info.value)
    assert info.value.line == 2


def test_read_text_strips_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes("\ufeffa: 1\n".encode())
    assert read_text(str(path))[0] == "a: 1\n"


def test_size_cap_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 100)
    path = tmp_path / "m.yaml"
    path.write_bytes(b"a: 1\n" * 21)
    with pytest.raises(ManifestError, match="the file is 105 bytes; a manifest may be at most 100"):
        read_text(str(path))


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="found a directory"):
        read_text(str(tmp_path))


def test_locate_finds_keys_items_and_prefixes() -> None:
    text = (
        "version: 1\n"
        "members:\n"
        '  - accountId: "222222222222"\n'
        "    email: a@example.com\n"
        "  - accountId: 012345678901\n"
        "regions: [us-east-1,\n"
        "  eu-west-1]\n"
    )
    found = locate(
        text,
        [("members", 1, "accountId"), ("members", 0, "email"), ("regions", 1), ("nope", 3)],
    )
    assert found[("members", 1, "accountId")].line == 5
    assert found[("members", 1, "accountId")].raw == "012345678901"
    assert found[("members", 0, "email")].line == 4
    assert found[("members", 1)].line == 5
    assert found[("members",)].line == 2
    assert found[("regions", 1)].line == 7
    assert found[()].line == 1
    assert ("nope",) not in found


def test_format_loc() -> None:
    assert yamlio.format_loc(("members", 3, "accountId")) == "members[3].accountId"
    assert yamlio.format_loc(("regions", 0)) == "regions[0]"
    assert yamlio.format_loc(()) == ""
