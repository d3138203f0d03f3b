"""DNS-01 values of rotations running at the same time in one hosted zone, published and removed in one
Route 53 change (dns_batching.py), on the moto server, as the rotate function's role (template.yaml's
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
from certrotate import dns_batching
from certrotate.adapters.challenge_records import DynamoDbChallengeRecords
from certrotate.adapters.dns_batches import DynamoDbDnsBatches, zone_key
from certrotate.adapters.leases import KEY_ATTRIBUTE
from certrotate.adapters.route53 import Route53Challenges
from certrotate.dns_batching import DnsBatcher
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack

CHANGES = ("route53", "ChangeResourceRecordSets")
FOREIGN = '"someone-elses-answer"'


class Crash(BaseException):
    """The Lambda dies here: no `except Exception` catches it."""


class Rotation:
    """One rotation's DNS-01 values, as challenges.Dns01Responder handles them: written down in its
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
    """The test rotations' values still in the zone (but busy_zone's, which is never removed)."""
    sets = aws.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return sorted(
        r["Value"]
        for s in sets
        if s["Type"] == "TXT"
        for r in s["ResourceRecords"]
        if "value-of" in r["Value"] and "first" not in r["Value"]
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


def busy_zone(aws: LocalStack, zone: str, seconds: float) -> threading.Thread:
    """Another rotation publishes alone in the zone (its change INSYNC `seconds` after it is submitted): a
    batch opened within GATHER_SECONDS of its close gathers company until then."""
    moto_fixes.set_route53_insync_after(seconds)
    first = Rotation(aws, "first", zone)
    thread = threading.Thread(target=first.publish)
    thread.start()
    deadline = time.monotonic() + 10
    while not table_items(aws, zone_key(zone)) or "last_close_at" not in table_items(aws, zone_key(zone))[0]:
        assert time.monotonic() < deadline, "the first rotation never published"
        time.sleep(0.02)
    return thread


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
    # Two seconds from the busy rotation's close for the threads to join, whatever the machine's load.
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 2.0)
    rotations = [Rotation(aws, f"member{i}", zone) for i in range(4)]
    first = busy_zone(aws, zone, seconds=3.0)
    aws.calls.reset()

    outcomes = in_threads(*(r.publish for r in rotations))
    first.join()

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
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 1.0)
    done = Rotation(aws, "done", zone)
    done.publish()
    late = Rotation(aws, "late", zone)
    first = busy_zone(aws, zone, seconds=3.0)
    aws.calls.reset()

    def remove_while_late_gathers() -> None:
        time.sleep(0.3)  # `late` has opened its batch by then
        done.remove()

    outcomes = in_threads(late.publish, remove_while_late_gathers)
    first.join()

    assert outcomes == [None, None]
    assert aws.calls.count(*CHANGES) == 1, "one change added late's value and removed done's"
    assert txt(aws, zone, "_acme-challenge.done.example.com") is None
    assert txt(aws, zone, "_acme-challenge.late.example.com") == (60, ['"value-of-late"'])
    assert done.records.recorded("done") == []


def test_foreign_values_in_a_shared_set_survive_a_batch(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 1.0)
    shared = "_acme-challenge.shared.example.com"
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": shared,
                        "Type": "TXT",
                        "TTL": 900,
                        "ResourceRecords": [{"Value": FOREIGN}],
                    },
                }
            ]
        },
    )
    rotations = [Rotation(aws, f"r{i}", zone) for i in range(3)]
    first = busy_zone(aws, zone, seconds=3.0)
    rotations[0].values = [DnsRecord(zone, shared, ("value-of-r0",))]  # beside someone else's
    rotations[1].values = [DnsRecord(zone, shared, ("value-of-r1",))]  # and beside each other

    assert in_threads(*(r.publish for r in rotations)) == [None] * 3
    first.join()
    assert txt(aws, zone, shared) == (900, sorted([FOREIGN, '"value-of-r0"', '"value-of-r1"']))

    assert in_threads(*(r.remove for r in rotations)) == [None] * 3
    assert txt(aws, zone, shared) == (900, [FOREIGN]), "theirs and its TTL stand"
    assert txt(aws, zone, "_acme-challenge.r2.example.com") is None


