"""Read one manifest file safely, and turn its YAML into plain Python data.

Manifests arrive from pull requests, so this module treats every byte as hostile. It refuses,
before any YAML is parsed, a file over :data:`MAX_FILE_BYTES` (checked with ``stat`` first, then
enforced by a bounded read) and bytes that are not UTF-8 (naming the offset). It then drives
libyaml's event parser (``yaml.CSafeLoader``) itself instead of letting PyYAML compose and
construct the document, for three reasons:

* **Safety.** PyYAML's C composer recurses once per nesting level and crashes the interpreter
  (a segfault, not a ``RecursionError``) on a few thousand ``[``; merge keys (``<<``) copy
  entries eagerly, so a chain of them explodes in memory before any check could run. Walking
  the events lets us refuse anchors and aliases (the "billion laughs"), merge keys, tags other
  than ``!!str``, nesting deeper than :data:`MAX_DEPTH` and documents with more than
  :data:`MAX_NODES` nodes at the event where they appear, in bounded time and memory.
* **Strictness.** PyYAML keeps the last of two equal keys without a word; we refuse the second
  one. A plain (unquoted) run of digits becomes an ``int`` read as decimal, as YAML 1.2 tools
  (yq, Go, JavaScript, the editor's schema checker) read it, so ``accountId: 012345678901``
  fails validation instead of silently meaning something else to the next tool.
* **Speed.** Building dicts and lists straight from the events is several times faster than
  ``yaml.load`` with the same C parser (a 50,000-member manifest in well under a second).

The data carries no line numbers (they would cost time and memory on every load); when a later
step has something to report, :func:`locate` parses the text again and finds the lines of the
paths it names. Everything here raises :class:`~reconciler.errors.ManifestError` only.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml import events

from reconciler.errors import ManifestError

#: Larger than any real manifest (50,000 members take about 3.5 MB) and small enough that a
#: runaway file is refused before it is read.
MAX_FILE_BYTES: Final = 20 * 1024 * 1024
#: A manifest needs five levels (services → a service → invitation → accept → roleName).
MAX_DEPTH: Final = 32
#: Scalars plus collections; a 50,000-member manifest with per-member lists has about 600,000.
MAX_NODES: Final = 1_500_000

#: One step of a path into the data: a mapping key or a list index.
Loc = tuple[str | int, ...]

# libyaml when PyYAML was built with it, else the pure-Python parser (same events, slower).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# How libyaml words a scanner error for nesting past its own limit (1,000 levels in the builds
# that have one).
_LIBYAML_DEPTH_PROBLEM: Final = "exceeded maximum nesting depth"

_STR_TAG: Final = "tag:yaml.org,2002:str"
# Explicit tags we accept: `!!str 012345678901` is a legitimate way to quote an ID, `!` is
# YAML's "non-specific" tag, and the collection tags change nothing.
_SCALAR_TAGS: Final = frozenset({_STR_TAG, "!"})
_COLLECTION_TAGS: Final = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "!"})

# Plain scalars are typed by the YAML 1.2 core schema, not PyYAML's YAML 1.1 rules: the
# editor's schema checker and most other tools speak 1.2, and 1.1's extras only surprise
# (yes/no/on/off as booleans, 0123 as octal, 1:30 as 90, 2024-01-01 as a date).
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS: Final = {"true": True, "True": True, "TRUE": True} | dict.fromkeys(
    ("false", "False", "FALSE"), False
)
_INT: Final = re.compile(r"[-+]?[0-9]+")
_OCTAL: Final = re.compile(r"0o[0-7]+")
_HEX: Final = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT: Final = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
# A plain scalar starting with any other character (every key, email and region name in
# practice) is a string, known without trying a regex.
_MAYBE_NOT_STR: Final = frozenset("0123456789+-.~nNtTfF")


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a path's node sits in the text (1-based line) and, for a scalar, its raw text."""

    line: int
    raw: str | None = None


