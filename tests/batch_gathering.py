"""Rotations that share a DNS-01 batch, decided by the order of events rather than by how long a gather
lasts: tests of batching (integration, e2e) assert what happened, whatever the machine's load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from certrotate.adapters.lease_table.dns_batches import DynamoDbDnsBatches
from certrotate.order import dns_batching


class Gathering:
    """Who shares a batch decided by the order of events, not by how long a gather lasts (no timing, whatever
    the machine's load): the first batch opened in the zone is closed by its publisher only once `members`
    rotations have joined it (`opened` is set once it is open, for rotations that must be members). The waits
    are bounded and generous; the give-up grace is long enough that nobody gives up on a live publisher."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, members: int, grace: float = 60.0) -> None:
        monkeypatch.setattr(dns_batching, "STATUS_GRACE", grace)
        self.opened = threading.Event()
        self.closes = 0
        joined = threading.Semaphore(0)
        first_close = threading.Lock()
        original_open, original_join = DynamoDbDnsBatches.open, DynamoDbDnsBatches.join
        original_close = DynamoDbDnsBatches.close

        def open_(batches: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
            ticket = original_open(batches, *args, **kwargs)
            if ticket is not None:
                self.opened.set()
            return ticket

        def join(batches: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
            ticket = original_join(batches, *args, **kwargs)
            if ticket is not None:
                joined.release()
            return ticket

        def close(batches: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
            with first_close:
                self.closes += 1
                if self.closes == 1:
                    for _ in range(members):
                        assert joined.acquire(timeout=60), "the members never joined"
            return original_close(batches, *args, **kwargs)

        monkeypatch.setattr(DynamoDbDnsBatches, "open", open_)
        monkeypatch.setattr(DynamoDbDnsBatches, "join", join)
        monkeypatch.setattr(DynamoDbDnsBatches, "close", close)

    def member(self, work: Callable[[], None]) -> Callable[[], None]:
        """`work`, once the publisher opened the batch: it joins it."""

        def run() -> None:
            assert self.opened.wait(60), "the publisher never opened its batch"
            work()

        return run