def test_a_publisher_that_dies_after_closing_leaves_members_that_publish_their_own(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 1.0)
    publisher, *members = [Rotation(aws, f"r{i}", zone) for i in range(3)]
    first = busy_zone(aws, zone, seconds=2.0)
    original_close = DynamoDbDnsBatches.close

    def close_then_die(self: DynamoDbDnsBatches, *args: Any, **kwargs: Any) -> Any:
        original_close(self, *args, **kwargs)
        raise Crash("died right after closing its batch")

    monkeypatch.setattr(publisher.batches, "close", close_then_die.__get__(publisher.batches))
    started = time.monotonic()

    def publisher_first() -> None:
        publisher.publish()

    def member(rotation: Rotation) -> Callable[[], None]:
        def run() -> None:
            time.sleep(0.3)  # the publisher has opened the batch
            rotation.publish()

        return run

    outcomes = in_threads(publisher_first, *(member(m) for m in members))
    first.join()
    waited = time.monotonic() - started

    assert isinstance(outcomes[0], Crash) and outcomes[1:] == [None, None]
    # Bounded: the members gave up at the batch's give-up time (close + STATUS_GRACE + CLOCK_MARGIN).
    assert waited < 1.0 + dns_batching.STATUS_GRACE + dns_batching.CLOCK_MARGIN + 5
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "abandoned"
    for rotation in members:
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"'])
        rotation.remove()
    publisher.rerun_cleanup()  # its rerun, after the lease expired: it published nothing, removes nothing
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:") == table_items(
        aws, "#challenges:first"
    )


