"""The files a run writes: every one checked before the run starts, each written atomically.

A run can talk to AWS for minutes before it writes its plan, metrics or sandbox state; a typo
in a directory must not surface only then, after the plan was printed, as a traceback. And a
path that happens to be one of the run's own inputs (``--out`` naming the manifest) must not
silently replace that input with plan JSON. So, before the first AWS call, :func:`preflight`
checks each output path in the place the write will happen (its directory exists and takes a
new file, the path is not a directory) and compares it, by resolved path and by inode, with
every file the run reads. A refusal is a :class:`~reconciler.errors.UsageError` (exit 3) that
names the option and the path as the user wrote it.

:func:`write_text` is how an output is written: a uniquely named temporary file in the same
directory, then an atomic rename over the target; a failure names the user's path, never the
temporary's.

Pure: only ``os``, so the check can run before any AWS library is imported.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler import filekind
from reconciler.errors import OutputError, UsageError

# The options whose value is a file the run writes, as (argparse dest, flag). An output option
# added later is checked, and kept apart from the inputs, by being listed here.
OUTPUT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("out", "--out"),
    ("sandbox_save", "--sandbox-save"),
    ("metrics_file", "--metrics-file"),
    ("coverage", "--coverage"),
)

# The options whose value is a file the run reads, besides the manifest, and how to name them.
INPUT_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("saved_plan", "--plan", "the saved plan (--plan)"),
    ("sandbox", "--sandbox", "the sandbox state (--sandbox)"),
)

# (output flag, input flag) pairs that may name one file on purpose: saving the sandbox over
# the state it started from carries a sandbox session from one run to the next.
SAME_FILE_ALLOWED = frozenset({("--sandbox-save", "--sandbox")})


@dataclass(frozen=True, slots=True)
class NamedPath:
    """A path of the run, with the option that named it and how to name it in a message."""

    flag: str
    given: str
    what: str = ""


def preflight(args: object, manifest_files: Sequence[str], *, manifest: str) -> None:
    """Refuse (UsageError) any output of ``args`` that cannot be written or is an input.

    ``manifest_files`` is every file the manifest loader read (its YAML files and CSVs);
    ``manifest`` the manifest path as given.
    """
    outputs = [
        NamedPath(flag, str(value))
        for dest, flag in OUTPUT_OPTIONS
        if (value := getattr(args, dest, None))
    ]
    inputs = [
        NamedPath(
            "--manifest",
            path,
            "the manifest" if _same_file(path, manifest) else "a file of the manifest",
        )
        for path in manifest_files
    ]
    inputs += [
        NamedPath(flag, str(value), what)
        for dest, flag, what in INPUT_OPTIONS
        if (value := getattr(args, dest, None))
    ]
    for index, output in enumerate(outputs):
        check_writable(output)
        for source in inputs:
            if (output.flag, source.flag) not in SAME_FILE_ALLOWED and _same_file(
                output.given, source.given
            ):
                raise UsageError(
                    f"{output.flag} {output.given}: this is {source.what}, which the run "
                    "reads; write to another file"
                )
        for earlier in outputs[:index]:
            if _same_file(output.given, earlier.given):
                raise UsageError(
                    f"{output.flag} {output.given}: {earlier.flag} writes this file too; "
                    "give each output its own file"
                )


def check_writable(output: NamedPath) -> None:
    """Refuse a path whose write would fail: a directory, a missing or unwritable directory."""
    label = f"{output.flag} {output.given}"
    try:
        mode: int | None = os.stat(output.given).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new file; its directory is checked below
    except OSError as exc:
        raise UsageError(f"{label}: cannot use this path: {_reason(exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"{label}: is a directory; name a file in it")
    if mode is not None and not stat.S_ISREG(mode):
        # The write replaces the path by a new file: never a FIFO's or a device's node.
        raise UsageError(f"{label}: is {filekind.describe(mode)}, not a regular file")
    directory = _directory(output.given)
    try:
        directory_mode = os.stat(directory).st_mode
    except FileNotFoundError:
        raise UsageError(f"{label}: no such directory {directory}") from None
    except NotADirectoryError:
        raise UsageError(f"{label}: {directory} is not a directory") from None
    except OSError as exc:
        raise UsageError(f"{label}: cannot use the directory {directory}: {_reason(exc)}") from None
    if not stat.S_ISDIR(directory_mode):
        raise UsageError(f"{label}: {directory} is not a directory")
    # Permission bits say nothing for root, a read-only mount or sysfs: create what the real
    # write will create, a temporary file beside the target, and remove it.
    try:
        handle, temporary = _create_temporary(output.given)
    except OSError as exc:
        raise UsageError(f"{label}: cannot write in {directory}: {_reason(exc)}") from None
    os.close(handle)
    os.unlink(temporary)


def write_text(flag: str, path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically; an OSError becomes OutputError naming ``path``."""
    temporary: str | None = None
    try:
        handle, temporary = _create_temporary(path)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise OutputError(f"{flag} {path}: could not write it: {_reason(exc)}") from None


def _create_temporary(path: str) -> tuple[int, str]:
    # Hidden (a directory manifest skips it), unique (never an existing file, thanks to
    # O_EXCL), in the target's directory (so the rename is atomic), mode 0666 less the umask
    # like any new file.
    name = f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp"
    temporary = os.path.join(_directory(path), name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    return os.open(temporary, flags, 0o666), temporary


def _directory(path: str) -> str:
    return os.path.dirname(path) or "."


def _same_file(first: str, second: str) -> bool:
    """The same file, by resolved path (symlinks) or by device and inode (hard links)."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
