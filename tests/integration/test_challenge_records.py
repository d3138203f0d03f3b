"""DynamoDbChallengeRecords over the moto server, on a table built as template.yaml's LeaseTable: what a
rotation writes down before publishing DNS-01 values, read back, forgotten exactly, shared safely."""

from __future__ import annotations

import threading
from typing import Any

from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords, challenges_key
from certrotate.adapters.lease_table.leases import KEY_ATTRIBUTE
from certrotate.model import DnsRecord, Http01Rule, HttpListener

from devstack import fixtures

ZONE = "Z0EXAMPLE"
APEX = "_acme-challenge.example.com"
WWW = "_acme-challenge.www.example.com"


def items(db: Any) -> list[dict[str, Any]]:
    return db.scan(TableName=fixtures.LEASE_TABLE, ConsistentRead=True)["Items"]


def test_what_is_recorded_reads_back_per_name_and_is_forgotten_exactly(db: Any) -> None:
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    assert records.recorded("site") == []
    records.record("site", [DnsRecord(ZONE, APEX, ("a", "b")), DnsRecord(ZONE, WWW, ("c",))])
    records.record("site", [DnsRecord(ZONE, APEX, ("d",))])  # a second publish adds, never replaces
    assert records.recorded("site") == [DnsRecord(ZONE, APEX, ("a", "b", "d")), DnsRecord(ZONE, WWW, ("c",))]
    [item] = items(db)
    assert item[KEY_ATTRIBUTE]["S"] == challenges_key("site") == "#challenges:site"

    records.forget("site", [DnsRecord(ZONE, APEX, ("a", "d"))])
    assert records.recorded("site") == [DnsRecord(ZONE, APEX, ("b",)), DnsRecord(ZONE, WWW, ("c",))]
    records.forget("site", [DnsRecord(ZONE, APEX, ("b", "gone-already")), DnsRecord(ZONE, WWW, ("c",))])
    assert records.recorded("site") == []
    assert items(db) == [], "an emptied record is deleted"
    records.forget("site", [DnsRecord(ZONE, APEX, ("b",))])  # forgetting twice is harmless
    assert items(db) == []


def test_each_certificate_and_account_has_its_own_item(db: Any) -> None:
    own = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    member = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE, "111122223333")
    own.record("site", [DnsRecord(ZONE, APEX, ("own",))])
    member.record("site", [DnsRecord(ZONE, APEX, ("member",))])
    own.record("arn:aws:acm:us-east-1:123456789012:certificate/x", [DnsRecord(ZONE, APEX, ("acm",))])
    keys = sorted(i[KEY_ATTRIBUTE]["S"] for i in items(db))
    assert keys == [
        "#challenges:111122223333:site",
        "#challenges:arn:aws:acm:us-east-1:123456789012:certificate/x",
        "#challenges:site",
    ]
    own.forget("site", [DnsRecord(ZONE, APEX, ("own",))])
    assert member.recorded("site") == [DnsRecord(ZONE, APEX, ("member",))]


def test_writers_at_once_lose_no_entry(db: Any) -> None:
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    barrier = threading.Barrier(12)

    def write(n: int) -> None:
        barrier.wait()
        records.record("site", [DnsRecord(ZONE, APEX, (f"value-{n}",))])
        if n % 2:
            records.forget("site", [DnsRecord(ZONE, APEX, (f"value-{n}",))])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [left] = records.recorded("site")
    assert sorted(left.values) == sorted(f"value-{n}" for n in range(0, 12, 2))


def test_an_unreadable_entry_is_skipped(db: Any) -> None:
    db.put_item(
        TableName=fixtures.LEASE_TABLE,
        Item={KEY_ATTRIBUTE: {"S": "#challenges:site"}, "values": {"SS": ["not json", '["Z", "n", "v"]']}},
    )
    assert DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE).recorded("site") == [
        DnsRecord("Z", "n", ("v",))
    ]


def test_http01_rules_share_the_item_and_it_goes_only_when_both_sets_are_empty(db: Any) -> None:
    records = DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE)
    listener = HttpListener("eu-west-1", "arn:lb", "arn:listener")
    rule = Http01Rule("site", listener, "shop.example.net", "tok", "tok.thumb")
    records.record("site", [DnsRecord(ZONE, APEX, ("a",))])
    records.record_rules("site", [rule])
    assert records.recorded_rules("site") == [rule]
    assert records.recorded_rules("other") == []

    records.forget("site", [DnsRecord(ZONE, APEX, ("a",))])
    [item] = items(db)
    assert "values" not in item and len(item["rules"]["SS"]) == 1, "a rule still recorded keeps the item"
    records.record("site", [DnsRecord(ZONE, APEX, ("b",))])
    records.forget_rules("site", [rule])
    assert records.recorded_rules("site") == [] and records.recorded("site") == [
        DnsRecord(ZONE, APEX, ("b",))
    ], "a value still recorded keeps the item"
    records.forget("site", [DnsRecord(ZONE, APEX, ("b",))])
    assert items(db) == []


def test_an_unreadable_rule_entry_is_skipped(db: Any) -> None:
    db.put_item(
        TableName=fixtures.LEASE_TABLE,
        Item={
            KEY_ATTRIBUTE: {"S": "#challenges:site"},
            "rules": {"SS": ["not json", '["r", "lb"]', '["r", "lb", "l", "n", "t", "b"]']},
        },
    )
    assert DynamoDbChallengeRecords(db, fixtures.LEASE_TABLE).recorded_rules("site") == [
        Http01Rule("site", HttpListener("r", "lb", "l"), "n", "t", "b")
    ]
