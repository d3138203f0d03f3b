"""DynamoDbLeases over the moto server, on a table built as template.yaml's LeaseTable: acquire, renew,
release, expiry, lost races and many runs contending for one certificate."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE, DynamoDbLeases
from certrotate.errors import RotationInProgress
from certrotate.ports import Lease
from certrotate.wiring import BOTO_CONFIG

from devstack import fixtures
from devstack.stack import LocalStack

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rotate_db(aws: LocalStack, db: Any) -> Any:
    """The rotate function's client: the adapter runs under its policy (leases only, no "#..." item)."""
    return aws.client_as(
        "RotateFunction", "dynamodb", config=BOTO_CONFIG.merge(Config(max_pool_connections=40))
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leases(rotate_db: Any, clock: Clock) -> DynamoDbLeases:
    return DynamoDbLeases(rotate_db, fixtures.LEASE_TABLE, now=clock)


def stored(db: Any, name: str) -> dict[str, Any] | None:
    item = db.get_item(TableName=fixtures.LEASE_TABLE, Key={KEY_ATTRIBUTE: {"S": name}}, ConsistentRead=True)
    return item.get("Item")


def test_the_template_table_keys_on_the_certificate_with_ttl_on_the_expiry(db: Any) -> None:
    table = db.describe_table(TableName=fixtures.LEASE_TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = db.describe_time_to_live(TableName=fixtures.LEASE_TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": EXPIRES_ATTRIBUTE}


def test_acquire_stores_the_holder_and_expiry(db: Any, leases: DynamoDbLeases) -> None:
    lease = leases.acquire("site", seconds=300)
    assert lease.certificate_name == "site"
    assert lease.expires == START + timedelta(seconds=300)
    item = stored(db, "site")
    assert item is not None
    assert item["owner"]["S"] == lease.owner and item["version"]["S"] == lease.version
    assert item[EXPIRES_ATTRIBUTE] == {
        "N": str(int(lease.expires.timestamp()))
    }  # epoch seconds: TTL's format


def test_a_held_lease_turns_the_next_run_away_naming_when_it_ends(leases: DynamoDbLeases) -> None:
    leases.acquire("site", seconds=300)
    with pytest.raises(
        RotationInProgress, match=r"'site' is in progress \(its lease ends 2026-11-26T12:05:00"
    ):
        leases.acquire("site", seconds=300)


def test_leases_of_different_certificates_are_independent(leases: DynamoDbLeases) -> None:
    first, second = leases.acquire("one", seconds=300), leases.acquire("two", seconds=300)
    assert first.owner != second.owner


def test_an_expired_lease_is_taken_over_even_while_its_item_stands(
    db: Any, leases: DynamoDbLeases, clock: Clock
) -> None:
    dead = leases.acquire("site", seconds=300)
    clock.now += timedelta(seconds=301)  # TTL has not deleted the item (it may take days): no matter
    assert stored(db, "site") is not None
    taken = leases.acquire("site", seconds=300)
    assert taken.owner != dead.owner
    # The dead run's late renew and release cannot touch the new holder's lease.
    with pytest.raises(RotationInProgress):
        leases.renew(dead, seconds=300)
    leases.release(dead)
    item = stored(db, "site")
    assert item is not None and item["owner"]["S"] == taken.owner


def test_renew_extends_and_changes_the_version(db: Any, leases: DynamoDbLeases, clock: Clock) -> None:
    lease = leases.acquire("site", seconds=300)
    clock.now += timedelta(seconds=200)
    renewed = leases.renew(lease, seconds=300)
    assert renewed.owner == lease.owner and renewed.version != lease.version
    assert renewed.expires == START + timedelta(seconds=500)
    clock.now += timedelta(seconds=200)  # past the first expiry, within the renewed one
    with pytest.raises(RotationInProgress):
        leases.acquire("site", seconds=300)
    # The version held before the renewal is stale: compare-and-swap refuses it.
    with pytest.raises(RotationInProgress):
        leases.renew(lease, seconds=300)
    leases.release(lease)
    assert stored(db, "site") is not None
    leases.release(renewed)
    assert stored(db, "site") is None


def test_release_frees_the_certificate_at_once(db: Any, leases: DynamoDbLeases) -> None:
    lease = leases.acquire("site", seconds=300)
    leases.release(lease)
    assert stored(db, "site") is None, "released leases leave nothing behind"
    leases.release(lease)  # a repeated release (a retried call) is a no-op
    assert leases.acquire("site", seconds=300).owner != lease.owner


def test_renewing_a_lease_that_vanished_does_not_recreate_it(db: Any, leases: DynamoDbLeases) -> None:
    lease = leases.acquire("site", seconds=300)
    db.delete_item(TableName=fixtures.LEASE_TABLE, Key={KEY_ATTRIBUTE: {"S": "site"}})  # as TTL would
    with pytest.raises(RotationInProgress):
        leases.renew(lease, seconds=300)
    assert stored(db, "site") is None


def test_a_retried_write_that_had_landed_is_a_success(
    aws: LocalStack, db: Any, rotate_db: Any, leases: DynamoDbLeases
) -> None:
    """botocore retries a write whose response was lost (a 500 after DynamoDB applied it): the retry's
    condition fails on the write's own result, which must read as success, not as a lost race."""
    lease = leases.acquire("site", seconds=300)
    original = rotate_db.update_item

    def applied_then_lost(**kwargs: Any) -> Any:
        original(**kwargs)  # DynamoDB applied it ...
        return original(**kwargs)  # ... and the retry meets the condition it changed

    rotate_db.update_item = applied_then_lost
    try:
        renewed = leases.renew(lease, seconds=300)
    finally:
        del rotate_db.update_item
    item = stored(db, "site")
    assert item is not None and item["version"]["S"] == renewed.version


def test_throttling_is_retried(aws: LocalStack, leases: DynamoDbLeases) -> None:
    aws.faults.inject(service="dynamodb", action="PutItem", code="ThrottlingException", times=2)
    lease = leases.acquire("site", seconds=300)
    assert aws.faults.count("dynamodb", "PutItem") == 2
    assert isinstance(lease, Lease)


def test_of_many_simultaneous_acquisitions_exactly_one_wins(db: Any, rotate_db: Any, clock: Clock) -> None:
    contenders = 24
    barrier = threading.Barrier(contenders)
    won: list[Lease] = []
    refused: list[str] = []

    def contend() -> None:
        leases = DynamoDbLeases(rotate_db, fixtures.LEASE_TABLE, now=clock)  # one per container
        barrier.wait()
        try:
            won.append(leases.acquire("race", seconds=300))
        except RotationInProgress as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == contenders - 1
    assert all("in progress" in message for message in refused)
    item = stored(db, "race")
    assert item is not None and item["owner"]["S"] == won[0].owner


def test_of_many_simultaneous_takeovers_of_an_expired_lease_exactly_one_wins(
    db: Any, rotate_db: Any, leases: DynamoDbLeases, clock: Clock
) -> None:
    leases.acquire("race", seconds=300)
    clock.now += timedelta(seconds=400)
    contenders = 24
    barrier = threading.Barrier(contenders)
    results: list[bool] = []

    def contend() -> None:
        barrier.wait()
        try:
            DynamoDbLeases(rotate_db, fixtures.LEASE_TABLE, now=clock).acquire("race", seconds=300)
            results.append(True)
        except RotationInProgress:
            results.append(False)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * (contenders - 1) + [True]


def test_a_missing_table_is_an_error_not_a_lease(aws: LocalStack, db: Any) -> None:
    aws.iam.deploy_central({**aws.env(), "LEASE_TABLE_NAME": "no-such-table"})  # deployed, then it vanished
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        DynamoDbLeases(aws.client_as("RotateFunction", "dynamodb"), "no-such-table").acquire(
            "site", seconds=300
        )


# --- an item certrotate did not write: never an exception, never blocked for good, never two runs at once ---


def _put_holder(db: Any, name: str, expires: dict[str, str] | None) -> None:
    """A lease item as someone other than certrotate could leave it (the tests' administrator writes it)."""
    item: dict[str, Any] = {KEY_ATTRIBUTE: {"S": name}, "owner": {"S": "someone"}, "version": {"S": "v"}}
    if expires is not None:
        item[EXPIRES_ATTRIBUTE] = expires
    db.put_item(TableName=fixtures.LEASE_TABLE, Item=item)


@pytest.mark.parametrize(
    "expires",
    [
        {"S": "tomorrow"},  # a string: DynamoDB's `<=` against a number is false, TTL never deletes it
        {"S": "99999999999999"},
        {"N": "99999999999999"},  # year 5138: past datetime's range, and TTL never reaches it
        {"N": "1e30"},
        {"N": "-5"},
        {"BOOL": True},
        None,  # no expiry at all
    ],
    ids=["string", "numeric-string", "huge", "huger", "negative", "bool", "missing"],
)
def test_a_lease_item_whose_expiry_certrotate_never_wrote_is_taken_over_with_a_warning(
    db: Any, leases: DynamoDbLeases, expires: dict[str, Any] | None, caplog: pytest.LogCaptureFixture
) -> None:
    _put_holder(db, "site", expires)
    lease = leases.acquire("site", seconds=300)
    item = stored(db, "site")
    assert item is not None and item["owner"]["S"] == lease.owner
    assert item[EXPIRES_ATTRIBUTE] == {"N": str(int(lease.expires.timestamp()))}
    assert "lease item not written by certrotate taken over" in caplog.text
    # And the lease is an ordinary one from then on: the next run is turned away until it ends.
    with pytest.raises(RotationInProgress, match="its lease ends 2026-11-26T12:05:00"):
        leases.acquire("site", seconds=300)


def test_a_lease_as_far_ahead_as_the_longest_lease_still_holds(db: Any, leases: DynamoDbLeases) -> None:
    # Another run's lease with the longest ROTATION_LEASE_SECONDS (and its clock a little ahead of ours):
    # certrotate may have written it, so it is never taken over before it ends.
    from certrotate.adapters.lease_table.leases import CLOCK_SKEW, MAX_ROTATION_LEASE_SECONDS

    furthest = START + timedelta(seconds=MAX_ROTATION_LEASE_SECONDS) + CLOCK_SKEW
    _put_holder(db, "site", {"N": str(int(furthest.timestamp()))})
    with pytest.raises(RotationInProgress):
        leases.acquire("site", seconds=300)


def test_a_renewal_that_finds_an_unreadable_item_reports_the_lease_lost_not_a_crash(
    db: Any, leases: DynamoDbLeases
) -> None:
    lease = leases.acquire("site", seconds=300)
    _put_holder(db, "site", {"N": "99999999999999"})  # overwritten under the run (OverflowError before)
    with pytest.raises(RotationInProgress, match="'site' is in progress"):
        leases.renew(lease, seconds=300)
