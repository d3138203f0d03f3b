"""Secrets Manager: the ACME account key and External Account Binding keys (rotation leases are in DynamoDB:
adapters/leases.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


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

    def save(self, account: dict[str, Any]) -> bool:
        """Store the account; False when the secret did not exist and another rotation created it between
        our write and our create (two first rotations at once): the caller then uses what that one stored."""
        text = json.dumps(account)
        try:
            self._sm.put_secret_value(SecretId=self._secret_id, SecretString=text)
            return True
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            if self._secret_id.startswith("arn:"):
                raise
        try:
            self._sm.create_secret(
                Name=self._secret_id, SecretString=text, Description="certrotate ACME account key"
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceExistsException":
                raise
            return False
        return True
