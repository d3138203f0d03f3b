"""DNS-01 values of rotations running at the same time in one hosted zone, published and removed in one
Route 53 change (order/dns_batching.py), on the moto server, as the rotate function's role (template.yaml's
grants): each thread here is one rotation (one Lambda invocation) with its own adapters, as separate
containers have."""

from __future__ import annotations

import copy
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords
from certrotate.adapters.lease_table.dns_batches import DynamoDbDnsBatches, zone_key
from certrotate.adapters.lease_table.leases import KEY_ATTRIBUTE
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord
from certrotate.order import dns_batching
from certrotate.order.dns_batching import DnsBatcher
from certrotate.ports import BatchEntry

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack
from tests.batch_gathering import Gathering
from tests.integration.test_route53_challenges import put

pytestmark = pytest.mark.stack

CHANGES = ("route53", "ChangeResourceRecordSets")
FOREIGN = '"someone-elses-answer"'


class Crash(BaseException):
    """The Lambda dies here: no `except Exception` catches it."""


class Rotation:
    """One rotation's DNS-01 values, as order.challenges.Dns01Responder handles them: written down in its
    `#challenges` record before they are published, forgotten once removed."""

    def __init__(self, aws: LocalStack, name: str, zone: str, **timing: Any) -> None:
        db = aws.client_as("RotateFunction", "dynamodb")
        self.name = name
        self.records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
        self.dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        self.batches = DynamoDbDnsBatches(db, fixtures.LEASE_TABLE)
        self.batcher = DnsBatcher(self.dns, self.batches, self.records, **timing)
        self.values = [DnsRecord(zone, f"_acme-challenge.{name}.example.com", (f"value-of-{name}",))]

    def publish(self) -> None:
        self.records.record(self.name, self.values)
        self.batcher.publish(self.name, self.values, deadline=time.monotonic() + 60)

    def remove(self) -> None:
        self.batcher.remove(self.name, self.values)
        self.records.forget(self.name, self.values)

    def rerun_cleanup(self) -> None:
        """What a rerun of the certificate does before it orders (Dns01Responder.remove_left_behind)."""
        left = self.records.recorded(self.name)
        if left:
            self.dns.remove(left)
            self.records.forget(self.name, left)


@pytest.fixture
def zone(aws: LocalStack) -> Iterator[str]:
    aws.iam.deploy_central({**aws.env(), "LEASE_TABLE_NAME": fixtures.LEASE_TABLE})
    fixtures.create_lease_table(aws.client("dynamodb"))
    moto_fixes.set_route53_pending_polls(0)
    yield fixtures.create_hosted_zone(aws.client("route53"), "example.com")


def txt(aws: LocalStack, zone: str, name: str) -> tuple[int, list[str]] | None:
    listed = aws.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="TXT", MaxItems="1"
    )["ResourceRecordSets"]
    found = [s for s in listed if s["Name"] == name + "." and s["Type"] == "TXT"]
    return (found[0]["TTL"], sorted(r["Value"] for r in found[0]["ResourceRecords"])) if found else None


def ours_left(aws: LocalStack, zone: str) -> list[str]:
    """The test rotations' values still in the zone."""
    sets = aws.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return sorted(
        r["Value"]
        for s in sets
        if s["Type"] == "TXT"
        for r in s["ResourceRecords"]
        if "value-of" in r["Value"]
    )


def table_items(aws: LocalStack, prefix: str) -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=fixtures.LEASE_TABLE, ConsistentRead=True)["Items"]
    return [i for i in items if i[KEY_ATTRIBUTE]["S"].startswith(prefix)]


