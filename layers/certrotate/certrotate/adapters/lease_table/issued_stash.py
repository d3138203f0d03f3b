"""DynamoDB: a certificate the CA issued that is not stored yet (IAM upload, ACM import), kept encrypted in
the lease table (item `#issued:<lease key>`) so that the next try stores it without a new order.

Why here and so (docs/design.md, "The issued-certificate stash"): the lease table is the project's own,
already written by the rotation; a KMS key would be a new resource (a dollar a month, a key policy, grants)
for what a key derived from a secret the rotation already reads does as well. The key is HKDF-SHA256 of the
ACME account key's private scalar (the account secret, which only the rotate function may read: the scan,
which may read the table, cannot decrypt), and the sealing is AES-256-GCM with a random 96-bit nonce per
write and the item's key as associated data (an item copied under another key does not open). Only
ciphertext leaves the invocation: the plaintext (JSON of the chain, the key, what it was ordered for) is
never logged or written.

An item that does not open (another account key, tampered with, an unknown format) is no certificate: it is
dropped and the rotation orders as it would have. A certificate that opens is still a claim: the rotation
checks it again (chain, key, names, validity, what it was ordered for) before storing it. `expires_at` (the
table's TTL attribute) is the certificate's NotAfter: TTL removes a kept certificate that could no longer be
used anyway. The key starts with "#", which no certificate name or ARN does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE
from certrotate.model import IssuedCertificate, SecretPem
from certrotate.ports import Stashed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

ISSUED_KEY_PREFIX = "#issued:"
FORMAT = "1"  # the sealing: AES-256-GCM, key HKDF-SHA256(account key "d", SALT, INFO), nonce || ciphertext
SALT = b"certrotate issued-certificate stash"
INFO = b"v1 AES-256-GCM"
NONCE_BYTES = 12
_SEALED = "sealed"
_FORMAT = "format"


def issued_key(lease_key: str) -> str:
    return f"{ISSUED_KEY_PREFIX}{lease_key}"


def derive_key(account: Mapping[str, Any] | None) -> bytes | None:
    """The stash's AES key from the ACME account (as adapters.aws.secrets.AccountKeyStore loads it: `key` is
    a JWK as JSON): HKDF over the key's private scalar `d` (RSA or EC), so that the JSON's spelling does not
    matter. None when there is no usable key (nothing is kept then)."""
    raw = (account or {}).get("key")
    try:
        jwk = json.loads(raw) if isinstance(raw, str) else None
        private = jwk.get("d") if isinstance(jwk, dict) else None
        secret = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4)) if private else b""
    except (ValueError, TypeError):
        return None
    if len(secret) < 16:
        return None
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=INFO).derive(secret)


class DynamoDbIssuedStash:
    """Implements ports.IssuedStash. `account_key` loads the ACME account (read only when a certificate is
    kept or one is found); `account_id`: with MANAGED_ACCOUNTS the lease key is `<account>:<certificate>`."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        account_key: Callable[[], Mapping[str, Any] | None],
        account_id: str | None = None,
    ) -> None:
        self._db = client
        self._table = table_name
        self._account_key = account_key
        self._account = account_id
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _item_key(self, certificate: str) -> str:
        return issued_key(certificate if self._account is None else f"{self._account}:{certificate}")

    def _aes(self) -> AESGCM | None:
        with self._lock:
            if self._key is None:
                self._key = derive_key(self._account_key())
            return AESGCM(self._key) if self._key is not None else None

    def keep(self, certificate: str, stashed: Stashed, *, expires: datetime) -> bool:
        aes = self._aes()
        if aes is None:
            return False
        key = self._item_key(certificate)
        plaintext = json.dumps(
            {
                "certificate": stashed.issued.certificate_pem,
                "chain": stashed.issued.chain_pem,
                "private_key": bytes(stashed.issued.private_key_pem).decode(),
                "replaces": stashed.replaces,
                "inputs": stashed.inputs,
            }
        ).encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + aes.encrypt(nonce, plaintext, key.encode())
        self._db.put_item(
            TableName=self._table,
            Item={
                KEY_ATTRIBUTE: {"S": key},
                _SEALED: {"B": sealed},
                _FORMAT: {"S": FORMAT},
                EXPIRES_ATTRIBUTE: {"N": str(int(expires.timestamp()))},
            },
        )
        return True

    def take(self, certificate: str) -> Stashed | None:
        key = self._item_key(certificate)
        item = self._db.get_item(
            TableName=self._table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        opened = self._open(key, item)
        if opened is None:
            logger.warning("a kept certificate could not be opened: dropped", extra={"item": key})
            self.drop(certificate)
        return opened

    def _open(self, key: str, item: Mapping[str, Any]) -> Stashed | None:
        sealed = item.get(_SEALED, {}).get("B")
        if item.get(_FORMAT, {}).get("S") != FORMAT or not isinstance(sealed, bytes | bytearray):
            return None
        aes = self._aes()
        if aes is None or len(sealed) <= NONCE_BYTES:
            return None
        try:
            plaintext = aes.decrypt(bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:]), key.encode())
            data = json.loads(plaintext)
            return Stashed(
                issued=IssuedCertificate(
                    certificate_pem=str(data["certificate"]),
                    chain_pem=str(data["chain"]),
                    private_key_pem=SecretPem(str(data["private_key"]).encode()),
                ),
                replaces=str(data["replaces"]),
                inputs=str(data["inputs"]),
            )
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None

    def drop(self, certificate: str) -> None:
        self._db.delete_item(TableName=self._table, Key={KEY_ATTRIBUTE: {"S": self._item_key(certificate)}})
