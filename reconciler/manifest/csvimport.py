"""Members from a CSV file, in the format of AWS's multi-account enablement scripts.

Teams moving from those scripts (awslabs' ``*-multiaccount-scripts``, one per service) keep their
account list as ``AccountId,Email`` lines with no header. ``members: {csv: path}`` reads that file
as is. This module only splits it into rows and remembers each row's line; the rows are validated
like YAML members, and :mod:`reconciler.manifest.loading` names the CSV file and line in any error.

An error here names the line, never shows it: a line is not the value of any field, and the
file named may not be a members list at all (a copied ``.env``, a credentials file), whose
content must not end up in a CI log. A file none of whose lines starts with something like an
account ID is refused as a whole, without any of its content.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from reconciler.errors import ManifestError
from reconciler.manifest.yamlio import read_text

_LINE_BREAK = re.compile("\r\n|\r|\n")
_HEADER_WORDS = frozenset({"accountid", "account_id", "account id", "account", "id"})
# What a member row starts with, even a mistyped one ("2222 2222 2222", a quote left open):
# digits, and the spaces and dashes people write account IDs with.
_ACCOUNT_LIKE = re.compile(r'\s*"?\s*[0-9][0-9 -]*"?\s*(,|$)')


@dataclass(frozen=True, slots=True)
class CsvMembers:
    """The rows of one CSV file: raw member entries and the 1-based line of each."""

    path: str
    data: bytes
    entries: tuple[dict[str, str], ...]
    lines: tuple[int, ...]


def read_members_csv(path: str) -> CsvMembers:
    """Read ``AccountId,Email`` rows; blank lines are skipped; LF, CRLF and CR all end a line."""
    text, data = read_text(path, what="CSV file")
    entries: list[dict[str, str]] = []
    lines: list[int] = []
    # A lone CR too: Excel for Mac's "CSV (Macintosh)" ends lines with it.
    numbered = [
        (number, line)
        for number, line in enumerate(_LINE_BREAK.split(text), start=1)
        if line.strip()
    ]
    if (
        numbered
        and not any(_ACCOUNT_LIKE.match(line) for _, line in numbered)
        and _first_field(numbered[0][1]).casefold() not in _HEADER_WORDS  # said below
    ):
        raise ManifestError(
            "no line of this file is a member row (AccountId,Email, one per line, the "
            "account ID 12 digits): is it the members CSV? (the content is not shown)",
            path=path,
        )
    for number, line in numbered:
        try:
            fields = [field.strip() for field in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            raise ManifestError(f"not a valid CSV line ({exc})", path=path, line=number) from None
        if not entries and fields[0].casefold() in _HEADER_WORDS:
            raise ManifestError(
                "this looks like a header line; the AWS scripts' CSV format has none "
                "(one AccountId,Email per line): remove it",
                path=path,
                line=number,
            )
        if len(fields) > 2:
            raise ManifestError(
                f"expected AccountId,Email (2 columns), found {len(fields)} columns",
                path=path,
                line=number,
            )
        entry = {"accountId": fields[0]}
        if len(fields) == 2 and fields[1]:
            entry["email"] = fields[1]
        entries.append(entry)
        lines.append(number)
    return CsvMembers(path=path, data=data, entries=tuple(entries), lines=tuple(lines))


def _first_field(line: str) -> str:
    return line.split(",", 1)[0].strip().strip('"').strip()