def read_text(path: str, *, what: str = "manifest") -> tuple[str, bytes]:
    """Return the UTF-8 text of ``path`` and its bytes, refusing oversized or binary files."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ManifestError(_os_reason(exc, what), path=path) from None
    if size > MAX_FILE_BYTES:
        raise ManifestError(
            f"the file is {size:,} bytes; a {what} may be at most {MAX_FILE_BYTES:,} bytes",
            path=path,
        )
    try:
        with open(path, "rb") as handle:
            # Bounded even when stat lied (a FIFO, /dev/zero, a file growing under us).
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestError(_os_reason(exc, what), path=path) from None
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(f"a {what} may be at most {MAX_FILE_BYTES:,} bytes", path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} cannot be decoded (save the file as UTF-8)",
            path=path,
            line=line,
        ) from None
    # Editors on Windows (and Excel, for CSV) start files with a byte-order mark.
    return text.removeprefix("\ufeff"), data


def _os_reason(exc: OSError, what: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"no such {what}" + (" file or directory" if what == "manifest" else "")
    if isinstance(exc, IsADirectoryError):
        return f"expected a {what} file, found a directory"
    if isinstance(exc, PermissionError):
        return f"permission denied reading the {what}"
    return f"cannot read the {what}: {exc.strerror or exc}"


@contextmanager
def pause_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (re-entrant: restores the state it found).

    Building hundreds of thousands of small containers triggers collection after collection
    of objects that cannot be garbage yet; pausing the collector halves the load time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Frame:
    """An open mapping or list while the events are walked, and where it sits."""

    __slots__ = ("is_map", "items", "key", "loc", "mapping")

    def __init__(self, container: dict[str, Any] | list[Any], loc: Loc) -> None:
        # Two typed views of one container, so the hot loop needs no isinstance.
        self.is_map = isinstance(container, dict)
        self.mapping: dict[str, Any] = container if isinstance(container, dict) else {}
        self.items: list[Any] = container if isinstance(container, list) else []
        self.key: str | None = None
        self.loc = loc

    def child_loc(self) -> Loc:
        """The path of the node being added (the pending key, or the next index)."""
        return (*self.loc, self.key if self.is_map and self.key is not None else len(self.items))

    def add(self, value: Any) -> Loc:
        """Store ``value`` under the pending key (or at the end); return its path."""
        loc = self.child_loc()
        if self.is_map:
            self.mapping[self.key or ""] = value
            self.key = None
        else:
            self.items.append(value)
        return loc


def parse_yaml(text: str, path: str, *, utf8: bytes | None = None) -> Any:
    """Build the one document in ``text`` as dicts, lists, strings, numbers and booleans.

    ``utf8``, when given, is the file's bytes that ``text`` was decoded from: libyaml then
    parses them as they are, instead of a UTF-8 copy of ``text`` that PyYAML would make (20 MB
    less at the peak of a file at the size cap). Returns None for a file with no document at
    all (empty, or only comments).
    """
    source: str | bytes = text if utf8 is None or _Loader is yaml.SafeLoader else utf8
    loader: yaml.SafeLoader | None = None
    try:
        # Inside the try: PyYAML's own reader checks the characters as it is built.
        loader = _Loader(source)
        with pause_gc():
            return _build(loader, source, path)
    except yaml.MarkedYAMLError as exc:
        last_line = _yaml_line_count(text)
        line = _mark_line(exc, last_line)
        reason = _syntax_reason(exc, last_line)
        if line is not None and "\t" in _yaml_line(text, line):
            reason += "; tabs cannot indent YAML, use spaces"
        raise ManifestError(reason, path=path, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = len(_YAML_LINE_BREAK.findall(_text_before(source, exc.position))) + 1
        char = exc.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        reason = f"invalid YAML: character {shown} is not allowed in YAML text ({exc.reason})"
        raise ManifestError(reason, path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", path=path) from None
    finally:
        if loader is not None:
            loader.dispose()


def _build(loader: yaml.SafeLoader, source: str | bytes, path: str) -> Any:
    get_event: Callable[[], Any] = loader.get_event
    scalar_event, alias_event = events.ScalarEvent, events.AliasEvent
    map_start, seq_start = events.MappingStartEvent, events.SequenceStartEvent
    map_end, seq_end = events.MappingEndEvent, events.SequenceEndEvent

    def fail(reason: str, line: int, loc: Loc | None = None) -> ManifestError:
        return ManifestError(reason, path=path, line=line, field=format_loc(loc) if loc else None)

    stack: list[_Frame] = []
    top: _Frame | None = None
    root: Any = None
    seen_document = False
    nodes = 0
    maybe_not_str = _MAYBE_NOT_STR
    # The hot loop runs once per event (about six per member): the common cases come first
    # and the line number is computed only for an error.
    while True:
        event: Any = get_event()
        cls = event.__class__
        if cls is scalar_event:
            nodes += 1
            if event.anchor is not None or nodes > MAX_NODES:
                raise fail(_node_problem(event, nodes), _line(event))
            value = event.value
            if top is not None and top.is_map and top.key is None:
                # A mapping key. Keys are kept as the text written, so `on:` stays "on"
                # instead of becoming True, and the error names what the user wrote.
                if event.tag is not None and event.tag not in _SCALAR_TAGS:
                    raise fail(f"YAML tag {event.tag} is not allowed in a manifest", _line(event))
                if value == "<<" and not event.style:
                    raise fail(
                        "YAML merge keys (<<) are not allowed in a manifest; write the "
                        "keys out in full",
                        _line(event),
                        top.loc,
                    )
                if value in top.mapping:
                    first = locate(source, [(*top.loc, value)]).get((*top.loc, value))
                    where = f" (first set on line {first.line})" if first else ""
                    raise fail(
                        f"duplicate key {value!r}{where}: YAML keeps only the last one, so "
                        "one of them would be silently ignored",
                        _line(event),
                        (*top.loc, value),
                    )
                top.key = value
                continue
            if event.tag is not None or not (
                event.style or (value and value[0] not in maybe_not_str)
            ):
                value = _scalar(event, path)
                if value is None and top is not None:
                    raise fail(
                        "empty value (null): give a value, or remove the key to use the default",
                        _line(event),
                        top.child_loc(),
                    )
            if top is None:
                root = value
            elif top.is_map:  # inlined _Frame.add
                top.mapping[top.key] = value  # type: ignore[index]
                top.key = None
            else:
                top.items.append(value)
        elif cls is map_start or cls is seq_start:
            nodes += 1
            if event.anchor is not None or nodes > MAX_NODES:
                raise fail(_node_problem(event, nodes), _line(event))
            if top is not None and top.is_map and top.key is None:
                raise fail(
                    "a mapping key must be a plain name, not a list or mapping", _line(event)
                )
            if event.tag is not None and event.tag not in _COLLECTION_TAGS:
                raise fail(f"YAML tag {event.tag} is not allowed in a manifest", _line(event))
            if len(stack) >= MAX_DEPTH:
                raise fail(_depth_reason(), _line(event))
            container: dict[str, Any] | list[Any] = {} if cls is map_start else []
            if top is None:
                root = container
                top = _Frame(container, ())
            else:
                top = _Frame(container, top.add(container))
            stack.append(top)
        elif cls is map_end or cls is seq_end:
            stack.pop()
            top = stack[-1] if stack else None
        elif cls is alias_event:
            raise fail(
                f"YAML aliases (*{event.anchor}) are not allowed in a manifest; write the "
                "value out in full",
                _line(event),
            )
        elif cls is events.DocumentStartEvent:
            if seen_document:
                raise fail(
                    "a manifest is a single YAML document, but a second one starts here "
                    "(remove the `---` line, or split the files into a directory manifest)",
                    _line(event),
                )
            seen_document = True
        elif cls is events.StreamEndEvent:
            return root


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _node_problem(event: Any, nodes: int) -> str:
    if event.anchor is not None:
        return (
            f"YAML anchors (&{event.anchor}) and aliases are not allowed in a manifest; "
            "write the value out in full"
        )
    return f"the document has more than {MAX_NODES:,} YAML nodes"


def _scalar(event: Any, path: str) -> Any:
    """The value of a scalar that may not be a string: tagged, or plain and number-like."""
    value: str = event.value
    tag: str | None = event.tag
    if tag is not None:
        if tag not in _SCALAR_TAGS:
            raise ManifestError(
                f"YAML tag {tag} is not allowed in a manifest",
                path=path,
                line=_line(event),
            )
        return value
    if event.style:
        return value
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.fullmatch(value):
        # Decimal even with leading zeros, as YAML 1.2 reads it (YAML 1.1 would read 0123 as
        # octal and 0189 as a string): an unquoted account ID fails loudly, whatever its digits.
        return int(value)
    if _OCTAL.fullmatch(value):
        return int(value[2:], 8)
    if _HEX.fullmatch(value):
        return int(value[2:], 16)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _SPECIAL_FLOAT.fullmatch(value):
        return float(value.lower().replace(".", ""))  # -.inf → -inf, .nan → nan
    return value


def _depth_reason() -> str:
    return f"the YAML is nested more than {MAX_DEPTH} levels deep; a manifest needs at most 5"


# What YAML 1.1 counts as a line break, and so what its marks' line numbers count: a file with
# old Mac (CR) endings or Unicode line separators has more YAML lines than "\n"s.
_YAML_BREAK_CHARS = "\r\n\x85\u2028\u2029"
_YAML_LINE_BREAK = re.compile(f"\r\n|[{_YAML_BREAK_CHARS}]")


def _yaml_line(text: str, line: int) -> str:
    """The text of 1-based YAML line ``line``, or "" past the end (a mark at the end of input)."""
    lines = _YAML_LINE_BREAK.split(text, maxsplit=line)
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _text_before(source: str | bytes, position: int) -> str:
    """The text ahead of a reader error's ``position`` in what the loader was given.

    libyaml reports it as an offset into the UTF-8 bytes it parsed (its own encoding of a
    str), PyYAML's own reader as a character offset; they differ as soon as a non-ASCII
    character comes first.
    """
    if isinstance(source, bytes):
        return source[:position].decode("utf-8", "ignore")
    if _Loader is yaml.SafeLoader:
        return source[:position]
    return source.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore")


def _yaml_line_count(text: str) -> int:
    """How many YAML lines ``text`` has (a final line break does not start another one)."""
    breaks = len(_YAML_LINE_BREAK.findall(text))
    return breaks if not text or text[-1] in _YAML_BREAK_CHARS else breaks + 1


def _past_end(mark: yaml.Mark | None, last_line: int) -> bool:
    # At the end of the input libyaml moves its mark to a line after the last one; so does
    # PyYAML's own reader after a final line break.
    return mark is not None and int(mark.line) + 1 > last_line


def _mark_line(exc: yaml.MarkedYAMLError, last_line: int) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    return max(last_line, 1) if _past_end(mark, last_line) else int(mark.line) + 1


def _syntax_reason(exc: yaml.MarkedYAMLError, last_line: int) -> str:
    if exc.problem and exc.problem.startswith(_LIBYAML_DEPTH_PROBLEM):
        # libyaml releases with their own nesting limit (PyYAML 6.0.4's wheels) stop in the
        # scanner, which reads ahead of the events, before our depth check sees the level past
        # MAX_DEPTH: the user gets the same message whichever libyaml parsed the file.
        return _depth_reason()
    reason = f"invalid YAML: {exc.problem or 'syntax error'}"
    if _past_end(exc.problem_mark, last_line) and "stream" not in reason:
        # A truncated file (an unclosed bracket or quote): the line number is the last line's.
        # Problems that already say so ("unexpected end of stream", "<stream end>") keep theirs.
        reason += " at the end of the file"
    if exc.context and exc.context_mark is not None:
        if _past_end(exc.context_mark, last_line):
            # libyaml reports some contexts at the end of the input too, not where they began.
            reason += f" ({exc.context})"
        else:
            reason += f" ({exc.context} that started on line {exc.context_mark.line + 1})"
    return reason


def format_loc(loc: Loc) -> str:
    """``('members', 3, 'accountId')`` → ``members[3].accountId``."""
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


def locate(text: str | bytes, locs: Collection[Loc]) -> dict[Loc, Spot]:
    """Find where each path (and each of its prefixes) is written, for error messages.

    ``text`` may be the file's UTF-8 bytes: the loader then takes them as they are, with no
    UTF-8 copy of a str made for libyaml.

    A mapping value's line is the line of its key, which is what a reader looks for; a list
    item's is where the item starts. Only the first occurrence of a path is kept, which for a
    duplicate key is the earlier of the two. Only called on text :func:`parse_yaml` accepted,
    so it needs none of its checks.
    """
    wanted = {loc[:n] for loc in locs for n in range(len(loc) + 1)}
    found: dict[Loc, Spot] = {}
    loader = _Loader(text)
    frames: list[list[Any]] = []  # [is_map, loc, pending key, key line, next index]
    get_event: Callable[[], Any] = loader.get_event
    try:
        while True:
            event = get_event()
            cls = event.__class__
            if cls is events.ScalarEvent or cls in (
                events.MappingStartEvent,
                events.SequenceStartEvent,
            ):
                line = event.start_mark.line + 1
                if not frames:
                    loc: Loc = ()
                else:
                    frame = frames[-1]
                    if frame[0]:
                        if frame[2] is None:
                            frame[2], frame[3] = event.value, line
                            continue
                        loc = (*frame[1], frame[2])
                        line = frame[3]
                        frame[2] = None
                    else:
                        loc = (*frame[1], frame[4])
                        frame[4] += 1
                if loc in wanted and loc not in found:
                    if cls is events.ScalarEvent:
                        found[loc] = Spot(line, event.value)
                    else:
                        found[loc] = Spot(line)
                if cls is not events.ScalarEvent:
                    frames.append([cls is events.MappingStartEvent, loc, None, 0, 0])
            elif cls is events.MappingEndEvent or cls is events.SequenceEndEvent:
                frames.pop()
            elif cls is events.StreamEndEvent or cls is events.DocumentEndEvent:
                return found
    except yaml.YAMLError:
        return found
    finally:
        loader.dispose()
