"""DynamoDB: rotations' progress records (model.ProgressRecord), one item per rotation in the lease table.

The key is `#progress:<lease key>` (`<name>`, `<account>:<name>`, an ARN or `<account>:<ARN>`): it starts with
"#", which no certificate name holds, so it never meets a lease, and the policy can grant it on its own
(`dynamodb:LeadingKeys` `#progress:*`). Only a rotation holding the certificate's lease writes it (PutItem of
the whole record, DeleteItem once the replaced certificate is retired); scans only read it. `expires_at` (the
table's TTL) removes a record some time after the certificate it is about has expired, when nothing can need
it any more. A record that cannot be read is no record: nothing is proven by it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE
from certrotate.model import ProgressRecord, parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROGRESS_KEY_PREFIX = "#progress:"


def progress_key(subject: str, account_id: str | None = None) -> str:
    return PROGRESS_KEY_PREFIX + (subject if account_id is None else f"{account_id}:{subject}")


class DynamoDbProgress:
    def __init__(self, client: DynamoDBClient, table_name: str, account_id: str | None = None) -> None:
        self._db = client
        self._table = table_name
        self._account = account_id

    def _key(self, subject: str) -> dict[str, Any]:
        return {KEY_ATTRIBUTE: {"S": progress_key(subject, self._account)}}

    def load(self, subject: str) -> ProgressRecord | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(subject), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None

        def text(name: str) -> str:
            value = item.get(name, {}).get("S")
            return value if isinstance(value, str) else ""

        replaced_id, replacement = text("replaced_id"), text("replacement")
        if not replaced_id or not replacement:
            return None
        served = text("served_since")
        return ProgressRecord(
            replaced_id, replacement, text("sha256"), parse_timestamp(served) if served else None
        )

    def save(self, subject: str, record: ProgressRecord, *, keep_until: datetime) -> None:
        item: dict[str, Any] = {
            **self._key(subject),
            "replaced_id": {"S": record.replaced_id},
            "replacement": {"S": record.replacement},
            EXPIRES_ATTRIBUTE: {"N": str(math.ceil(keep_until.timestamp()))},
        }
        if record.sha256:
            item["sha256"] = {"S": record.sha256}
        if record.served_since is not None:
            item["served_since"] = {"S": record.served_since.isoformat()}
        self._db.put_item(TableName=self._table, Item=item)

    def delete(self, subject: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(subject))
