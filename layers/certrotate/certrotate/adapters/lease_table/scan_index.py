"""DynamoDB: the scan's index (model/scan_index.py), one item per account in the lease table.

Its key starts with "#", which no IAM server certificate name holds ([\\w+=,.@-]), so it never meets a lease
(whose key is a certificate name, or `<account>:<name>`); the template's LeadingKeys condition lets the scan
touch these items only. No TTL attribute: the lease table's TTL never removes it, and losing it only costs
one scan that reads every tag. Only the scan writes it; two scans at once (the schedule and a manual run)
each write a complete index, and the last one stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from certrotate.adapters.lease_table.leases import KEY_ATTRIBUTE
from certrotate.model.scan_index import served_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from certrotate.model.endpoints import KnownEndpoints

logger = Logger(child=True)

INDEX_KEY_PREFIX = "#scan-index"
_BLOB = "index"


def index_key(account_id: str | None) -> str:
    return INDEX_KEY_PREFIX if account_id is None else f"{INDEX_KEY_PREFIX}:{account_id}"


class DynamoDbScanIndex:
    def __init__(self, client: DynamoDBClient, table_name: str, account_id: str | None = None) -> None:
        self._db = client
        self._table = table_name
        self._key = {KEY_ATTRIBUTE: {"S": index_key(account_id)}}

    def load(self, *, consistent: bool = True) -> bytes | None:
        item = self._db.get_item(TableName=self._table, Key=self._key, ConsistentRead=consistent).get("Item")
        blob = (item or {}).get(_BLOB, {}).get("B")
        return bytes(blob) if blob is not None else None

    def save(self, blob: bytes) -> None:
        self._db.put_item(TableName=self._table, Item={**self._key, _BLOB: {"B": blob}})


class ScanIndexRecords:
    """What a rotation reads of the scan index: where the last complete search saw one certificate served.
    One GetItem (eventually consistent: the record is advice about where to look, checked before use). Any
    failure (no permission yet, throttling, an unreadable index) means "no record": the rotation searches."""

    def __init__(self, index: DynamoDbScanIndex) -> None:
        self._index = index

    def served(self, certificate_id: str) -> KnownEndpoints | None:
        try:
            blob = self._index.load(consistent=False)
            return None if blob is None else served_record(blob, certificate_id)
        except Exception as error:  # a cache: without it the rotation searches, as it always could
            logger.warning("scan index not read: searching every region", extra={"error": str(error)})
            return None
