"""Load a manifest from disk: one YAML file, or a directory of them, into a Manifest.

The steps, each refusing bad input with a one-line :class:`~reconciler.errors.ManifestError`:

1. read each file safely and build its data (:mod:`reconciler.manifest.yamlio`);
2. per file: it must be a mapping, its ``version`` must be 1, and ``members: {csv: path}``
   is replaced by the CSV's rows (:mod:`reconciler.manifest.csvimport`);
3. merge the files of a directory: ``members`` lists are concatenated, mappings merged key by
   key, and a value set differently in two files is refused naming both;
4. validate the merged data with the pydantic models (:mod:`reconciler.manifest.models`);
5. check the cross-field rules and build the Manifest (:mod:`reconciler.manifest.checks`).

Line numbers are looked up only when there is an error to report: this module remembers,
for every top-level key and every member, which file (and which CSV line) it came from, and
:func:`~reconciler.manifest.yamlio.locate` finds the line within that file. pydantic's own
messages are never shown; each error type is rewritten as one short sentence.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler import filekind
from reconciler.errors import ManifestError
from reconciler.manifest import checks
from reconciler.manifest.csvimport import CsvMembers, read_members_csv
from reconciler.manifest.models import (
    ManifestDocument,
    account_id_problem,
    email_problem,
    ou_id_problem,
    role_arn_problem,
    role_name_problem,
)
from reconciler.manifest.values import Manifest
from reconciler.manifest.yamlio import (
    Loc,
    Spot,
    format_loc,
    locate,
    parse_yaml,
    pause_gc,
    read_text,
)
from reconciler.model import RegionCatalog
from reconciler.services import registry

_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class _Part:
    """One YAML file of the manifest, parsed, with its members taken out."""

    path: str
    raw: bytes  # for the digest, and to locate paths for error messages (the text is not kept)
    data: dict[str, Any]
    has_members: bool = False
    members: list[Any] = field(default_factory=list)
    # Per member: the index in this file's list, or the row of a CSV file.
    member_origins: list[int] = field(default_factory=list)
    csv: CsvMembers | None = None


@dataclass(slots=True)
class _Origin:
    """Which file set a key; for a mapping merged from several files, per subkey."""

    part: _Part
    children: dict[str, _Origin] | None = None


@dataclass(slots=True)
class _Sources:
    """Everything needed to turn a path into the merged document into a file and line."""

    given: str
    parts: list[_Part]
    origins: dict[str, _Origin] = field(default_factory=dict)
    member_parts: list[_Part] = field(default_factory=list)
    member_origins: list[int] = field(default_factory=list)


def load_manifest(path: str | os.PathLike[str], *, catalog: RegionCatalog) -> Manifest:
    """Load and validate the manifest at ``path`` (a YAML file or a directory of them).

    Raises :class:`~reconciler.errors.ManifestError`, and nothing else, for any invalid input.
    """
    given = os.fsdecode(os.fspath(path))
    # Tens of thousands of small dicts, models and members, none of them garbage yet: the
    # cyclic collector would only rescan them, and costs a third of the load time.
    with pause_gc():
        return _load(given, catalog)


def _load(given: str, catalog: RegionCatalog) -> Manifest:
    mode = _mode(given)
    if mode is not None and stat.S_ISDIR(mode):
        root = _Root(given)
        try:
            listing = os.listdir(given)
        except OSError as exc:
            raise ManifestError(
                f"cannot list the manifest directory: {exc.strerror or exc}", path=given
            ) from None
        names = sorted(
            name for name in listing if name.endswith(_YAML_SUFFIXES) and not name.startswith(".")
        )
        paths = [os.path.join(given, name) for name in names]
        for path in paths:
            _check_directory_entry(path, root)
        if not paths:
            raise ManifestError(
                "the directory holds no *.yaml or *.yml file (a directory manifest merges "
                "the YAML files directly inside it)",
                path=given,
            )
        parts = [_read_part(path, root, in_directory=True) for path in paths]
    else:
        if mode is not None and not stat.S_ISREG(mode):
            # Refused before it is opened: reading a FIFO blocks until something writes to it.
            raise ManifestError(
                "the manifest must be a regular file or a directory, "
                f"not {filekind.describe(mode)}",
                path=given,
            )
        parts = [_read_part(given, _Root(os.path.dirname(given)), in_directory=False)]
    sources = _Sources(given=given, parts=parts)
    merged = _merge(sources)
    if "version" not in merged:
        # Before pydantic: a manifest without a version gets this, not a list of unknown keys.
        raise _error(
            sources,
            "version is missing: add `version: 1` (the manifest format this reconciler reads)",
            ("version",),
        )
    try:
        document = ManifestDocument.model_validate(merged)
    except ValidationError as exc:
        raise _validation_error(sources, exc) from None
    files: list[str] = []
    for part in parts:
        files.append(part.path)
        if part.csv is not None:
            files.append(part.csv.path)
    try:
        return checks.check_and_build(
            document, catalog, source=given, files=tuple(files), digest=_digest(parts)
        )
    except checks.Problem as problem:
        raise _error(
            sources,
            problem.reason,
            problem.loc,
            value=problem.value,
            has_value=problem.has_value,
            related=problem.related,
        ) from None


@dataclass(frozen=True, slots=True)
class _Root:
    """The directory a manifest may read files from: a file manifest's own, a directory's."""

    given: str

    @property
    def shown(self) -> str:
        return self.given or "."

    @property
    def label(self) -> str:
        return os.path.join(self.shown, "")  # "./", "manifests/": plainly a directory

    def escape(self, path: str) -> str | None:
        """How ``path`` (as it will be opened) leaves the root, or None when it does not.

        Decided on resolved paths, before the file is opened or even looked for: a manifest
        under review must not be able to make the run read (and its errors show) a file
        elsewhere on the machine, such as /proc/self/environ or a credentials file.
        """
        root = os.path.realpath(self.shown)
        if _inside(os.path.realpath(path), root):
            return None
        if _inside(os.path.abspath(path), os.path.abspath(self.shown)):
            where = f"leads outside the manifest's directory {self.label} through a symlink"
        else:
            where = f"is outside the manifest's directory {self.label}"
        return f"{where}; a manifest reads only files inside its own directory"


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _mode(path: str) -> int | None:
    """The mode of what ``path`` leads to, or None when that cannot be known (the reader says)."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def _check_directory_entry(path: str, root: _Root) -> None:
    """A *.yaml entry of a directory manifest is a regular file inside the root, or an error."""
    escape = root.escape(path)
    if escape is not None:
        raise ManifestError(f"this file of the directory manifest {escape}", path=path)
    mode = _mode(path)
    if mode is None or stat.S_ISREG(mode):
        return  # a missing target (a dangling symlink) is reported by the reader
    if stat.S_ISDIR(mode):
        raise ManifestError(
            "is a directory named like a YAML file; a directory manifest merges the YAML "
            "files directly inside it (rename the directory, or move its files up)",
            path=path,
        )
    raise ManifestError(
        f"this entry of the directory manifest is {filekind.describe(mode)}, not a regular file",
        path=path,
    )


