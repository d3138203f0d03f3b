"""The Route 53 adapter over the moto server: DNS-01 values go beside whatever the `_acme-challenge` set
holds, and only ours are removed, also when other writers change the set at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from certrotate.adapters.aws.route53 import (
    MAX_CHANGE_CHARACTERS,
    MAX_CHANGE_RECORDS,
    SWAP_ATTEMPTS,
    ZONES_KEPT,
    Route53Challenges,
)
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack

NAME = "_acme-challenge.www.example.com"


@pytest.fixture
def zone(aws: LocalStack) -> str:
    moto_fixes.set_route53_pending_polls(0)
    return fixtures.create_hosted_zone(aws.client("route53"), "example.com")


def record(zone: str, *values: str, name: str = NAME) -> DnsRecord:
    return DnsRecord(zone, name, values)


def deadline() -> float:
    return time.monotonic() + 60


def txt_set(aws: LocalStack, zone: str, name: str = NAME) -> tuple[int, list[str]] | None:
    listed = aws.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="TXT", MaxItems="1"
    )
    for found in listed["ResourceRecordSets"]:
        if found["Type"] == "TXT" and found["Name"] == name + ".":
            return found["TTL"], sorted(r["Value"] for r in found["ResourceRecords"])
    return None


def put(aws: LocalStack, zone: str, action: str, ttl: int, values: list[str], name: str = NAME) -> None:
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": action,
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "TXT",
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": v} for v in values],
                    },
                }
            ]
        },
    )


class Interfering:
    """A Route 53 client whose next `times` change batches each meet another writer that got there first."""

    def __init__(self, client: Any, interfere: Callable[[int], None], times: int) -> None:
        self._client = client
        self._interfere = interfere
        self.left = times
        self.changes = 0
        self.reads = 0

    def change_resource_record_sets(self, **kwargs: Any) -> Any:
        self.changes += 1
        if self.left > 0:
            self.left -= 1
            self._interfere(self.left)
        return self._client.change_resource_record_sets(**kwargs)

    def list_resource_record_sets(self, **kwargs: Any) -> Any:
        self.reads += 1
        return self._client.list_resource_record_sets(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class TestBesideOthers:
    def test_a_new_set_is_created_and_removed_whole(self, aws: LocalStack, zone: str) -> None:
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        dns.publish([record(zone, "ours-1", "ours-2")], deadline=deadline())
        assert txt_set(aws, zone) == (60, ['"ours-1"', '"ours-2"'])
        dns.remove([record(zone, "ours-1", "ours-2")])
        assert txt_set(aws, zone) is None

    def test_foreign_values_and_their_ttl_stand_before_during_and_after(
        self, aws: LocalStack, zone: str
    ) -> None:
        put(aws, zone, "CREATE", 3600, ['"someone-else"', '"a person\'s"'])
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        dns.publish([record(zone, "ours")], deadline=deadline())
        assert txt_set(aws, zone) == (3600, ['"a person\'s"', '"ours"', '"someone-else"'])
        dns.remove([record(zone, "ours")])
        assert txt_set(aws, zone) == (3600, ['"a person\'s"', '"someone-else"'])

    def test_no_upsert_ever(self, aws: LocalStack, zone: str) -> None:
        actions: list[str] = []
        client = aws.client_as("RotateFunction", "route53")

        class Recording(Interfering):
            def change_resource_record_sets(self, **kwargs: Any) -> Any:
                actions.extend(c["Action"] for c in kwargs["ChangeBatch"]["Changes"])
                return super().change_resource_record_sets(**kwargs)

        dns = Route53Challenges(Recording(client, lambda left: None, 0))  # type: ignore[arg-type]
        put(aws, zone, "CREATE", 60, ['"theirs"'])
        dns.publish(
            [record(zone, "ours"), record(zone, "new", name="_acme-challenge.example.com")],
            deadline=deadline(),
        )
        dns.remove([record(zone, "ours"), record(zone, "new", name="_acme-challenge.example.com")])
        assert actions and "UPSERT" not in actions

    def test_the_common_case_makes_no_read(self, aws: LocalStack, zone: str) -> None:
        # Route 53 allows 5 requests per second per account: a CREATE, a GetChange, a DELETE, no reads.
        client = Interfering(aws.client_as("RotateFunction", "route53"), lambda left: None, 0)
        dns = Route53Challenges(client)  # type: ignore[arg-type]
        dns.publish([record(zone, "ours")], deadline=deadline())
        dns.remove([record(zone, "ours")])
        assert (client.changes, client.reads) == (2, 0)
        assert txt_set(aws, zone) is None

    def test_our_values_already_standing_are_swapped_to_get_a_change_to_wait_for(
        self, aws: LocalStack, zone: str
    ) -> None:
        put(aws, zone, "CREATE", 120, ['"ours"', '"theirs"'])
        moto_fixes.set_route53_pending_polls(2)
        route53 = aws.client_as("RotateFunction", "route53")
        polls: list[str] = []

        class Polling(Interfering):
            def get_change(self, **kwargs: Any) -> Any:
                response = route53.get_change(**kwargs)
                polls.append(response["ChangeInfo"]["Status"])
                return response

        dns = Route53Challenges(Polling(route53, lambda left: None, 0), sleep=lambda s: None)  # type: ignore[arg-type]
        dns.publish([record(zone, "ours")], deadline=deadline())
        assert polls == ["PENDING", "PENDING", "INSYNC"]
        assert txt_set(aws, zone) == (120, ['"ours"', '"theirs"'])


class TestRaces:
    def test_two_writers_at_the_same_moment_both_win(self, aws: LocalStack, zone: str) -> None:
        moto_fixes.set_route53_pending_polls(3)
        put(aws, zone, "CREATE", 300, ['"theirs"'])
        barrier = threading.Barrier(2)
        both_published = threading.Barrier(2, timeout=30)
        errors: list[BaseException] = []
        seen_by: dict[str, tuple[int, list[str]] | None] = {}

        def rotation(value: str) -> None:
            dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
            try:
                barrier.wait()
                dns.publish([record(zone, value)], deadline=deadline())
                both_published.wait()
                seen_by[value] = txt_set(aws, zone)
                both_published.wait()
                dns.remove([record(zone, value)])
            except BaseException as exc:  # reported below
                errors.append(exc)
                both_published.abort()

        threads = [threading.Thread(target=rotation, args=(v,)) for v in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert seen_by["first"] == seen_by["second"] == (300, ['"first"', '"second"', '"theirs"'])
        assert txt_set(aws, zone) == (300, ['"theirs"'])

    def test_a_lost_race_is_read_again_and_retried_with_backoff(self, aws: LocalStack, zone: str) -> None:
        put(aws, zone, "CREATE", 300, ['"theirs"'])
        current = ['"theirs"']

        def another_writer_adds(left: int) -> None:  # between our read and our write, every time
            value = f'"other-{left}"'
            put(aws, zone, "DELETE", 300, current)
            put(aws, zone, "CREATE", 300, [*current, value])
            current.append(value)

        client = Interfering(aws.client_as("RotateFunction", "route53"), another_writer_adds, 3)
        sleeps: list[float] = []
        jitter_bounds: list[tuple[float, float]] = []

        def jitter(low: float, high: float) -> float:
            jitter_bounds.append((low, high))
            return high / 2

        dns = Route53Challenges(client, sleep=sleeps.append, jitter=jitter)  # type: ignore[arg-type]
        dns.publish([record(zone, "ours")], deadline=deadline())

        # The blind CREATE, then swaps from fresh reads, each lost to the other writer, then a win.
        assert client.changes == 4
        assert client.reads == 3
        assert jitter_bounds == [(0.0, 0.25), (0.0, 0.5)]  # the CREATE was a guess: no wait before its retry
        assert sleeps == [0.125, 0.25]
        assert txt_set(aws, zone) == (300, sorted([*current, '"ours"']))
        dns.remove([record(zone, "ours")])
        assert txt_set(aws, zone) == (300, sorted(current))

    def test_retries_are_bounded(self, aws: LocalStack, zone: str) -> None:
        put(aws, zone, "CREATE", 300, ['"theirs"'])
        current = ['"theirs"']

        def another_writer_adds(left: int) -> None:
            value = f'"other-{left}"'
            put(aws, zone, "DELETE", 300, current)
            put(aws, zone, "CREATE", 300, [*current, value])
            current.append(value)

        client = Interfering(aws.client_as("RotateFunction", "route53"), another_writer_adds, 100)
        dns = Route53Challenges(client, sleep=lambda s: None)  # type: ignore[arg-type]
        with pytest.raises(CertRotateError, match="kept changing"):
            dns.publish([record(zone, "ours")], deadline=deadline())
        assert client.changes == SWAP_ATTEMPTS
        assert '"ours"' not in txt_set(aws, zone)[1]  # type: ignore[index]

    def test_a_refused_batch_fails_at_once(self, aws: LocalStack, zone: str) -> None:
        # A CNAME at the name (DNS-01 delegated elsewhere): no race, no point retrying.
        fixtures.create_record_set(
            aws.client("route53"), zone, NAME, "CNAME", ["_acme-challenge.elsewhere.example.net"]
        )
        sleeps: list[float] = []
        client = Interfering(aws.client_as("RotateFunction", "route53"), lambda left: None, 0)
        dns = Route53Challenges(client, sleep=sleeps.append)  # type: ignore[arg-type]
        with pytest.raises(CertRotateError, match=r"Route 53 refused the DNS-01 change: .*CNAME"):
            dns.publish([record(zone, "ours")], deadline=deadline())
        assert (client.changes, sleeps) == (2, [])


class TestRemoval:
    def test_our_value_already_removed_by_someone_else(self, aws: LocalStack, zone: str) -> None:
        put(aws, zone, "CREATE", 300, ['"theirs"'])
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        dns.publish([record(zone, "ours")], deadline=deadline())
        # Someone tidies up: drops our value and adds one of theirs.
        put(aws, zone, "DELETE", 300, ['"theirs"', '"ours"'])
        put(aws, zone, "CREATE", 300, ['"theirs"', '"more"'])
        dns.remove([record(zone, "ours")])
        assert txt_set(aws, zone) == (300, ['"more"', '"theirs"'])

    def test_the_whole_set_already_deleted(self, aws: LocalStack, zone: str) -> None:
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        dns.publish([record(zone, "ours")], deadline=deadline())
        put(aws, zone, "DELETE", 60, ['"ours"'])
        dns.remove([record(zone, "ours")])
        assert txt_set(aws, zone) is None

    def test_removal_by_another_container_guesses_a_set_of_ours_alone(
        self, aws: LocalStack, zone: str
    ) -> None:
        # A rerun removes what a dead run published, a batch's publisher what its members published: they
        # never saw the set. The common case, a set of our values alone, costs no read.
        Route53Challenges(aws.client_as("RotateFunction", "route53")).publish(
            [record(zone, "ours")], deadline=deadline()
        )
        client = Interfering(aws.client_as("RotateFunction", "route53"), lambda left: None, 0)
        Route53Challenges(client).remove([record(zone, "ours")])  # type: ignore[arg-type]
        assert (client.reads, client.changes) == (0, 1)
        assert txt_set(aws, zone) is None

    def test_a_refused_guess_of_a_removal_is_read(self, aws: LocalStack, zone: str) -> None:
        Route53Challenges(aws.client_as("RotateFunction", "route53")).publish(
            [record(zone, "ours")], deadline=deadline()
        )
        put(aws, zone, "DELETE", 60, ['"ours"'])
        put(aws, zone, "CREATE", 60, ['"ours"', '"theirs"'])
        client = Interfering(aws.client_as("RotateFunction", "route53"), lambda left: None, 0)
        Route53Challenges(client).remove([record(zone, "ours")])  # type: ignore[arg-type]
        # DELETE of {ours} refused (the set holds theirs too), read, then the swap.
        assert (client.reads, client.changes) == (1, 2)
        assert txt_set(aws, zone) == (60, ['"theirs"'])
        Route53Challenges(client).remove([record(zone, "ours")])  # type: ignore[arg-type]
        assert (client.reads, client.changes) == (2, 3), "nothing of ours there: nothing more to change"
        assert txt_set(aws, zone) == (60, ['"theirs"'])

    def test_one_zone_failing_does_not_keep_the_others(self, aws: LocalStack, zone: str) -> None:
        other = fixtures.create_hosted_zone(aws.client("route53"), "example.org")
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        records = [record(zone, "ours"), record(other, "ours", name="_acme-challenge.example.org")]
        dns.publish(records, deadline=deadline())
        aws.faults.inject(service="route53", action="ListResourceRecordSets", code="AccessDenied", status=403)
        put(aws, zone, "DELETE", 60, ['"ours"'])
        put(aws, zone, "CREATE", 60, ['"ours"', '"theirs"'])  # our guess for this zone is now stale
        with pytest.raises(
            CertRotateError, match=f"could not remove DNS-01 records: zone {zone}: AccessDenied"
        ):
            dns.remove(records)
        assert txt_set(aws, other, "_acme-challenge.example.org") is None
        assert txt_set(aws, zone) == (60, ['"ours"', '"theirs"'])

    def test_errors_other_than_a_lost_race_are_not_retried(self, aws: LocalStack, zone: str) -> None:
        aws.faults.inject(
            service="route53", action="ChangeResourceRecordSets", code="AccessDenied", status=403
        )
        dns = Route53Challenges(aws.client_as("RotateFunction", "route53"))
        with pytest.raises(ClientError, match="AccessDenied"):
            dns.publish([record(zone, "ours")], deadline=deadline())
        assert txt_set(aws, zone) is None


class Sizing(Interfering):
    """Records the size of each change batch sent (ResourceRecord elements, characters of values)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, lambda left: None, 0)
        self.sizes: list[tuple[int, int]] = []

    def change_resource_record_sets(self, **kwargs: Any) -> Any:
        values = [
            r["Value"]
            for change in kwargs["ChangeBatch"]["Changes"]
            for r in change["ResourceRecordSet"].get("ResourceRecords", [])
        ]
        self.sizes.append((len(values), sum(len(v) for v in values)))
        return super().change_resource_record_sets(**kwargs)


