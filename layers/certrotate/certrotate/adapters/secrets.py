"""Secrets Manager: the ACME account key, External Account Binding keys, and per-certificate rotation leases.

A lease is a secret per certificate whose current value names its holder and expiry. Every write names a
ClientRequestToken derived from the version it replaces: two runs that saw the same version send the same
token with different content, and Secrets Manager accepts only the first (ResourceExistsException for the
other). That makes each write a compare-and-swap without another service.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.errors import ConfigurationError, RotationInProgress
from certrotate.ports import Lease

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

_TOKENS = uuid.UUID("6f1d2f0e-8e8a-4c4b-9a57-8a0b7c2f4e11")  # namespace of lease version tokens


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
        try:
            data = json.loads(value.get("SecretString") or "")
            kid, hmac_key = data["kid"], data["hmac_key"]
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(
                f'the EAB secret {self._secret_id!r} must hold JSON with "kid" and "hmac_key"'
            ) from None
        if not (isinstance(kid, str) and kid and isinstance(hmac_key, str) and hmac_key):
            raise ConfigurationError(f"the EAB secret {self._secret_id!r} holds an empty kid or hmac_key")
        return kid, hmac_key


class AccountKeyStore:
    """The ACME account (key and URL) as JSON in one secret; never logged."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._sm = client
        self._secret_id = secret_id

    def load(self) -> dict[str, Any] | None:
        try:
            value = self._sm.get_secret_value(SecretId=self._secret_id)
        except ClientError as exc:
            # A secret created without a value (as the template does) has no version yet.
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        text = value.get("SecretString") or ""
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) and data.get("key") else None

    def save(self, account: dict[str, Any]) -> None:
        text = json.dumps(account)
        try:
            self._sm.put_secret_value(SecretId=self._secret_id, SecretString=text)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            if self._secret_id.startswith("arn:"):
                raise
            self._sm.create_secret(
                Name=self._secret_id, SecretString=text, Description="certrotate ACME account key"
            )


def lease_secret_name(prefix: str, certificate_name: str) -> str:
    # IAM names allow "," which secret names do not.
    return prefix + re.sub(r"[^A-Za-z0-9/_+=.@-]", "_", certificate_name)


class SecretLeases:
    def __init__(
        self,
        client: SecretsManagerClient,
        prefix: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sm = client
        self._prefix = prefix
        self._now = now

    def acquire(self, certificate_name: str, *, seconds: int) -> Lease:
        """Take the lease unless another run holds it and it has not expired. Each acquisition is a new
        holder, even in the same container: two invocations never share a lease."""
        name = lease_secret_name(self._prefix, certificate_name)
        owner = str(uuid.uuid4())
        try:
            current = self._sm.get_secret_value(SecretId=name)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return self._create(name, certificate_name, owner, seconds)
        holder = _decode(current.get("SecretString"))
        expires = datetime.fromtimestamp(float(holder.get("expires", 0)), UTC)
        if not holder.get("released") and expires > self._now():
            raise RotationInProgress(certificate_name, expires)
        return self._swap(name, certificate_name, owner, current["VersionId"], seconds, released=False)

    def renew(self, lease: Lease, *, seconds: int) -> Lease:
        name = lease_secret_name(self._prefix, lease.certificate_name)
        return self._swap(name, lease.certificate_name, lease.owner, lease.version, seconds, released=False)

    def release(self, lease: Lease) -> None:
        name = lease_secret_name(self._prefix, lease.certificate_name)
        # If it expired and someone else holds it now, it is theirs to release.
        with contextlib.suppress(RotationInProgress):
            self._swap(name, lease.certificate_name, lease.owner, lease.version, 0, released=True)

    def _create(self, name: str, certificate_name: str, owner: str, seconds: int) -> Lease:
        token = str(uuid.uuid5(_TOKENS, f"{name}|genesis"))
        expires = self._now() + timedelta(seconds=seconds)
        try:
            response = self._sm.create_secret(
                Name=name,
                ClientRequestToken=token,
                SecretString=_encode(owner, expires, released=False),
                Description=f"certrotate rotation lease for {certificate_name}",
            )
        except ClientError as exc:
            if error_code(exc) in ("ResourceExistsException", "InvalidRequestException"):
                raise RotationInProgress(certificate_name) from None
            raise
        return Lease(certificate_name, owner, response["VersionId"], expires)

    def _swap(
        self, name: str, certificate_name: str, owner: str, previous: str, seconds: int, *, released: bool
    ) -> Lease:
        token = str(uuid.uuid5(_TOKENS, f"{name}|{previous}"))
        expires = self._now() + timedelta(seconds=seconds)
        try:
            response = self._sm.put_secret_value(
                SecretId=name,
                ClientRequestToken=token,
                SecretString=_encode(owner, expires, released=released),
            )
        except ClientError as exc:
            if error_code(exc) == "ResourceExistsException":
                raise RotationInProgress(certificate_name) from None
            raise
        return Lease(certificate_name, owner, response["VersionId"], expires)


def _encode(owner: str, expires: datetime, *, released: bool) -> str:
    return json.dumps({"owner": owner, "expires": expires.timestamp(), "released": released})


def _decode(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
