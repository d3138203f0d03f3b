"""Under its lease a rotation reads IAM again only when a run may have changed something since it read
(store/iam.py `IamStore.reassess`): IAM's rate is shared by every rotation of a fleet (docs/performance.md
section 6). With a retirement grace period, a run that finished between its read and its lease is found by its
progress record: nothing is ordered twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from certrotate.adapters.lease_table.leases import DynamoDbLeases

from devstack import lambda_runner
from tests.e2e.conftest import World

GET = ("iam", "GetServerCertificate")


def test_nothing_claimed_and_no_record_under_the_lease_costs_no_second_iam_read(world: World) -> None:
    world.seed("graced", ["graced.example.com"], days_left=5)
    world.seed("ungraced", ["ungraced.example.com"], days_left=5)
    world.stack.calls.reset()
    assert world.rotate("ungraced")["status"] == "rotated"  # the tests' grace of 0: read again, as ever
    without_grace = world.stack.calls.count(*GET)
    world.stack.calls.reset()

    assert (
        world.invoke("RotateFunction", {"certificate_name": "graced"}, RETIREMENT_GRACE_SECONDS="3600")[
            "status"
        ]
        == "rotated"
    )

    # The certificate and its replacement's name are not read again: the progress record (none) says so.
    assert world.stack.calls.count(*GET) == without_grace - 2


def test_a_run_that_finished_between_our_read_and_our_lease_is_found_and_nothing_is_ordered_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.seed("raced", ["raced.example.com"], days_left=5)
    env = {**world.env, "RETIREMENT_GRACE_SECONDS": "3600"}
    original = DynamoDbLeases.acquire
    inner: list[Any] = []

    def acquire(self: DynamoDbLeases, *args: Any, **kwargs: Any) -> Any:
        if not inner:  # the first run, between its read and its lease: another run rotates it meanwhile
            inner.append(None)
            thread = threading.Thread(
                target=lambda: inner.append(
                    lambda_runner.invoke("RotateFunction", {"certificate_name": "raced"}, env)
                )
            )
            thread.start()
            thread.join(timeout=120)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDbLeases, "acquire", acquire)

    outcome = world.invoke("RotateFunction", {"certificate_name": "raced"}, RETIREMENT_GRACE_SECONDS="3600")

    assert inner[1]["status"] == "rotated", inner
    assert outcome["new_certificate_name"] == inner[1]["new_certificate_name"], outcome
    ca = world.stack.ca_limits
    assert ca is not None
    assert ca.orders(["raced.example.com"]) == 1, "the first run found the other's work: no second order"