def dns01_value(i: int) -> str:
    return f"{i:04d}" + "v" * 39  # 43 characters, as a base64url SHA-256; 45 quoted


class TestManyCertificatesAtOnce:
    """Several certificates' values in one change (order/dns_batching.py), within Route 53's limits on one
    request: 1,000 ResourceRecord elements and 32,000 characters of values."""

    def test_new_sets_go_in_as_few_changes_as_the_limits_allow(self, aws: LocalStack, zone: str) -> None:
        client = Sizing(aws.client_as("RotateFunction", "route53"))
        dns = Route53Challenges(client, sleep=lambda s: None)  # type: ignore[arg-type]
        records = [record(zone, dns01_value(i), name=f"_acme-challenge.n{i}.example.com") for i in range(800)]

        change_ids = dns.submit(records, deadline=deadline())

        # 800 values of 45 characters are 36,000 characters: two changes, each within the limits.
        assert len(change_ids) == 2 and len(client.sizes) == 2
        assert all(n <= MAX_CHANGE_RECORDS and c <= MAX_CHANGE_CHARACTERS for n, c in client.sizes)
        assert sum(n for n, _c in client.sizes) == 800
        dns.wait_in_sync(change_ids, deadline=deadline())
        assert txt_set(aws, zone, "_acme-challenge.n799.example.com") == (60, [f'"{dns01_value(799)}"'])
        dns.remove(records)
        assert len(client.sizes) == 4 and client.reads == 0, "removal swaps from what was written: 2 changes"
        assert not [
            s
            for s in aws.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
            if s["Type"] == "TXT"
        ]

    def test_shared_sets_count_twice_and_a_change_found_too_large_is_halved(
        self, aws: LocalStack, zone: str
    ) -> None:
        foreign = '"' + "f" * 98 + '"'  # 100 characters of someone else's in each set
        names = [f"_acme-challenge.s{i}.example.com" for i in range(300)]
        for start in range(0, 300, 100):
            aws.client("route53").change_resource_record_sets(
                HostedZoneId=zone,
                ChangeBatch={
                    "Changes": [
                        {
                            "Action": "CREATE",
                            "ResourceRecordSet": {
                                "Name": name,
                                "Type": "TXT",
                                "TTL": 300,
                                "ResourceRecords": [{"Value": foreign}],
                            },
                        }
                        for name in names[start : start + 100]
                    ]
                },
            )
        client = Sizing(aws.client_as("RotateFunction", "route53"))
        dns = Route53Challenges(client, sleep=lambda s: None)  # type: ignore[arg-type]
        records = [record(zone, dns01_value(i), name=name) for i, name in enumerate(names)]

        change_ids = dns.submit(records, deadline=deadline())

        # The blind CREATE of 300 sets is refused (they exist); read, each swap is DELETE (100 characters)
        # + CREATE (145): 73,500 characters in all, more than two changes' worth.
        sent = client.sizes[1:]
        assert client.sizes[0] == (300, 300 * 45) and len(change_ids) == len(sent) >= 3
        assert all(n <= MAX_CHANGE_RECORDS and c <= MAX_CHANGE_CHARACTERS for n, c in sent)
        assert sum(n for n, _c in sent) == 300 * 3
        assert txt_set(aws, zone, names[0]) == (300, sorted([foreign, f'"{dns01_value(0)}"']))
        dns.remove(records)
        assert all(txt_set(aws, zone, name) == (300, [foreign]) for name in names), "theirs stand"

    def test_one_change_adds_some_values_and_removes_others(self, aws: LocalStack, zone: str) -> None:
        put(aws, zone, "CREATE", 120, ['"theirs"', '"done"'])
        client = Sizing(aws.client_as("RotateFunction", "route53"))
        dns = Route53Challenges(client, sleep=lambda s: None)  # type: ignore[arg-type]
        other = "_acme-challenge.other.example.com"

        change_ids = dns.submit(
            [record(zone, "new"), record(zone, "also-new", name=other)],
            [record(zone, "done")],
            deadline=deadline(),
        )

        # The blind guess that the set is new is refused and read; then one change does all of it:
        # DELETE of the set as read, CREATE of it with "new" and without "done", CREATE of the other set.
        assert len(change_ids) == 1 and client.sizes[-1][0] == 2 + 2 + 1
        assert txt_set(aws, zone) == (120, ['"new"', '"theirs"'])
        assert txt_set(aws, zone, other) == (60, ['"also-new"'])
        assert dns.submit([], [record(zone, "new")], deadline=deadline()) == [], (
            "a removal: nothing to wait for"
        )
        assert txt_set(aws, zone) == (120, ['"theirs"'])


