"""Progress of long runs, on stderr only: a live display on a TTY, periodic events otherwise.

Onboarding 10,000 accounts in several regions takes minutes at AWS's rate limits. A person at
a terminal gets one rich progress bar per shard (accounts done out of planned); a container job
logging JSON gets a ``progress`` event at most every few seconds instead. Neither ever writes
to stdout, which carries only the plan.

The pipeline reports through the small :class:`Progress` protocol; the sinks here are its
implementations, chosen by :func:`make_progress`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

import structlog

from reconciler.model import ShardKey

log = structlog.get_logger("reconciler.progress")


class Progress(Protocol):
    def start(self, totals: Mapping[ShardKey, int]) -> None:
        """The apply begins; ``totals`` are the accounts each shard will touch."""
        ...

    def advance(self, key: ShardKey, accounts: int) -> None:
        """``accounts`` more accounts of ``key`` were processed."""
        ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, totals: Mapping[ShardKey, int]) -> None:
        pass

    def advance(self, key: ShardKey, accounts: int) -> None:
        pass

    def finish(self) -> None:
        pass


class EventProgress:
    """Periodic ``progress`` log events (JSON logs): every ``interval`` seconds at most."""

    def __init__(self, *, interval: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[ShardKey, int] = {}
        self._done: dict[ShardKey, int] = {}
        self._last = 0.0

    def start(self, totals: Mapping[ShardKey, int]) -> None:
        with self._lock:
            self._totals = dict(totals)
            self._done = dict.fromkeys(totals, 0)
            self._last = self._clock()

    def advance(self, key: ShardKey, accounts: int) -> None:
        with self._lock:
            self._done[key] = self._done.get(key, 0) + accounts
            now = self._clock()
            if now - self._last < self._interval:
                return
            self._last = now
            snapshot = self._snapshot()
        log.info("progress", **snapshot)

    def finish(self) -> None:
        with self._lock:
            snapshot = self._snapshot()
        log.info("progress", final=True, **snapshot)

    def _snapshot(self) -> dict[str, Any]:
        return {
            "done": sum(self._done.values()),
            "total": sum(self._totals.values()),
            "shards": {
                str(k): f"{self._done.get(k, 0)}/{t}" for k, t in sorted(self._totals.items())
            },
        }


class RichProgress:
    """One bar per shard on a terminal (stderr), removed when the run ends."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self._tasks: dict[ShardKey, Any] = {}
        self._lock = threading.Lock()

    def start(self, totals: Mapping[ShardKey, int]) -> None:
        self._bars.start()
        for key, total in sorted(totals.items()):
            self._tasks[key] = self._bars.add_task(str(key), total=total)

    def advance(self, key: ShardKey, accounts: int) -> None:
        with self._lock:
            task = self._tasks.get(key)
            if task is not None:
                self._bars.advance(task, accounts)

    def finish(self) -> None:
        self._bars.stop()


def make_progress(*, log_format: str, stream: TextIO, enabled: bool = True) -> Progress:
    """Bars on an interactive console, events in JSON log mode, nothing otherwise."""
    if not enabled:
        return NoProgress()
    if log_format == "json":
        return EventProgress()
    if stream.isatty():
        return RichProgress(stream)
    return NoProgress()
