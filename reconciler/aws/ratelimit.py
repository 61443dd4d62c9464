"""Client-side pacing: one token bucket per (service, region).

AWS rate-limits the member APIs per account and region (one service publishes 10 requests/s
with a burst of 30; the others publish nothing, we use the same). A throttled call is a wasted
call, and botocore's retry backs off far longer than the bucket needs to refill, so we pace
ourselves instead of relying on retries: every HTTP attempt (retries included, because the
hook sits on ``before-send``) takes a token first, waiting for it if need be.

The bucket keeps one token of headroom below the published burst, because the service's bucket
sees our requests shifted by network jitter; without it, a request sent exactly on time can
arrive a hair early and be throttled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """A sustained rate in requests per second and a burst size, e.g. ``10/30``."""

    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``RPS/BURST`` or ``RPS`` (burst = RPS); raises ValueError on bad input."""
        rate_text, _, burst_text = text.partition("/")
        per_second = float(rate_text)
        burst = int(burst_text) if burst_text else max(1, int(per_second))
        if not per_second > 0 or burst < 1:
            raise ValueError(f"rate must be positive and burst at least 1: {text!r}")
        return cls(per_second=per_second, burst=burst)

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst}"


DEFAULT_RATE = Rate(per_second=10.0, burst=30)


class TokenBucket:
    """A thread-safe token bucket that blocks until a token is available."""

    def __init__(
        self,
        rate: Rate,
        *,
        headroom: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._capacity = float(max(1, rate.burst - headroom))
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                elapsed = now - self._updated
                self._tokens = min(self._capacity, self._tokens + elapsed * self.rate.per_second)
                self._updated = now
                # The epsilon absorbs float error; without it a refill of exactly the
                # shortfall can land a hair under 1.0 and spin.
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens -= 1.0
                    return waited
                shortfall = (1.0 - self._tokens) / self.rate.per_second
            self._sleep(shortfall)
            waited += shortfall


class RateLimiter:
    """The buckets of one run, created on first use.

    Keyed by (principal, service, region): AWS's limits are per account and region, so the
    calls made as a member account (accepting invitations) do not eat the administrator's.
    """

    def __init__(self, rates: dict[str, Rate] | None = None, *, default: Rate = DEFAULT_RATE):
        self._rates = dict(rates or {})
        self._default = default
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def rate_for(self, service: str) -> Rate:
        return self._rates.get(service, self._default)

    def bucket(self, service: str, region: str, principal: str = "administrator") -> TokenBucket:
        with self._lock:
            found = self._buckets.get((principal, service, region))
            if found is None:
                found = TokenBucket(self.rate_for(service))
                self._buckets[(principal, service, region)] = found
            return found
