"""Members from a CSV file, in the format of AWS's multi-account enablement scripts.

Teams moving from those scripts (amazon-guardduty-multiaccount-scripts and the Security Hub
one) keep their account list as ``AccountId,Email`` lines with no header. ``members: {csv:
path}`` reads that file as is. This module only splits it into rows and remembers each row's
line; the rows are validated like YAML members, and :mod:`reconciler.manifest.loading` names
the CSV file and line in any error.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from reconciler.errors import ManifestError
from reconciler.manifest.yamlio import read_text

_LINE_BREAK = re.compile("\r\n|\r|\n")
_HEADER_WORDS = frozenset({"accountid", "account_id", "account id", "account", "id"})


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
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        try:
            fields = [field.strip() for field in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            raise ManifestError(
                f"not a valid CSV line ({exc})", path=path, line=number, value=line, has_value=True
            ) from None
        if not entries and fields[0].casefold() in _HEADER_WORDS:
            raise ManifestError(
                "this looks like a header line; the AWS scripts' CSV format has none "
                "(one AccountId,Email per line): remove it",
                path=path,
                line=number,
                value=line,
                has_value=True,
            )
        if len(fields) > 2:
            raise ManifestError(
                f"expected AccountId,Email (2 columns), found {len(fields)} columns",
                path=path,
                line=number,
                value=line,
                has_value=True,
            )
        entry = {"accountId": fields[0]}
        if len(fields) == 2 and fields[1]:
            entry["email"] = fields[1]
        entries.append(entry)
        lines.append(number)
    return CsvMembers(path=path, data=data, entries=tuple(entries), lines=tuple(lines))
