"""The ACME account secret over the moto server: never overwritten unless absent or empty, created by
exactly one of many first rotations (the lease table's #acme-account), the others waiting for its key."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from certrotate.adapters.aws.secrets import AccountKeyStore, StoredAccount
from certrotate.adapters.lease_table.leases import ACME_ACCOUNT_KEY, KEY_ATTRIBUTE, DynamoDbAccountCreation
from certrotate.errors import AccountBeingCreated, AccountSecretUnreadable
from certrotate.wiring import BOTO_CONFIG

from devstack import fixtures
from devstack.stack import LocalStack

SECRET = "certrotate/acme-account"


@pytest.fixture
def sm(aws: LocalStack) -> Any:
    return aws.client("secretsmanager", config=BOTO_CONFIG.merge(Config(max_pool_connections=40)))


def test_of_many_claims_at_once_exactly_one_wins(db: Any) -> None:
    creation = DynamoDbAccountCreation(db, fixtures.LEASE_TABLE)
    start = threading.Barrier(16)
    won: list[bool] = []

    def claim() -> None:
        start.wait()
        won.append(creation.claim())

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won) == [False] * 15 + [True]


def test_a_claim_left_by_a_dead_creator_is_taken_over_once_stale(db: Any) -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    clock = {"now": now}
    creation = DynamoDbAccountCreation(db, fixtures.LEASE_TABLE, now=lambda: clock["now"])
    assert creation.claim() is True
    assert creation.claim() is False
    clock["now"] = now + timedelta(minutes=16)
    assert creation.claim() is True
    item = db.get_item(TableName=fixtures.LEASE_TABLE, Key={KEY_ATTRIBUTE: {"S": ACME_ACCOUNT_KEY}})["Item"]
    assert "expires_at" not in item, "the table's TTL never removes it"


@pytest.mark.parametrize(
    "claimed_at",
    [{"S": "forever"}, {"N": "99999999999999"}, None],
    ids=["string", "far-future", "missing"],
)
def test_a_claim_no_run_wrote_is_taken_over_at_once_with_a_warning(
    db: Any, claimed_at: dict[str, str] | None, caplog: pytest.LogCaptureFixture
) -> None:
    # Such an item never becomes stale by the clock: kept, it would stop every account creation for good.
    item: dict[str, Any] = {KEY_ATTRIBUTE: {"S": ACME_ACCOUNT_KEY}, "owner": {"S": "someone"}}
    if claimed_at is not None:
        item["claimed_at"] = claimed_at
    db.put_item(TableName=fixtures.LEASE_TABLE, Item=item)
    creation = DynamoDbAccountCreation(db, fixtures.LEASE_TABLE)
    assert creation.claim() is True
    assert "ACME account claim not written by certrotate taken over" in caplog.text
    assert creation.claim() is False  # ours now: an ordinary claim, stale only after 15 minutes


@pytest.mark.parametrize("value", ["", "   ", "{}"])
def test_an_empty_secret_is_written_once_by_its_creator(sm: Any, db: Any, value: str) -> None:
    sm.create_secret(Name=SECRET, **({"SecretString": value} if value else {}))
    store = AccountKeyStore(sm, SECRET, DynamoDbAccountCreation(db, fixtures.LEASE_TABLE))
    assert store.load() is None
    created = store.create(lambda: '{"kty": "EC"}', deadline=float("inf"))
    assert json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"]) == {
        "key": '{"kty": "EC"}',
        "accounts": {},
    }
    assert store.add_account_url(created, "https://ca/dir", "https://ca/acct/1").accounts == {
        "https://ca/dir": "https://ca/acct/1"
    }


def test_a_run_that_loses_the_claim_waits_for_the_winners_key(sm: Any, db: Any) -> None:
    sm.create_secret(Name=SECRET)
    creation = DynamoDbAccountCreation(db, fixtures.LEASE_TABLE)
    assert creation.claim() is True  # the winner, still registering
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:  # the winner stores its key meanwhile
            sm.put_secret_value(SecretId=SECRET, SecretString=StoredAccount("winner-key").as_secret())

    loser = AccountKeyStore(sm, SECRET, creation, sleep=sleep)
    assert loser.create(lambda: "loser-key", deadline=float("inf")).key == "winner-key"
    assert json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])["key"] == "winner-key"


def test_a_run_that_waits_too_long_fails_for_a_retry(sm: Any, db: Any) -> None:
    sm.create_secret(Name=SECRET)
    creation = DynamoDbAccountCreation(db, fixtures.LEASE_TABLE)
    assert creation.claim() is True
    ticks = iter(range(1000))
    loser = AccountKeyStore(sm, SECRET, creation, sleep=lambda _: None, monotonic=lambda: float(next(ticks)))
    with pytest.raises(AccountBeingCreated, match="a retry uses it"):
        loser.create(lambda: "loser-key", deadline=10.0)
    assert "SecretString" not in sm.describe_secret(SecretId=SECRET) and loser.load() is None


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n", "not a JSON object"),
        ('["key"]', "not a JSON object"),
        ('{"accounts": {}}', "without the account key"),
        ('{"key": "x", "accounts": []}', '"accounts" member'),
    ],
)
def test_anything_else_is_refused_and_left_as_it_is(sm: Any, db: Any, value: str, what: str) -> None:
    version = sm.create_secret(Name=SECRET, SecretString=value)["VersionId"]
    store = AccountKeyStore(sm, SECRET, DynamoDbAccountCreation(db, fixtures.LEASE_TABLE))
    with pytest.raises(AccountSecretUnreadable, match=what) as refused:
        store.load()
    assert SECRET in str(refused.value) and value not in str(refused.value)
    assert refused.value.__context__ is None and refused.value.__cause__ is None, "no parser error chained"
    current = sm.get_secret_value(SecretId=SECRET)
    assert (current["SecretString"], current["VersionId"]) == (value, version)


def test_a_binary_secret_is_refused(sm: Any) -> None:
    sm.create_secret(Name=SECRET, SecretBinary=b"\x00\x01")
    with pytest.raises(AccountSecretUnreadable, match="a binary value"):
        AccountKeyStore(sm, SECRET).load()


def test_the_url_is_added_only_beside_the_same_key(sm: Any) -> None:
    sm.create_secret(Name=SECRET, SecretString=StoredAccount("theirs").as_secret())
    store = AccountKeyStore(sm, SECRET)
    store.add_account_url(StoredAccount("ours"), "https://ca/dir", "https://ca/acct/2")
    assert json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"]) == {
        "key": "theirs",
        "accounts": {},
    }
