"""DynamoDB: the scan's index (scan_index), one item per account in the lease table.

Its key starts with "#", which no IAM server certificate name holds ([\\w+=,.@-]), so it never meets a lease
(whose key is a certificate name, or `<account>:<name>`); the template's LeadingKeys condition lets the scan
touch these items only. No TTL attribute: the lease table's TTL never removes it, and losing it only costs
one scan that reads every tag. Only the scan writes it; two scans at once (the schedule and a manual run)
each write a complete index, and the last one stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from certrotate.adapters.leases import KEY_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INDEX_KEY_PREFIX = "#scan-index"
_BLOB = "index"


def index_key(account_id: str | None) -> str:
    return INDEX_KEY_PREFIX if account_id is None else f"{INDEX_KEY_PREFIX}:{account_id}"


class DynamoDbScanIndex:
    def __init__(self, client: DynamoDBClient, table_name: str, account_id: str | None = None) -> None:
        self._db = client
        self._table = table_name
        self._key = {KEY_ATTRIBUTE: {"S": index_key(account_id)}}

    def load(self) -> bytes | None:
        item = self._db.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        blob = (item or {}).get(_BLOB, {}).get("B")
        return bytes(blob) if blob is not None else None

    def save(self, blob: bytes) -> None:
        self._db.put_item(TableName=self._table, Item={**self._key, _BLOB: {"B": blob}})