def in_threads(*work: Callable[[], None]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * len(work)

    def run(i: int) -> None:
        try:
            work[i]()
        except BaseException as exc:  # reported to the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_a_lone_rotation_publishes_at_once(aws: LocalStack, zone: str) -> None:
    sleeps: list[float] = []
    lone = Rotation(aws, "lone", zone, sleep=sleeps.append)
    aws.calls.reset()

    lone.publish()

    assert sleeps == [], "no gathering, no wait for company (its change was INSYNC at the first poll)"
    assert aws.calls.count(*CHANGES) == 1
    assert txt(aws, zone, "_acme-challenge.lone.example.com") == (60, ['"value-of-lone"'])
    [item] = table_items(aws, zone_key(zone))
    assert "batch" not in item and "last_close_at" in item, "its batch closed at once"
    lone.remove()
    assert aws.calls.count(*CHANGES) == 2 and ours_left(aws, zone) == []


def test_rotations_arriving_while_another_publishes_share_one_change(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotations = [Rotation(aws, f"member{i}", zone) for i in range(4)]
    Gathering(monkeypatch, members=3)  # whoever opens the batch, the three others join it
    aws.calls.reset()

    outcomes = in_threads(*(r.publish for r in rotations))

    assert outcomes == [None] * 4
    assert aws.calls.count(*CHANGES) == 1, "four rotations' values in one change"
    for rotation in rotations:
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"'])
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "insync"
    # The publisher recorded the others' values while it published them, and forgot them once Route 53 took
    # the change: each member's own record names its value.
    for rotation in rotations:
        assert rotation.records.recorded(rotation.name) == rotation.values


def test_a_removal_rides_along_in_the_open_batch(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = Rotation(aws, "done", zone)
    done.publish()
    late = Rotation(aws, "late", zone)
    gathering = Gathering(monkeypatch, members=1)
    aws.calls.reset()

    outcomes = in_threads(late.publish, gathering.member(done.remove))

    assert outcomes == [None, None]
    assert aws.calls.count(*CHANGES) == 1, "one change added late's value and removed done's"
    assert txt(aws, zone, "_acme-challenge.done.example.com") is None
    assert txt(aws, zone, "_acme-challenge.late.example.com") == (60, ['"value-of-late"'])
    assert done.records.recorded("done") == []


def test_foreign_values_in_a_shared_set_survive_a_batch(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = "_acme-challenge.shared.example.com"
    put(aws, zone, "CREATE", 900, [FOREIGN], name=shared)
    rotations = [Rotation(aws, f"r{i}", zone) for i in range(3)]
    rotations[0].values = [DnsRecord(zone, shared, ("value-of-r0",))]  # beside someone else's
    rotations[1].values = [DnsRecord(zone, shared, ("value-of-r1",))]  # and beside each other
    Gathering(monkeypatch, members=2)

    assert in_threads(*(r.publish for r in rotations)) == [None] * 3
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "insync" and len(status["members"]["SS"]) == 3, "the three in one batch"
    assert txt(aws, zone, shared) == (900, sorted([FOREIGN, '"value-of-r0"', '"value-of-r1"']))

    assert in_threads(*(r.remove for r in rotations)) == [None] * 3
    assert txt(aws, zone, shared) == (900, [FOREIGN]), "theirs and its TTL stand"
    assert txt(aws, zone, "_acme-challenge.r2.example.com") is None


def test_a_publisher_that_dies_after_closing_leaves_members_that_publish_their_own(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher, *members = [Rotation(aws, f"r{i}", zone) for i in range(3)]
    # The members give up on a silent publisher at the batch's give-up time: 10 s after it opened, time
    # enough for them to join first on a loaded machine.
    gathering = Gathering(monkeypatch, members=2, grace=10.0)
    gated_close = DynamoDbDnsBatches.close

    def close_then_die(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        gated_close(self, *args, **kwargs)
        raise Crash("died right after closing its batch")

    monkeypatch.setattr(publisher.batches, "close", close_then_die.__get__(publisher.batches))

    outcomes = in_threads(publisher.publish, *(gathering.member(m.publish) for m in members))

    assert isinstance(outcomes[0], Crash) and outcomes[1:] == [None, None]
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "abandoned"
    for rotation in members:
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"'])
        rotation.remove()
    publisher.rerun_cleanup()  # its rerun, after the lease expired: it published nothing, removes nothing
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:") == []


def test_a_change_that_lands_after_its_members_gave_up_is_recorded_by_its_publisher(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher stalls between saying it publishes and Route 53 taking the change; its member gives up,
    publishes its own value, is validated, removes and forgets it; then the stalled change lands and adds the
    value again. No record but the publisher's names it: the publisher's next run removes it."""
    monkeypatch.setattr(dns_batching, "HEARTBEAT_STALE", 1.0)
    publisher, member = Rotation(aws, "pub", zone), Rotation(aws, "mem", zone)
    gathering = Gathering(monkeypatch, members=1)
    member_done = threading.Event()
    original_submit = Route53Challenges.submit

    def stalled_submit(self: Route53Challenges, *args: Any, **kwargs: Any) -> Any:
        assert member_done.wait(30), "the member never gave up"
        return original_submit(self, *args, **kwargs)

    monkeypatch.setattr(publisher.dns, "submit", stalled_submit.__get__(publisher.dns))

    def member_publishes_and_is_done() -> None:
        member.publish()
        member.remove()  # validated and done: its value removed and forgotten
        member_done.set()

    outcomes = in_threads(publisher.publish, gathering.member(member_publishes_and_is_done))

    assert outcomes == [None, None]
    assert member.records.recorded("mem") == []
    assert txt(aws, zone, "_acme-challenge.mem.example.com") == (60, ['"value-of-mem"']), "landed late"
    assert sorted(r.name for r in publisher.records.recorded("pub")) == [
        "_acme-challenge.mem.example.com",
        "_acme-challenge.pub.example.com",
    ], "the publisher's record names what it published for the member"
    publisher.remove()
    publisher.rerun_cleanup()
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:") == []


def test_a_publisher_too_late_to_close_publishes_its_own_and_its_members_theirs(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 0.5)
    monkeypatch.setattr(dns_batching, "STATUS_GRACE", 0.5)
    publisher = Rotation(aws, "slow", zone)
    member = Rotation(aws, "punctual", zone)
    opened = threading.Event()
    refused: list[object] = []
    original_open, original_close = publisher.batches.open, publisher.batches.close

    def open_(*args: Any, **kwargs: Any) -> Any:
        ticket = original_open(*args, **kwargs)
        opened.set()
        return ticket

    def starved_close(*args: Any, **kwargs: Any) -> Any:
        # The publisher's container starved of CPU between its gather and its close: it closes after the
        # batch's give-up time (at most GATHER + STATUS_GRACE after it opened), whatever the machine's load.
        time.sleep(dns_batching.GATHER_SECONDS + dns_batching.STATUS_GRACE + 0.5)
        members = original_close(*args, **kwargs)
        refused.append(members)
        return members

    monkeypatch.setattr(publisher.batches, "open", open_)
    monkeypatch.setattr(publisher.batches, "close", starved_close)

    def member_publishes() -> None:
        assert opened.wait(60), "the publisher never opened its batch"
        member.publish()  # joins it (or, on a loaded machine, comes after its give-up time: alone)

    outcomes = in_threads(publisher.publish, member_publishes)

    assert outcomes == [None, None] and refused == [None], "the close came too late and was refused"
    assert txt(aws, zone, "_acme-challenge.slow.example.com") == (60, ['"value-of-slow"'])
    assert txt(aws, zone, "_acme-challenge.punctual.example.com") == (60, ['"value-of-punctual"'])
    assert publisher.records.recorded("slow") == publisher.values, "only its own: it published nothing else"


def test_removals_at_the_same_moment_share_one_change(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotations = [Rotation(aws, f"r{i}", zone) for i in range(4)]
    for rotation in rotations:
        rotation.publish()  # alone, one after the other: nobody to wait for
    Gathering(monkeypatch, members=3)
    aws.calls.reset()

    assert in_threads(*(r.remove for r in rotations)) == [None] * 4

    assert aws.calls.count(*CHANGES) == 1, "four removals in one change"
    assert aws.calls.count("route53", "ListResourceRecordSets") == 0, "each set guessed ours alone, rightly"
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:r") == []


def test_a_publisher_that_only_removes_leaves_the_polling_to_a_member_that_adds(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    done, adding = Rotation(aws, "done", zone), Rotation(aws, "adding", zone)
    done.publish()
    moto_fixes.set_route53_pending_polls(2)  # the change is PENDING for two polls
    gathering = Gathering(monkeypatch, members=1)  # `done` opens the batch (removing), `adding` joins it
    polled: list[str] = []
    for rotation in (done, adding):
        original = rotation.dns.wait_in_sync

        def wait_in_sync(
            *args: Any, rotation: Rotation = rotation, original: Any = original, **kw: Any
        ) -> Any:
            polled.append(rotation.name)
            return original(*args, **kw)

        monkeypatch.setattr(rotation.dns, "wait_in_sync", wait_in_sync)

    assert in_threads(done.remove, gathering.member(adding.publish)) == [None, None]

    assert polled == ["adding"], "the remover left the polling to the member that adds"
    [status] = [i for i in table_items(aws, zone_key(zone) + ":") if i["state"]["S"] == "insync"]
    assert "poller" in status, "the member that adds polled the change"
    assert txt(aws, zone, "_acme-challenge.done.example.com") is None
    assert txt(aws, zone, "_acme-challenge.adding.example.com") == (60, ['"value-of-adding"'])


def test_a_batch_route_53_refuses_costs_its_other_members_nothing(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One member's name holds a CNAME (its DNS-01 delegated elsewhere): Route 53 refuses the whole batch's
    change. The batch says `failed`, and every member publishes alone: the others' values stand, in time for
    the ACME order each already placed; only the member whose set Route 53 refuses fails."""
    publisher, good, bad = (Rotation(aws, n, zone) for n in ("pub", "good", "bad"))
    fixtures.create_record_set(
        aws.client("route53"), zone, bad.values[0].name, "CNAME", ["_acme-challenge.elsewhere.example.net"]
    )
    gathering = Gathering(monkeypatch, members=2)

    outcomes = in_threads(publisher.publish, gathering.member(good.publish), gathering.member(bad.publish))

    assert outcomes[:2] == [None, None], outcomes
    assert isinstance(outcomes[2], CertRotateError) and "CNAME" in str(outcomes[2])
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "failed", "the batch's change was refused as a whole"
    for rotation in (publisher, good):
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"'])
    assert publisher.records.recorded("pub") == publisher.values, "it forgot what it tried for the others"


def join_until_closed(
    aws: LocalStack,
    zone: str,
    entry: list[BatchEntry],
    prefix: str,
    batch: str,
    started: threading.Barrier,
    admitted: list[str],
    wrong: list[object],
) -> None:
    """Join the zone's open batch again and again (a new member each time) until a join is refused."""
    mine = DynamoDbDnsBatches(aws.client_as("RotateFunction", "dynamodb"), fixtures.LEASE_TABLE)
    started.wait()
    for attempt in range(1000):  # bounded: the close comes long before
        member = f"{prefix}-{attempt}"
        try:
            joined = mine.join(zone, member, entry, room=100_000)
        except Exception as exc:  # reported to the test
            wrong.append(exc)
            return
        if joined is None:
            return  # closed: refused, as it must be
        if joined.batch_id != batch:
            wrong.append(joined)
        admitted.append(member)


def test_a_join_the_table_admitted_is_in_what_the_close_returns(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB applies each UpdateItem atomically, its ReturnValues included: a join that lands before the
    close is in the entries the close returns (its publisher publishes them), one that lands after is refused
    (its rotation joins or opens another batch). A member admitted but not returned would be told INSYNC for
    a change without its values: the validation then fails and a second order is spent (the N = 100 drill's
    101st order, docs/performance.md 6d: moto read the item for ReturnValues before, not with, the update)."""
    from moto.dynamodb import responses

    def slow_deepcopy(value: Any) -> Any:
        # The close's thread in the server descheduled between its read and its write, as on a loaded machine
        # (joins keep coming meanwhile).
        read = copy.deepcopy(value)
        handler = sys._getframe(1).f_locals.get("self")
        if "REMOVE" in getattr(handler, "body", {}).get("UpdateExpression", ""):
            time.sleep(0.2)
        return read

    monkeypatch.setattr(responses, "copy", types.SimpleNamespace(deepcopy=slow_deepcopy))
    db = aws.client_as("RotateFunction", "dynamodb")
    batches = DynamoDbDnsBatches(db, fixtures.LEASE_TABLE)
    entry = dns_batching._entries(
        [DnsRecord(zone, "_acme-challenge.joiner.example.com", ("value-of-joiner",))], adding=True
    )
    joiners, rounds = 4, 3
    for round_ in range(rounds):
        ticket = batches.open(zone, f"publisher-{round_}", entry, gather=600.0, grace=600.0)
        assert ticket is not None and ticket.publisher
        admitted: list[str] = []
        wrong: list[object] = []  # a join's error, or a ticket of another batch
        started = threading.Barrier(joiners + 1)

        threads = [
            threading.Thread(
                target=join_until_closed,
                args=(aws, zone, entry, f"member-{round_}-{n}", ticket.batch_id, started, admitted, wrong),
            )
            for n in range(joiners)
        ]
        for thread in threads:
            thread.start()
        started.wait()
        while len(admitted) < 3 * joiners:  # joins in flight when it closes (bounded by the joins' own loop)
            if not any(thread.is_alive() for thread in threads):
                break
            time.sleep(0.01)
        returned = batches.close(zone, ticket.batch_id)
        for thread in threads:
            thread.join(timeout=120)
        assert returned is not None and wrong == []
        missing = sorted(set(admitted) - set(returned))
        assert missing == [], f"round {round_}: joins admitted to the batch but not returned by its close"
        assert set(returned) == {*admitted, f"publisher-{round_}"}


def test_a_member_the_publisher_did_not_publish_is_never_told_insync(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a close ever return fewer members than it admitted (a DynamoDB that was not atomic did, the
    devstack's before ed61993), the member left out must not take the batch's INSYNC for its own: the status
    item names the members published, and one not named publishes its values alone."""
    publisher, kept, left_out = (Rotation(aws, n, zone) for n in ("pub", "kept", "left"))
    gathering = Gathering(monkeypatch, members=2)
    gated_close = DynamoDbDnsBatches.close

    def close_losing_one(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        members = gated_close(self, *args, **kwargs)
        assert members is not None
        return {
            m: entries
            for m, entries in members.items()
            if not any("value-of-left" in e.record.values[0] for e in entries)
        }

    monkeypatch.setattr(publisher.batches, "close", close_losing_one.__get__(publisher.batches))
    aws.calls.reset()

    outcomes = in_threads(
        publisher.publish, gathering.member(kept.publish), gathering.member(left_out.publish)
    )

    assert outcomes == [None, None, None]
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "insync" and len(status["members"]["SS"]) == 2
    for rotation in (publisher, kept, left_out):
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"']), rotation.name
    assert aws.calls.count(*CHANGES) == 2, "the batch's change, and the left-out member's own"