def test_a_change_that_lands_after_its_members_gave_up_is_recorded_by_its_publisher(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher stalls between saying it publishes and Route 53 taking the change; its member gives up,
    publishes its own value, is validated, removes and forgets it; then the stalled change lands and adds the
    value again. No record but the publisher's names it: the publisher's next run removes it."""
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 1.0)
    monkeypatch.setattr(dns_batching, "HEARTBEAT_STALE", 1.0)
    publisher, member = Rotation(aws, "pub", zone), Rotation(aws, "mem", zone)
    first = busy_zone(aws, zone, seconds=2.0)
    member_done = threading.Event()
    original_submit = Route53Challenges.submit

    def stalled_submit(self: Route53Challenges, *args: Any, **kwargs: Any) -> Any:
        assert member_done.wait(30), "the member never gave up"
        return original_submit(self, *args, **kwargs)

    monkeypatch.setattr(publisher.dns, "submit", stalled_submit.__get__(publisher.dns))

    def member_publishes_and_is_done() -> None:
        time.sleep(0.3)
        member.publish()
        member.remove()  # validated and done: its value removed and forgotten
        member_done.set()

    outcomes = in_threads(publisher.publish, member_publishes_and_is_done)
    first.join()

    assert outcomes == [None, None]
    assert member.records.recorded("mem") == []
    assert txt(aws, zone, "_acme-challenge.mem.example.com") == (60, ['"value-of-mem"']), "landed late"
    assert sorted(r.name for r in publisher.records.recorded("pub")) == [
        "_acme-challenge.mem.example.com",
        "_acme-challenge.pub.example.com",
    ], "the publisher's record names what it published for the member"
    publisher.remove()
    publisher.rerun_cleanup()
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:") == table_items(
        aws, "#challenges:first"
    )


def test_a_publisher_too_late_to_close_publishes_its_own_and_its_members_theirs(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 0.5)
    monkeypatch.setattr(dns_batching, "STATUS_GRACE", 0.5)
    slept: list[float] = []

    def slow_sleep(seconds: float) -> None:  # the publisher's container starved of CPU while it gathered
        slept.append(seconds)
        time.sleep(seconds + 3.0)

    publisher = Rotation(aws, "slow", zone, sleep=slow_sleep)
    member = Rotation(aws, "punctual", zone)
    first = busy_zone(aws, zone, seconds=2.0)

    def member_joins() -> None:
        time.sleep(0.2)
        member.publish()

    outcomes = in_threads(publisher.publish, member_joins)
    first.join()

    assert outcomes == [None, None] and slept
    assert txt(aws, zone, "_acme-challenge.slow.example.com") == (60, ['"value-of-slow"'])
    assert txt(aws, zone, "_acme-challenge.punctual.example.com") == (60, ['"value-of-punctual"'])
    assert publisher.records.recorded("slow") == publisher.values, "only its own: it published nothing else"


def test_removals_at_the_same_moment_share_one_change(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two seconds from the busy rotation's close for the threads to join, whatever the machine's load.
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 2.0)
    rotations = [Rotation(aws, f"r{i}", zone) for i in range(4)]
    for rotation in rotations:
        rotation.publish()  # alone, one after the other: nobody to wait for
    first = busy_zone(aws, zone, seconds=0.0)
    aws.calls.reset()

    assert in_threads(*(r.remove for r in rotations)) == [None] * 4
    first.join()

    assert aws.calls.count(*CHANGES) == 1, "four removals in one change"
    assert aws.calls.count("route53", "ListResourceRecordSets") == 0, "each set guessed ours alone, rightly"
    assert ours_left(aws, zone) == [] and table_items(aws, "#challenges:r") == []


def test_a_publisher_that_only_removes_leaves_the_polling_to_a_member_that_adds(
    aws: LocalStack, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 1.0)
    done, adding = Rotation(aws, "done", zone), Rotation(aws, "adding", zone)
    done.publish()
    first = busy_zone(aws, zone, seconds=3.0)  # changes INSYNC 3 s after they are submitted
    finished: dict[str, float] = {}

    def remove() -> None:
        done.remove()  # opens the batch (the first rotation closed one just now)
        finished["done"] = time.monotonic()

    def publish() -> None:
        time.sleep(0.3)
        adding.publish()
        finished["adding"] = time.monotonic()

    assert in_threads(remove, publish) == [None, None]
    first.join()

    assert finished["adding"] - finished["done"] > 2.0, "the remover did not wait for the addition's INSYNC"
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
    monkeypatch.setattr(dns_batching, "GATHER_SECONDS", 2.0)
    publisher, good, bad = (Rotation(aws, n, zone) for n in ("pub", "good", "bad"))
    fixtures.create_record_set(
        aws.client("route53"), zone, bad.values[0].name, "CNAME", ["_acme-challenge.elsewhere.example.net"]
    )
    first = busy_zone(aws, zone, seconds=0.0)

    def later(rotation: Rotation) -> Callable[[], None]:
        def run() -> None:
            time.sleep(0.3)  # the publisher has opened the batch
            rotation.publish()

        return run

    outcomes = in_threads(publisher.publish, later(good), later(bad))
    first.join()

    assert outcomes[:2] == [None, None], outcomes
    assert isinstance(outcomes[2], CertRotateError) and "CNAME" in str(outcomes[2])
    [status] = table_items(aws, zone_key(zone) + ":")
    assert status["state"]["S"] == "failed", "the batch's change was refused as a whole"
    for rotation in (publisher, good):
        assert txt(aws, zone, rotation.values[0].name) == (60, [f'"value-of-{rotation.name}"'])
    assert publisher.records.recorded("pub") == publisher.values, "it forgot what it tried for the others"


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

        def join_until_closed(n: int, round_: int = round_, batch: str = ticket.batch_id) -> None:
            client = aws.client_as("RotateFunction", "dynamodb")
            mine = DynamoDbDnsBatches(client, fixtures.LEASE_TABLE)
            started.wait()
            for attempt in range(1000):  # bounded: the close comes long before
                member = f"member-{round_}-{n}-{attempt}"
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

        threads = [threading.Thread(target=join_until_closed, args=(n,)) for n in range(joiners)]
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
