"""DynamoDbIssuedStash over the moto server, on a table built as template.yaml's LeaseTable: an issued
certificate kept encrypted with a key derived from the ACME account key, read back only with that key and
only under its own item key; what the table holds is ciphertext."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from certrotate.adapters.lease_table.issued_stash import DynamoDbIssuedStash, derive_key, issued_key
from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE
from certrotate.model import IssuedCertificate, SecretPem
from certrotate.ports import Stashed
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwk

from devstack import fixtures

EXPIRES = datetime(2027, 3, 1, tzinfo=UTC)


def account(key: Any = None) -> dict[str, Any]:
    """What AccountKeyStore.load() returns: the account key as a JWK (JSON), and account URLs."""
    private = key or ec.generate_private_key(ec.SECP256R1())
    return {"key": jwk.JWK.load(fixtures.key_to_pem(private).encode()).json_dumps(), "accounts": {}}


@pytest.fixture
def stashed() -> Stashed:
    made = fixtures.make_certificate(["site.example.com"], 90)
    issued = IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode()))
    return Stashed(issued, replaces="ASCAOLD", inputs="inputs-1")


def stored(db: Any) -> list[dict[str, Any]]:
    return db.scan(TableName=fixtures.LEASE_TABLE, ConsistentRead=True)["Items"]


def test_kept_then_taken_then_dropped(db: Any, stashed: Stashed) -> None:
    owner = account()
    stash = DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, lambda: owner)
    assert stash.take("site") is None
    assert stash.keep("site", stashed, expires=EXPIRES)
    [item] = stored(db)
    assert item[KEY_ATTRIBUTE]["S"] == issued_key("site") == "#issued:site"
    assert item[EXPIRES_ATTRIBUTE]["N"] == str(int(EXPIRES.timestamp())), "TTL: gone once useless"
    sealed = bytes(item["sealed"]["B"])
    for plain in (b"PRIVATE KEY", b"CERTIFICATE", b"ASCAOLD", b"inputs-1", b"site.example.com"):
        assert plain not in sealed, "only ciphertext is stored"

    again = DynamoDbIssuedStash(
        db, fixtures.LEASE_TABLE, lambda: json.loads(json.dumps(owner))
    )  # a new container
    taken = again.take("site")
    assert taken == stashed and bytes(taken.issued.private_key_pem) == bytes(stashed.issued.private_key_pem)
    again.drop("site")
    assert stored(db) == [] and again.take("site") is None


def test_another_account_key_cannot_open_it_and_it_is_dropped(db: Any, stashed: Stashed) -> None:
    DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, account).keep("site", stashed, expires=EXPIRES)
    other = DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, account)  # a new key each call: another account
    assert other.take("site") is None
    assert stored(db) == [], "what does not open is no certificate"


def test_an_item_copied_under_another_key_or_tampered_with_does_not_open(db: Any, stashed: Stashed) -> None:
    owner = account()
    stash = DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, lambda: owner)
    stash.keep("site", stashed, expires=EXPIRES)
    [item] = stored(db)
    db.put_item(TableName=fixtures.LEASE_TABLE, Item={**item, KEY_ATTRIBUTE: {"S": issued_key("other")}})
    assert stash.take("other") is None, "the item key is bound into the sealing"
    flipped = bytearray(item["sealed"]["B"])
    flipped[-1] ^= 1
    db.put_item(TableName=fixtures.LEASE_TABLE, Item={**item, "sealed": {"B": bytes(flipped)}})
    assert stash.take("site") is None


def test_each_account_has_its_own_item_and_no_account_key_keeps_nothing(db: Any, stashed: Stashed) -> None:
    owner = account()
    DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, lambda: owner, "111122223333").keep(
        "site", stashed, expires=EXPIRES
    )
    assert [i[KEY_ATTRIBUTE]["S"] for i in stored(db)] == ["#issued:111122223333:site"]
    assert not DynamoDbIssuedStash(db, fixtures.LEASE_TABLE, lambda: None).keep("x", stashed, expires=EXPIRES)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_the_key_comes_from_the_private_scalar_whatever_the_json_spelling(kind: str) -> None:
    private = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    )
    loaded = account(private)
    respelled = {"key": json.dumps(json.loads(loaded["key"]), indent=2, sort_keys=True)}
    derived = derive_key(loaded)
    assert derived is not None and len(derived) == 32
    assert derive_key(respelled) == derived
    assert derive_key(account()) != derived
    public_only = {"key": json.dumps({k: v for k, v in json.loads(loaded["key"]).items() if k != "d"})}
    for unusable in (None, {}, {"key": "not json"}, public_only):
        assert derive_key(unusable) is None
