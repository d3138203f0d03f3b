"""Secrets Manager: the ACME account key and External Account Binding keys (rotation leases are in DynamoDB:
adapters/lease_table/leases.py).

The account secret is not the project's to throw away: it holds the ACME account's key, which owns the
account's orders, its ARI `replaces` rights and its rate-limit history. It is written only when it is absent
or empty (the first registration), and then once more to add the account's URL beside the same key; a secret
that holds anything certrotate cannot read fails the rotation, naming the secret, and stays as it is. Nothing
read from it (or a parser's complaint about it, which quotes what it read) reaches an error, a log or an
event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import AccountBeingCreated, AccountSecretUnreadable, ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# How long a rotation waits for the key another first rotation is registering (then a retry uses it).
WAIT_FOR_CREATOR = 60.0
POLL_EVERY = 0.5


class ExternalAccountKeys:
    """The EAB key id and HMAC key a CA handed out (ZeroSSL, Google Trust Services, private CAs), from a
    secret holding `{"kid": "...", "hmac_key": "<base64url>"}`. Read only when an account is registered;
    never logged."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._sm = client
        self._secret_id = secret_id

    def load(self) -> tuple[str, str]:
        try:
            value = self._sm.get_secret_value(SecretId=self._secret_id)
        except ClientError as exc:
            raise ConfigurationError(
                f"the EAB secret {self._secret_id!r} cannot be read: {error_code(exc)}"
            ) from None
        data = _json_object(value.get("SecretString") or "")
        kid, hmac_key = (data or {}).get("kid"), (data or {}).get("hmac_key")
        if data is None or kid is None or hmac_key is None:
            raise ConfigurationError(
                f'the EAB secret {self._secret_id!r} must hold JSON with "kid" and "hmac_key"'
            )
        if not (isinstance(kid, str) and kid and isinstance(hmac_key, str) and hmac_key):
            raise ConfigurationError(f"the EAB secret {self._secret_id!r} holds an empty kid or hmac_key")
        return kid, hmac_key


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """The ACME account as the secret holds it: the key (a JWK, as JSON text) and the account URL for each
    directory it is registered with. Never printed."""

    key: str = field(repr=False)
    accounts: dict[str, str] = field(default_factory=dict)

    def as_secret(self) -> str:
        return json.dumps({"key": self.key, "accounts": self.accounts})


class AccountCreation(Protocol):
    """Who creates the ACME account when there is none: exactly one of any number of first rotations."""

    def claim(self) -> bool: ...  # True: this run creates it; False: another one is


class AccountKeyStore:
    """The ACME account (key and URLs) as JSON in one secret."""

    def __init__(
        self,
        client: SecretsManagerClient,
        secret_id: str,
        creation: AccountCreation | None = None,  # None: this process alone creates it (tests, one-offs)
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sm = client
        self._secret_id = secret_id
        self._creation = creation
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def secret_id(self) -> str:
        return self._secret_id

    def load(self) -> StoredAccount | None:
        """The account the secret holds; None when the secret is absent or empty (nothing to lose).
        Anything else certrotate cannot read raises AccountSecretUnreadable, naming the secret."""
        try:
            value = self._sm.get_secret_value(SecretId=self._secret_id)
        except ClientError as exc:
            # Absent, or created without a value (as the template does): no version yet.
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        text = value.get("SecretString")
        if text is None:
            raise AccountSecretUnreadable(self._secret_id, "a binary value, not the account's JSON")
        if not text.strip():
            return None
        data = _json_object(text)
        if data is None:
            raise AccountSecretUnreadable(self._secret_id, "something that is not a JSON object")
        if not data:
            return None  # {}: empty
        key, accounts = data.get("key"), data.get("accounts", {})
        if not isinstance(key, str) or not key.strip():
            raise AccountSecretUnreadable(self._secret_id, 'JSON without the account key ("key", a JWK)')
        if not isinstance(accounts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in accounts.items()
        ):
            raise AccountSecretUnreadable(
                self._secret_id, 'an "accounts" member that is not {directory: URL}'
            )
        return StoredAccount(key, dict(accounts))

    def create(self, new_key: Callable[[], str], *, deadline: float) -> StoredAccount:
        """The account key when the secret holds none, created exactly once however many first rotations
        run at once: the one that claims the creation (the lease table's `#acme-account`, a conditional
        write) stores a new key (`new_key()`) before anyone registers with it; the others wait for that key
        and use it (a CA answers a second registration of the same key with the same account). A run that
        cannot wait long enough fails with AccountBeingCreated (transient: a retry uses the key)."""
        if self._creation is None or self._creation.claim():
            stored = self.load()  # re-read: the creator before us may have finished just now
            if stored is not None:
                return stored
            account = StoredAccount(new_key())
            return self._store_first(account)
        until = min(deadline, self._monotonic() + WAIT_FOR_CREATOR)
        while self._monotonic() < until:
            self._sleep(POLL_EVERY)
            stored = self.load()
            if stored is not None:
                return stored
        raise AccountBeingCreated(
            f"another rotation is registering the ACME account in {self._secret_id!r}: a retry uses it"
        )

    def add_account_url(self, account: StoredAccount, directory: str, url: str) -> StoredAccount:
        """Write the account's URL for `directory` beside the same key; leave the secret alone if it no
        longer holds that key (someone changed it meanwhile: theirs stands)."""
        current = self.load()
        if current is None or current.key != account.key:
            return account
        updated = StoredAccount(account.key, {**current.accounts, directory: url})
        self._sm.put_secret_value(SecretId=self._secret_id, SecretString=updated.as_secret())
        return updated

    def _store_first(self, account: StoredAccount) -> StoredAccount:
        """Write a new account into an absent or empty secret (never over anything else)."""
        try:
            self._sm.put_secret_value(SecretId=self._secret_id, SecretString=account.as_secret())
            return account
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException" or self._secret_id.startswith("arn:"):
                raise
        try:
            self._sm.create_secret(
                Name=self._secret_id,
                SecretString=account.as_secret(),
                Description="certrotate ACME account key",
            )
            return account
        except ClientError as exc:
            if error_code(exc) != "ResourceExistsException":
                raise
        # Created by someone else just now: theirs stands, if it holds an account.
        stored = self.load()
        if stored is None:
            raise AccountBeingCreated(
                f"the secret {self._secret_id!r} was created meanwhile: a retry reads it"
            )
        return stored


def _json_object(text: str) -> dict[str, Any] | None:
    """A JSON object, or None. The parser's error (which may quote what it read) is dropped here, not
    chained: the caller raises its own, outside any `except` block."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
