"""At most ``max_concurrency`` threads work for a run, in total, however the work nests.

Shards are observed, applied and verified in parallel, and within a shard the invitations are
accepted in parallel too (each in its own member account). With a pool per level, the levels
multiply: ``max_concurrency`` shards each accepting ``max_concurrency`` accounts at a time.
These tests run the pipeline on ports that record every call in flight.

We test these aspects:
- the calls in flight at any moment, across observe, apply (accepts included) and verify,
  never exceed ``max_concurrency``, and no more than ``max_concurrency`` threads ever make one;
- the run still uses the parallelism it is allowed (more than one call at a time);
- the run's worker map keeps the order of its items, nests without deadlock, and raises the
  first item's error after every item ran; an interrupt (Ctrl-C) stops it handing out items.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import pytest

from reconciler.model import (
    AcceptSettings,
    DesiredMember,
    InvitationSettings,
    MemberStatus,
    Mode,
    ObservedMember,
    Service,
    ShardKey,
    ShardObservation,
    UnprocessedAccount,
)
from reconciler.pipeline import RunStatus, run
from reconciler.workers import Workers
from tests.factories import account, desired_members, desired_state

# How long a call waits for others to join it, so that calls allowed to overlap do.
OVERLAP_WAIT = 0.2


class InFlight:
    """Counts the port calls in flight, the peak, and the threads that made any."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0
        self.peak = 0
        self.threads: set[int] = set()
        self._changed = threading.Condition()

    @contextmanager
    def call(self, *, linger: bool = False) -> Iterator[None]:
        with self._changed:
            self.current += 1
            self.peak = max(self.peak, self.current)
            self.threads.add(threading.get_ident())
            self._changed.notify_all()
            if linger:
                # Stay until the bound is exceeded (then the test has its answer) or a moment
                # has passed: long enough for every call allowed to overlap to join.
                self._changed.wait_for(lambda: self.current > self.limit, timeout=OVERLAP_WAIT)
        try:
            yield
        finally:
            with self._changed:
                self.current -= 1
                self._changed.notify_all()


class Port:
    """A Security Hub shard kept in memory; every method is a recorded call."""

    def __init__(self, key: ShardKey, flight: InFlight) -> None:
        self._key = key
        self.flight = flight
        self.members: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def key(self) -> ShardKey:
        return self._key

    def observe(self) -> ShardObservation:
        with self.flight.call(linger=True):
            return ShardObservation(self._key, ready=True, members={})

    def create_members(self, members: Sequence[DesiredMember]) -> list[UnprocessedAccount]:
        with self.flight.call(), self._lock:
            self.members.update({m.account_id: "Created" for m in members})
            return []

    def invite_members(
        self, account_ids: Sequence[str], settings: InvitationSettings
    ) -> list[UnprocessedAccount]:
        with self.flight.call(), self._lock:
            self.members.update({a: "Invited" for a in account_ids})
            return []

    def get_members(
        self, account_ids: Sequence[str]
    ) -> tuple[list[ObservedMember], list[UnprocessedAccount]]:
        with self.flight.call(), self._lock:
            return [
                ObservedMember(a, None, MemberStatus.parse(self.members[a]), self.members[a])
                for a in account_ids
                if a in self.members
            ], []

    def delete_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        raise AssertionError("not planned")

    def disassociate_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        raise AssertionError("not planned")

    def start_monitoring_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        raise AssertionError("not planned")

    def organization_auto_enable(self) -> str | None:
        return None


class Acceptor:
    def __init__(self, ports: dict[ShardKey, Port], flight: InFlight) -> None:
        self.ports = ports
        self.flight = flight

    def accept(self, key: ShardKey, account_id: str, administrator_account_id: str) -> str:
        with self.flight.call(linger=True):
            port = self.ports[key]
            with port._lock:
                port.members[account_id] = "Enabled"
            return "accepted"

    def cannot_accept(self, key: ShardKey, account_id: str) -> str | None:
        with self.flight.call(linger=True):
            return None


@pytest.mark.parametrize("max_concurrency", [2, 3])
def test_calls_in_flight_never_exceed_max_concurrency(max_concurrency: int) -> None:
    regions = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1")
    keys = [ShardKey(Service("securityhub"), region) for region in regions]
    shards = {
        key: desired_members(account(10 * i + n) for n in range(4)) for i, key in enumerate(keys)
    }
    desired = desired_state(shards, modes={Service("securityhub"): Mode.INVITATION})
    settings = desired.services[Service("securityhub")]
    desired = replace(
        desired,
        services={Service("securityhub"): replace(settings, accept=AcceptSettings("Accepter"))},
    )
    flight = InFlight(max_concurrency)
    ports = {key: Port(key, flight) for key in keys}

    report = run(
        desired,
        ports,
        dry_run=False,
        max_concurrency=max_concurrency,
        acceptor=Acceptor(ports, flight),
    )

    assert report.status is RunStatus.CONVERGED, report.failed_results
    assert all(status == "Enabled" for port in ports.values() for status in port.members.values())
    assert flight.peak <= max_concurrency, (
        f"{flight.peak} calls in flight at once, max_concurrency {max_concurrency}"
    )
    assert len(flight.threads) <= max_concurrency, f"{len(flight.threads)} threads made calls"
    assert flight.peak > 1  # still parallel


def test_the_map_keeps_order_nests_and_raises_the_first_error() -> None:
    with Workers(3) as workers:
        nested = workers.map(lambda i: workers.map(lambda j: (i, j), range(4)), range(5))
        assert nested == [[(i, j) for j in range(4)] for i in range(5)]

        ran: list[int] = []
        lock = threading.Lock()

        def fails_on_odd(i: int) -> int:
            with lock:
                ran.append(i)
            if i % 2:
                raise ValueError(f"item {i}")
            return i

        with pytest.raises(ValueError, match="item 1"):
            workers.map(fails_on_odd, range(6))
        assert sorted(ran) == list(range(6))


def test_an_interrupt_stops_handing_out_items() -> None:
    ran: list[int] = []

    def interrupted_on_one(i: int) -> None:
        ran.append(i)
        if i == 1:
            raise KeyboardInterrupt

    with Workers(1) as workers, pytest.raises(KeyboardInterrupt):
        workers.map(interrupted_on_one, range(4))
    assert ran == [0, 1]


def test_one_worker_runs_everything_in_the_caller() -> None:
    caller = threading.get_ident()
    with Workers(1) as workers:
        assert workers.map(lambda _: threading.get_ident(), range(3)) == [caller] * 3
