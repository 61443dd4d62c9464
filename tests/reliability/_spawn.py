"""Run a command and write its exit code and peak RSS (kB) to a file: ``_spawn.py OUT CMD...``.

Standard library only, run with ``python -S -E``, so this launcher stays small (about 10 MB):
the kernel starts a child's ``ru_maxrss`` at its parent's size, and this keeps that floor low.
The command's exit code is written as ``os.waitstatus_to_exitcode`` gives it (negative for a
signal); the launcher itself always exits 0 once it has written the file.
"""

import os
import sys


def main() -> None:
    report, command = sys.argv[1], sys.argv[2:]
    pid = os.posix_spawn(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w", encoding="ascii") as handle:
        handle.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}\n")


if __name__ == "__main__":
    main()
