"""Rotations of certificates in one hosted zone running at the same time (each its own invocation, as Lambda
runs them from the queue) share Route 53 changes for their DNS-01 values (order/dns_batching.py), every one
still succeeds, a publisher that dies strands nobody, and shared sets keep what others put there."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from certrotate.adapters.lease_table.challenge_records import CHALLENGES_KEY_PREFIX
from certrotate.adapters.lease_table.dns_batches import DNS_BATCH_KEY_PREFIX, DynamoDbDnsBatches
from certrotate.order import dns_batching
from certrotate.order.challenges import Dns01Responder

from devstack import moto_fixes
from tests.batch_gathering import Gathering
from tests.e2e.conftest import World
from tests.e2e.test_faults import Crash, expire_leases
from tests.e2e.test_shared_dns import FOREIGN, put_foreign, store_account_key, txt_set

CHANGES = ("route53", "ChangeResourceRecordSets")


def rotate_together(world: World, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> dict[str, Any]:
    """Rotate `names` at once, one thread (one invocation) each, all publishing their DNS-01 values at the
    same moment: each waits for the others' orders before it publishes. Returns each one's result (or what
    it raised). A rotation that crashes while it publishes runs no cleanup (a dead process runs no
    `finally`)."""
    ready = threading.Barrier(len(names), timeout=60)
    original_publish = Dns01Responder.publish
    original_remove = Dns01Responder.remove
    died: set[int] = set()

    def publish(self: Dns01Responder, plan: Any, answers: Any, *, deadline: float) -> None:
        ready.wait()
        try:
            original_publish(self, plan, answers, deadline=deadline)
        except Crash:
            died.add(threading.get_ident())
            raise

    def remove(self: Dns01Responder, plan: Any, answers: Any) -> None:
        if threading.get_ident() not in died:
            original_remove(self, plan, answers)

    monkeypatch.setattr(Dns01Responder, "publish", publish)
    monkeypatch.setattr(Dns01Responder, "remove", remove)
    try:
        results = world.invoke_together([{"certificate_name": name} for name in names], on_error=ready.abort)
    finally:
        monkeypatch.setattr(Dns01Responder, "publish", original_publish)
        monkeypatch.setattr(Dns01Responder, "remove", original_remove)
    return dict(zip(names, results, strict=True))


def batch_statuses(world: World) -> list[str]:
    """The state of every batch that was published with company (a lone rotation writes no status)."""
    items = world._table_items()
    return sorted(
        i["state"]["S"]
        for i in items
        if i["certificate"]["S"].startswith(DNS_BATCH_KEY_PREFIX) and "state" in i
    )


def challenge_records(world: World) -> list[str]:
    """The `#challenges:<certificate>` records left in the lease table (each names values a run published)."""
    return sorted(
        i["certificate"]["S"]
        for i in world._table_items()
        if i["certificate"]["S"].startswith(CHALLENGES_KEY_PREFIX)
    )


def ours_left(world: World) -> list[tuple[str, list[str]]]:
    return [
        (s["Name"], [r["Value"] for r in s["ResourceRecords"]])
        for s in world.txt_records()
        if any(r["Value"] != FOREIGN for r in s["ResourceRecords"])
    ]


def due_sites(world: World, count: int) -> list[str]:
    """`count` certificates due, one name each in the zone; the account key stored; Route 53's changes
    PENDING for a few polls (the publishers poll while their members wait)."""
    names = [f"site{i}" for i in range(count)]
    for name in names:
        world.seed(name, [f"{name}.example.com"], days_left=5)
    store_account_key(world)
    moto_fixes.set_route53_pending_polls(3)
    return names


def test_rotations_in_one_zone_started_together_share_changes_and_all_succeed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = due_sites(world, 4)
    Gathering(monkeypatch, members=3)  # the four publications in one batch, whatever the machine's load
    world.stack.calls.reset()

    outcomes = rotate_together(world, monkeypatch, names)

    assert [outcomes[n]["status"] for n in names] == ["rotated"] * 4, outcomes
    # Alone, each rotation makes a CREATE and a DELETE: 8 changes. The four publications share one; each
    # removal goes in the zone's open batch or, with none open, alone.
    assert world.stack.calls.count(*CHANGES) <= len(names) + 1
    # Every batch published with company (a publication's, a removal's) ended INSYNC: none failed or was
    # given up on.
    statuses = batch_statuses(world)
    assert statuses and set(statuses) == {"insync"}, statuses
    assert ours_left(world) == [] and challenge_records(world) == []


def test_a_publisher_that_dies_after_closing_its_batch_strands_nobody_and_reruns_leave_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = due_sites(world, 3)
    # The three publications in one batch; its members give up on its silent publisher 10 s after it opened.
    Gathering(monkeypatch, members=2, grace=10.0)
    original_close = DynamoDbDnsBatches.close
    fired: list[str] = []

    def close_then_die(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        members = original_close(self, *args, **kwargs)
        if members is not None and len(members) > 1 and not fired:
            fired.append("closed")
            raise Crash("died right after closing a batch with company")
        return members

    monkeypatch.setattr(DynamoDbDnsBatches, "close", close_then_die)

    outcomes = rotate_together(world, monkeypatch, names)

    monkeypatch.undo()
    crashed = [n for n in names if isinstance(outcomes[n], Crash)]
    assert fired and len(crashed) == 1, outcomes
    assert all(outcomes[n]["status"] == "rotated" for n in names if n not in crashed), outcomes
    # The members gave up at the batch's give-up time and published their own (rotate_together's bounded
    # wait saw every invocation end).
    statuses = batch_statuses(world)
    assert statuses.count("abandoned") == 1 and set(statuses) <= {"abandoned", "insync"}, statuses
    [name] = crashed
    assert challenge_records(world), "the dead publisher's values are still recorded"
    # Each member lost nothing to the publisher's death: one ACME order each, one certificate each.
    ca = world.stack.ca_limits
    assert ca is not None
    for member in (n for n in names if n != name):
        assert (ca.orders([f"{member}.example.com"]), ca.issued([f"{member}.example.com"])) == (1, 1), member

    expire_leases(world)
    assert world.rotate(name)["status"] == "rotated", "its rerun removes what it recorded, and rotates"

    assert ours_left(world) == [] and challenge_records(world) == []


def test_foreign_values_in_a_shared_set_survive_a_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two certificates share www.example.com, whose set holds someone else's value; a third is elsewhere.
    world.seed("www-a", ["www.example.com"], days_left=5)
    world.seed("www-b", ["www.example.com", "static.example.com"], days_left=5)
    world.seed("other", ["other.example.com"], days_left=5)
    put_foreign(world, "_acme-challenge.www.example.com", [FOREIGN])
    store_account_key(world)
    moto_fixes.set_route53_pending_polls(3)
    Gathering(monkeypatch, members=2)  # the three publications in one batch
    seen: list[Any] = []
    original = Dns01Responder.publish

    def publish(self: Dns01Responder, plan: Any, answers: Any, *, deadline: float) -> None:
        original(self, plan, answers, deadline=deadline)
        seen.append(txt_set(world, "_acme-challenge.www.example.com"))

    monkeypatch.setattr(Dns01Responder, "publish", publish)

    outcomes = rotate_together(world, monkeypatch, ["www-a", "www-b", "other"])

    assert [o["status"] for o in outcomes.values()] == ["rotated"] * 3, outcomes
    statuses = batch_statuses(world)
    assert statuses and set(statuses) == {"insync"}, "published with company"
    assert any(s is not None and FOREIGN in s[1] and len(s[1]) >= 2 for s in seen)
    assert all(s is not None and FOREIGN in s[1] and s[0] == 3600 for s in seen), "theirs stood throughout"
    assert txt_set(world, "_acme-challenge.www.example.com") == (3600, [FOREIGN]), "and stands after"
    assert ours_left(world) == []


def test_a_lone_rotation_publishes_without_waiting_for_company(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.seed("lone", ["lone.example.com"], days_left=5)
    opened: list[Any] = []
    closed: list[float] = []
    original_open, original_close = DynamoDbDnsBatches.open, DynamoDbDnsBatches.close

    def recorded_open(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        ticket = original_open(self, *args, **kwargs)
        opened.append(ticket)
        return ticket

    def recorded_close(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        members = original_close(self, *args, **kwargs)
        closed.append(time.time())  # the zone's last close was at this time or just before
        return members

    monkeypatch.setattr(DynamoDbDnsBatches, "open", recorded_open)
    monkeypatch.setattr(DynamoDbDnsBatches, "close", recorded_close)
    world.stack.calls.reset()

    assert world.rotate("lone")["status"] == "rotated"

    # One batch to publish, one to remove, each its own: the publication set to close when it opened (no
    # gathering: no batch closed before it), the removal at the latest GATHER_SECONDS after the
    # publication's close (the zone's pace), not later. (What the tickets say, not how long anything took.)
    [publication, removal] = opened
    [publication_closed, _removal_closed] = closed
    opened_at = publication.give_up_at - dns_batching.GATHER_SECONDS - dns_batching.STATUS_GRACE
    assert publication.close_at == pytest.approx(opened_at, abs=1e-6), "closed at once: no gathering"
    assert removal.close_at <= publication_closed + dns_batching.GATHER_SECONDS
    assert world.stack.calls.count(*CHANGES) == 2, "a CREATE and a DELETE, as ever"
    assert batch_statuses(world) == [], "nobody to tell"
