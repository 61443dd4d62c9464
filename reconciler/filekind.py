"""What a path is, in the words of an error line: the manifest loader and the output check share it.

Both refuse paths that are not regular files (a FIFO would block the run, a device would be read
or replaced), and both say what the path is instead, the same way.
"""

from __future__ import annotations

import stat


def describe(mode: int) -> str:
    """``st_mode`` as a noun phrase: "a directory", "a FIFO", "a character device", ..."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