def _read_part(path: str, root: _Root, *, in_directory: bool) -> _Part:
    text, raw = read_text(path)
    data = parse_yaml(text, path, utf8=raw)
    what = "this file of the directory manifest" if in_directory else "the manifest"
    if data is None:
        raise ManifestError(
            f"{what} is empty; a manifest starts with `version: 1`"
            if not in_directory
            else f"{what} is empty (delete it, or give it some keys)",
            path=path,
        )
    if not isinstance(data, dict):
        top = locate(raw, [()]).get(())
        raise ManifestError(
            # Only the kind: the text of a file that is no manifest at all is not shown.
            f"{what} must be a YAML mapping (key: value lines) at the top level, not "
            f"{_shape(data)}",
            path=path,
            line=top.line if top else None,
        )
    part = _Part(path=path, raw=raw, data=data)
    if "version" in data:
        version = data["version"]
        if type(version) is not int or version != 1:
            spot = _spot(part, ("version",))
            raise ManifestError(
                f"unsupported manifest version {version!r}: this reconciler reads format "
                "version 1 (write `version: 1`)"
                if type(version) is int
                else f"version must be the number 1, not {_kind(version)}",
                path=path,
                line=spot.line if spot else None,
                field="version",
                value=version,
                has_value=True,
            )
    if "members" in data:
        _take_members(part, data.pop("members"), root)
    return part


