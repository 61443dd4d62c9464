"""The run's one bound on parallel work: ``max_concurrency`` threads in total, however it nests.

Shards are observed, applied and verified in parallel, and a shard's invitations are accepted
in parallel inside it (each in its own member account). A pool per level would multiply the
levels (``max_concurrency`` shards each accepting ``max_concurrency`` accounts at once, the
square of what was asked for), so the run makes one :class:`Workers` and every level maps its
items through it.

A nested :meth:`Workers.map` cannot simply wait for tasks it queued on the same pool: every
worker could be such a waiter, with the queued tasks behind them, and nothing would move. So
the caller works too: the items sit in a shared queue, the caller takes them one by one, and
helpers queued on the pool take them as well once a worker is free. A helper that has not
started when the items run out is cancelled; one that has started is running an item, never
waiting for the pool. Threads working at once: the pool's ``limit - 1`` and the run's own
thread, ``limit`` in all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Workers:
    """At most ``limit`` threads at work for the run; :meth:`map` may be called from inside."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        # The caller of each map is one of the ``limit`` (the run's thread, or a worker).
        self._pool = (
            ThreadPoolExecutor(max_workers=self.limit - 1, thread_name_prefix="reconciler")
            if self.limit > 1
            else None
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[function(item) for item in items]``, in parallel within the bound, in order.

        Every item runs even when one raises; then the error of the first failed item (in
        ``items``' order) is raised, as ``ThreadPoolExecutor.map`` would on reading it. An
        interrupt (Ctrl-C: not an ``Exception``) stops handing out items at once and is raised
        as soon as the caller sees it; the items already running finish.
        """
        todo = list(items)
        results: list[R | None] = [None] * len(todo)
        errors: dict[int, BaseException] = {}
        taken = iter(range(len(todo)))
        lock = threading.Lock()
        interrupted = threading.Event()

        def drain() -> None:
            while not interrupted.is_set():
                with lock:
                    index = next(taken, None)
                if index is None:
                    return
                try:
                    results[index] = function(todo[index])
                except Exception as exc:  # re-raised by the caller, in item order
                    errors[index] = exc
                except BaseException:
                    interrupted.set()
                    raise

        helpers: list[Future[None]] = []
        if self._pool is not None:
            helpers = [self._pool.submit(drain) for _ in range(min(self.limit, len(todo)) - 1)]
        try:
            drain()
        except BaseException:
            for helper in helpers:
                helper.cancel()
            raise
        for helper in helpers:
            if not helper.cancel():
                helper.result()  # re-raises a helper's interrupt, if it had one
        if errors:
            raise errors[min(errors)]
        return results  # type: ignore[return-value]  # every index was filled


#: No parallelism: every item runs in the caller, in order (no pool, nothing to close).
SEQUENTIAL = Workers(1)
