"""The token bucket on a fake clock (no real sleeping, no timing assertions).

Aspects under test:
- the first burst−1 tokens come without waiting (one token of headroom);
- after that, tokens come at the rate: the waits add up to (n − capacity) / rate;
- rates parse from ``RPS/BURST`` and bad ones are refused.
"""

from __future__ import annotations

import pytest

from reconciler.aws.ratelimit import Rate, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_paces_to_the_rate_after_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(10, 30), clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(29)]
    assert waits == [0.0] * 29
    waited = sum(bucket.acquire() for _ in range(50))
    assert clock.now == pytest.approx(50 / 10)
    assert waited == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("text", "rate"), [("10/30", Rate(10, 30)), ("2.5/5", Rate(2.5, 5)), ("4", Rate(4, 4))]
)
def test_rate_parses(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "x/1", "0/1", "1/0", "-1/3"])
def test_rate_refuses_bad_values(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Rate.parse(text)