def _take_members(part: _Part, members: Any, root: _Root) -> None:
    part.has_members = True
    if isinstance(members, list):
        part.members = members
        part.member_origins = list(range(len(members)))
        return
    spot = _spot(part, ("members",))
    line = spot.line if spot else None
    if not isinstance(members, dict):
        raise ManifestError(
            f"expected a list of members, or {{csv: path}}, not {_kind(members)}",
            path=part.path,
            line=line,
            field="members",
        )
    unknown = sorted(str(key) for key in members if key != "csv")
    if unknown or "csv" not in members:
        reason = (
            f"unknown key {unknown[0]!r} in members; it is either a list of members or "
            "{csv: path}"
            if unknown
            else "members as a mapping takes one key, csv: the path of a CSV file"
        )
        raise ManifestError(reason, path=part.path, line=line, field="members")
    relative = members["csv"]
    if not isinstance(relative, str) or not relative.strip():
        raise ManifestError(
            f"expected the path of a CSV file, not {_kind(relative)}",
            path=part.path,
            line=line,
            field="members.csv",
        )
    csv_path = os.path.normpath(os.path.join(os.path.dirname(part.path), relative))
    escape = root.escape(csv_path)
    mode = _mode(csv_path) if escape is None else None
    if escape is not None or mode is None or not stat.S_ISREG(mode):
        if escape is not None:
            reason = f"the CSV file {escape}"
        elif mode is None:
            reason = f"no such CSV file: {csv_path} (the path is relative to this manifest file)"
        else:
            kind = filekind.describe(mode)
            reason = f"{csv_path} is not a regular file ({kind}); name a CSV file"
        raise ManifestError(
            reason,
            path=part.path,
            line=line,
            field="members.csv",
            value=relative,
            has_value=True,
        )
    part.csv = read_members_csv(csv_path)
    part.members = list(part.csv.entries)
    part.member_origins = list(range(len(part.members)))


def _merge(sources: _Sources) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    any_members = False
    for part in sources.parts:
        _merge_mapping(merged, sources.origins, part.data, part, ())
        if part.has_members:
            any_members = True
            sources.member_parts.extend([part] * len(part.members))
            sources.member_origins.extend(part.member_origins)
    if any_members:
        merged["members"] = [m for part in sources.parts for m in part.members]
    return merged


def _merge_mapping(
    target: dict[str, Any],
    origins: dict[str, _Origin],
    data: dict[str, Any],
    part: _Part,
    loc: Loc,
) -> None:
    for key, value in data.items():
        if key not in target:
            target[key] = value
            origins[key] = _Origin(part)
            continue
        existing = target[key]
        origin = origins[key]
        if isinstance(existing, dict) and isinstance(value, dict):
            if origin.children is None:
                # The first file's mapping is copied before the second one is merged into it,
                # and each of its keys is remembered as coming from the first file.
                target[key] = existing = dict(existing)
                origin.children = {k: _Origin(origin.part) for k in existing}
            _merge_mapping(existing, origin.children, value, part, (*loc, key))
        elif type(existing) is not type(value) or existing != value:
            here = (*loc, key)
            first = _line_of(_owner(origin, ()), here)
            spot = _spot(part, here)
            raise ManifestError(
                f"set differently in {_owner(origin, ()).path}{first} ({existing!r}); in a "
                "directory manifest each value is set in one file (or identically)",
                path=part.path,
                line=spot.line if spot else None,
                field=format_loc(here),
                value=value,
                has_value=True,
            )


def _owner(origin: _Origin, rest: Loc) -> _Part:
    # The deepest file that set a prefix of `rest` below this origin.
    for step in rest:
        if origin.children is None or not isinstance(step, str) or step not in origin.children:
            break
        origin = origin.children[step]
    return origin.part


def _line_of(part: _Part, loc: Loc) -> str:
    spot = _spot(part, loc)
    return f":{spot.line}" if spot else ""


def _spot(part: _Part, loc: Loc) -> Spot | None:
    """The spot of ``loc`` in ``part``, or of the deepest prefix of it that is written there."""
    return _find(part, loc)[0]


def _find(part: _Part, loc: Loc) -> tuple[Spot | None, bool]:
    """Like :func:`_spot`, and whether the spot is that of ``loc`` itself."""
    found = locate(part.raw, [loc])
    for length in range(len(loc), -1, -1):
        if loc[:length] in found:
            return found[loc[:length]], length == len(loc)
    return None, False