class TestZonesKept:
    """The hosted-zone listing is kept a minute per container (Route 53's 5 requests per second are the
    fleet's): listed again once older, when asked fresh, and when a name finds no zone in it."""

    def listings(self, aws: LocalStack) -> int:
        return aws.calls.count("route53", "ListHostedZones")

    def test_kept_for_a_minute_then_listed_again(self, aws: LocalStack, zone: str) -> None:
        now = [1000.0]
        dns = Route53Challenges(aws.client("route53"), monotonic=lambda: now[0])
        aws.calls.reset()
        assert [z.zone_id for z in dns.zones()] == [zone]
        now[0] += ZONES_KEPT - 1
        assert [z.zone_id for z in dns.zones(names=["www.example.com"])] == [zone]
        assert self.listings(aws) == 1, "kept"
        added = fixtures.create_hosted_zone(aws.client("route53"), "example.org")
        now[0] += 1
        assert {z.zone_id for z in dns.zones()} == {zone, added}, "a minute old: listed again"
        assert self.listings(aws) == 2

    def test_fresh_lists_now_and_finds_a_sub_zone_added_since(self, aws: LocalStack, zone: str) -> None:
        dns = Route53Challenges(aws.client("route53"))
        dns.zones()
        sub = fixtures.create_hosted_zone(aws.client("route53"), "sub.example.com")
        aws.calls.reset()
        assert {z.zone_id for z in dns.zones(fresh=True)} == {zone, sub}
        assert self.listings(aws) == 1

    def test_a_name_without_a_zone_in_the_kept_listing_lists_again(self, aws: LocalStack, zone: str) -> None:
        dns = Route53Challenges(aws.client("route53"))
        dns.zones()
        added = fixtures.create_hosted_zone(aws.client("route53"), "example.org")
        aws.calls.reset()
        zones = dns.zones(names=["www.example.com", "*.shop.example.org"])
        assert {z.zone_id for z in zones} == {zone, added}
        assert self.listings(aws) == 1
        assert {z.zone_id for z in dns.zones(names=["shop.example.org"])} == {zone, added}
        assert self.listings(aws) == 1, "the new listing is kept in turn"
