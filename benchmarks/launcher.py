"""Start the measured ``reconcile`` from a small process, so its peak RSS is its own.

Linux keeps a process's peak RSS (``ru_maxrss``) across ``exec``, and a forked (or vforked)
child starts with its parent's memory: a child of the benchmark process, which holds the
sandbox's whole world (150 MB at 50,000 members), reports at least that much, whatever it used
itself. So the harness starts this launcher (a bare interpreter, ~10 MB) once, and the launcher
starts each ``reconcile`` and reports its resource usage from ``os.wait4``.

Protocol, one JSON object per line: the harness writes ``{"argv", "env", "cwd", "stdout",
"stderr"}`` (the last two are file paths); the launcher answers ``{"returncode", "utime",
"stime", "maxrss_kb", "started", "ended"}`` (the times are ``time.time()``, bracketing the
child). Standard library only; run as ``python -S launcher.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        with open(request["stdout"], "wb") as out, open(request["stderr"], "wb") as err:
            started = time.time()
            child = subprocess.Popen(
                request["argv"], env=request["env"], cwd=request["cwd"], stdout=out, stderr=err
            )
            _, status, usage = os.wait4(child.pid, 0)
            ended = time.time()
            child.returncode = os.waitstatus_to_exitcode(status)
        answer = {
            "returncode": child.returncode,
            "utime": usage.ru_utime,
            "stime": usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,  # kilobytes on Linux
            "started": started,
            "ended": ended,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