@dataclass(frozen=True, slots=True)
class _Where:
    path: str
    line: int | None
    field: Loc
    spot: Spot | None = None
    csv: bool = False

    def describe(self, seen_from: str) -> str:
        """How to point at this place in a message about another place in ``seen_from``."""
        line = "" if self.line is None else f"line {self.line}"
        if self.csv:
            return line if self.path == seen_from else f"{self.path}:{self.line}"
        label = format_loc(self.field)
        if self.path == seen_from:
            return f"{label}, {line}" if line else label
        return f"{label} in {self.path}" + (f":{self.line}" if line else "")


def _where(sources: _Sources, loc: Loc) -> _Where:
    """The file, line and file-local path of ``loc`` in the merged document."""
    if len(loc) >= 2 and loc[0] == "members" and isinstance(loc[1], int):
        index = loc[1]
        part = sources.member_parts[index]
        origin = sources.member_origins[index]
        if part.csv is not None:
            return _Where(part.csv.path, part.csv.lines[origin], loc[2:], csv=True)
        local: Loc = ("members", origin, *loc[2:])
        spot, exact = _find(part, local)
        return _Where(part.path, spot.line if spot else None, local, spot if exact else None)
    if loc and isinstance(loc[0], str) and loc[0] in sources.origins:
        part = _owner(sources.origins[loc[0]], loc[1:])
    elif len(sources.parts) == 1:
        part = sources.parts[0]
    else:
        # A key that no file of the directory sets: name the directory itself.
        return _Where(sources.given, None, loc)
    spot, exact = _find(part, loc)
    return _Where(part.path, spot.line if spot else None, loc, spot if exact else None)


def _error(
    sources: _Sources,
    reason: str,
    loc: Loc,
    *,
    value: object = None,
    has_value: bool = False,
    related: Loc | None = None,
) -> ManifestError:
    """A ManifestError for ``loc`` in the merged document, at its file and line."""
    where = _where(sources, loc)
    if related is not None:
        reason = reason.replace("{related}", _where(sources, related).describe(where.path))
    return ManifestError(
        reason,
        path=where.path,
        line=where.line,
        field=format_loc(where.field) or None,
        value=value,
        has_value=has_value,
    )


def _validation_error(sources: _Sources, exc: ValidationError) -> ManifestError:
    errors = exc.errors(include_url=False)
    error = errors[0]
    more = len(errors) - 1
    if error["type"] == "missing":
        # A misspelt key is reported twice by pydantic: the right one missing, the wrong one
        # unknown. The unknown one is the mistake the user made, and says which key it is.
        parent = tuple(error["loc"])[:-1]
        for other in errors:
            if other["type"] == "extra_forbidden" and tuple(other["loc"])[:-1] == parent:
                error = other
                more -= 1
                break
    loc: Loc = tuple(error["loc"])
    if len(loc) >= 2 and loc[0] == "members" and loc[1] in ("list", "csv"):
        loc = (loc[0], *loc[2:])  # the tag of the list-or-CSV union, not a real key
    where = _where(sources, loc)
    reason, show_value = _reason(error, loc, where)
    if more > 0:
        reason += f" ({more} more problem{'s' if more > 1 else ''} in the manifest)"
    return ManifestError(
        reason,
        path=where.path,
        line=where.line,
        field=format_loc(where.field) or None,
        value=error.get("input"),
        has_value=show_value,
    )


def _string_kind(loc: Loc) -> str | None:
    """Which kind of constrained string the value at ``loc`` is, by its key."""
    if not loc:
        return None
    name = loc[-1]
    if isinstance(name, int) and len(loc) >= 2:
        return {"protectedAccounts": "accountId", "exclude": "accountId", "ous": "ous"}.get(
            str(loc[-2])
        )
    return str(name) if name in ("accountId", "email", "roleArn", "roleName") else None


_EXPLAIN = {
    "accountId": account_id_problem,
    "email": email_problem,
    "roleArn": role_arn_problem,
    "roleName": role_name_problem,
    "ous": ou_id_problem,
}


