"""Secrets Manager: the ACME account key (rotation leases are in DynamoDB: adapters/leases.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


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
