"""The sandbox's levers on a client: throttling, injected faults, and the calls log.

They exist to make failure reproducible: a token bucket per (account, region, service) that
is exact under concurrency, a seeded fault stream whose draws depend only on the order of
requests, and a log of every request (including the refused ones) that tests and benchmarks
read, while the server runs, to count exactly what a client did.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

DEFAULT_RATE = 10.0
DEFAULT_BURST = 30


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per request."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Throttle:
    """One bucket per key, created full on first use; ``rate=None`` never throttles."""

    def __init__(
        self, rate: float | None, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: tuple[str, str, str]) -> bool:
        if self._rate is None:
            return True
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(self._rate, self._burst, self._clock)
                self._buckets[key] = bucket
            return bucket.take()


@dataclass(frozen=True, slots=True)
class FaultDraw:
    fault: bool
    slow: bool
    drop: bool


class FaultInjector:
    """Decides, per request and reproducibly for a seed, which faults hit it.

    Three numbers are drawn for every eligible request whatever the rates, so the stream a
    given request sees depends only on how many requests came before it.
    """

    def __init__(self, fault_rate: float, slow_rate: float, drop_rate: float, seed: int) -> None:
        self._fault_rate = fault_rate
        self._slow_rate = slow_rate
        self._drop_rate = drop_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> FaultDraw:
        with self._lock:
            fault, slow, drop = (self._random.random() for _ in range(3))
        return FaultDraw(
            fault=fault < self._fault_rate,
            slow=slow < self._slow_rate,
            drop=drop < self._drop_rate,
        )


class CallsLog:
    """Every request as one JSON line, kept in memory and appended to a file if given."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self._path = path
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None

    def open(self) -> None:
        with self._lock:
            if self._path is not None and self._file is None:
                self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self._records.append(entry)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class MutationHold:
    """Stops the world after the k-th applied mutating request: a deterministic kill point.

    Once ``after`` mutating requests (of ``services``, or of any service) have been applied,
    :attr:`tripped` is set and every request still arriving, the k-th one's response included,
    is held until :meth:`release`; held requests are then dropped without effect, without a
    response and without a calls-log record. A test that kills its client while the hold is
    tripped therefore kills it right after exactly k mutating calls took effect, whatever the
    client's threads were doing. "Applied" means the request reached its handler (an AWS error
    from the handler, such as a 409, counts; a throttled or faulted request does not).
    """

    def __init__(
        self, after: int, services: frozenset[str] | None = None, timeout: float = 120.0
    ) -> None:
        if after < 1:
            raise ValueError(f"after must be at least 1, got {after!r}")
        self.after = after
        self.services = services
        self.timeout = timeout
        self.applied = 0
        self.tripped = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._held_lock = threading.Lock()
        self._held = 0
        self.dropped = 0

    def counts(self, service: str | None, mutating: bool) -> bool:
        return mutating and (self.services is None or service in self.services)

    def begin(self) -> bool:
        """Before applying a counted request: False (nothing to apply) once tripped.

        On True the caller holds the hold's lock until :meth:`end`, so counted requests are
        applied one at a time and exactly ``after`` of them take effect.
        """
        self._lock.acquire()
        if self.tripped.is_set():
            self._lock.release()
            return False
        return True

    def end(self) -> bool:
        """After applying a counted request: count it; True if it was the k-th."""
        try:
            self.applied += 1
            if self.applied == self.after:
                self.tripped.set()
                return True
            return False
        finally:
            self._lock.release()

    def wait_released(self) -> None:
        """Hold the calling request until :meth:`release`; the caller then drops it."""
        with self._held_lock:
            self._held += 1
        try:
            self._released.wait(self.timeout)
        finally:
            with self._held_lock:
                self._held -= 1
                self.dropped += 1

    @property
    def held(self) -> int:
        """How many requests are being held right now."""
        with self._held_lock:
            return self._held

    def release(self) -> None:
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()