def _reason(error: ErrorDetails, loc: Loc, where: _Where) -> tuple[str, bool]:
    """Our one sentence for a pydantic error, and whether to show the value."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    spot = where.spot
    string_kind = _string_kind(loc)
    if kind in ("string_pattern_mismatch", "string_too_short", "string_too_long"):
        explain = _EXPLAIN.get(string_kind or "")
        if explain is not None and isinstance(value, str):
            return explain(value) or "invalid value", True
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        raw = spot.raw if spot is not None and spot.raw is not None else str(value)
        dropped = " and drops its leading zero" if raw.startswith("0") else ""
        if string_kind == "accountId":
            return (
                f"account IDs must be quoted strings: YAML read {raw} as a number ({value})"
                f'{dropped}; write "{raw}"',
                False,
            )
        return f"expected a string, but YAML read {raw} as a number; put it in quotes", False
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing", False
    if kind == "extra_forbidden":
        return _unknown_key(loc), False
    if kind == "string_type":
        return f"expected a string, not {_kind(value)}", True
    if kind == "bool_type":
        return f"expected true or false, not {_kind(value)}", True
    if kind == "int_type":
        return f"expected a whole number, not {_kind(value)}", True
    if kind == "list_type":
        hint = f" (write [{value}] for a list of one)" if isinstance(value, str) else ""
        return f"expected a list, not {_kind(value)}{hint}", True
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if len(loc) == 2 and loc[0] == "members":
            return (
                f'each member is a mapping such as `- accountId: "222222222222"`, not '
                f"{_kind(value)}",
                True,
            )
        return f"expected a mapping (key: value lines), not {_kind(value)}", True
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        if len(loc) >= 2 and loc[-2] == "services":
            return f"unknown service {value!r}; expected {expected}", True
        shown = repr(value) if isinstance(value, str) else _kind(value)
        return f"expected {expected}, not {shown}", True
    if kind in ("too_short", "string_too_short"):
        return _empty_reason(loc), True
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more", True
    # Not reached by any manifest we know of; pydantic's "msg" is one line, without the
    # multi-line framing of its exception text.
    message = str(error.get("msg") or "invalid value")
    return message.splitlines()[0], True


def _empty_reason(loc: Loc) -> str:
    name = loc[-1] if loc else ""
    if loc[:1] == ("members",) and name in ("services", "regions"):
        return f"must not be empty; remove the key to mean every one of the top-level {name}"
    if name == "ous":
        return "must not be empty; remove ous to take every account of the organization"
    return "must not be empty"


def _unknown_key(loc: Loc) -> str:
    key = loc[-1]
    parent = loc[:-1]
    if parent == ("services",):
        return f"unknown service {key!r}; this reconciler manages {registry.listed(registry.NAMES)}"
    foreign = _foreign_key(parent, str(key))
    if foreign is not None:
        return foreign
    allowed = _allowed_keys(parent)
    close = difflib.get_close_matches(str(key), allowed, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    listed = f"; allowed here: {', '.join(allowed)}" if allowed else ""
    return f"unknown key {key!r}{guess}{listed}"


def _foreign_key(parent: Loc, key: str) -> str | None:
    """The message for a key that only other services take (their specs say why), or None."""
    if len(parent) < 2 or parent[0] != "services" or not registry.is_service(str(parent[1])):
        return None
    spec = registry.spec_of(str(parent[1]))
    why = spec.foreign_keys.get(key)
    if why is None:
        return None
    owners = [
        other.label
        for other in registry.SPECS
        if other is not spec and key in _keys_anywhere(other.settings)
    ]
    if not owners:
        return None
    return (
        f"{key} is {'/'.join(owners)}-only ({why}); remove it from "
        f"services.{spec.name}.{format_loc(parent[2:])}"
    )


def _keys_anywhere(model: type[BaseModel]) -> set[str]:
    """Every key ``model`` and the models inside it accept."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        inner = _model_in(info.annotation)
        if inner is not None:
            keys |= _keys_anywhere(inner)
    return keys


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the model at ``loc`` accepts, by walking the models' annotations."""
    model: type[BaseModel] | None = ManifestDocument
    for step in loc:
        if model is None:
            return []
        if isinstance(step, int):
            continue
        found = None
        for name, info in model.model_fields.items():
            if (info.alias or name) == step:
                found = _model_in(info.annotation)
        model = found
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        # Shortened like the value the message shows beside it (ManifestError's rendering).
        shown = repr(value)
        return f"the string {shown if len(shown) <= 80 else shown[:77] + '...'}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return f"the date {value}"
    return type(value).__name__


def _shape(value: Any) -> str:
    """What ``value`` is, without any of its content."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    return _kind(value)


def _digest(parts: Sequence[_Part]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        files = [(part.path, part.raw)]
        if part.csv is not None:
            files.append((part.csv.path, part.csv.data))
        for path, data in files:
            # Base names only: the same manifest checked out elsewhere has the same digest.
            sha.update(os.path.basename(path).encode() + b"\0" + data + b"\0")
    return sha.hexdigest()
