"""DynamoDB: the DNS-01 values a rotation published, recorded before it publishes them (item
`#challenges:<lease key>` of the lease table), so that a rerun after a crash removes exactly those.

Route 53's `_acme-challenge` sets are shared (another client's, a person's, another rotation's values): a
value is ours only if we wrote down that we were publishing it before we did. The item holds a string set of
`[zone, record name, value]` (JSON) entries: ADD and DELETE on a set are atomic in DynamoDB, so two writers
never lose each other's entries and a removal forgets exactly what it removed. No TTL: an entry forgotten by
time would be a value left behind for good. The item is deleted once its set is empty (conditional, so an
entry added meanwhile keeps it). Challenge values are public by design (the CA and anyone read them): no
secret is stored.

The key starts with "#", which no certificate name or ARN does: it never meets a lease, the scan index or
another kind's item; the template's `dynamodb:LeadingKeys` grant names the prefix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.adapters.leases import KEY_ATTRIBUTE
from certrotate.model import DnsRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHALLENGES_KEY_PREFIX = "#challenges:"
_VALUES = "values"


def challenges_key(lease_key: str) -> str:
    return f"{CHALLENGES_KEY_PREFIX}{lease_key}"


def _entries(records: Sequence[DnsRecord]) -> list[str]:
    return sorted({json.dumps([r.zone_id, r.name, v]) for r in records for v in r.values})


def _records(entries: Sequence[str]) -> list[DnsRecord]:
    """The entries as one DnsRecord per zone and name (what the DNS adapter removes); unreadable ones skipped
    (only this adapter writes the item, but a hand-edited entry must not stop a rotation)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        try:
            zone_id, name, value = json.loads(entry)
        except (ValueError, TypeError):
            continue
        if all(isinstance(part, str) for part in (zone_id, name, value)):
            grouped.setdefault((zone_id, name), []).append(value)
    return [DnsRecord(zone, name, tuple(sorted(values))) for (zone, name), values in sorted(grouped.items())]


class DynamoDbChallengeRecords:
    """Implements ports.ChallengeRecords. `account_id`: with MANAGED_ACCOUNTS the lease key is
    `<account>:<certificate>` (adapters.accounts.AccountLeases), and so is this item's."""

    def __init__(self, client: DynamoDBClient, table_name: str, account_id: str | None = None) -> None:
        self._db = client
        self._table = table_name
        self._account = account_id

    def _key(self, certificate: str) -> dict[str, dict[str, str]]:
        lease_key = certificate if self._account is None else f"{self._account}:{certificate}"
        return {KEY_ATTRIBUTE: {"S": challenges_key(lease_key)}}

    def recorded(self, certificate: str) -> list[DnsRecord]:
        item = self._db.get_item(TableName=self._table, Key=self._key(certificate), ConsistentRead=True).get(
            "Item"
        )
        return _records((item or {}).get(_VALUES, {}).get("SS", []))

    def record(self, certificate: str, records: Sequence[DnsRecord]) -> None:
        entries = _entries(records)
        if entries:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(certificate),
                UpdateExpression="ADD #values :entries",
                ExpressionAttributeNames={"#values": _VALUES},
                ExpressionAttributeValues={":entries": {"SS": entries}},
            )

    def forget(self, certificate: str, records: Sequence[DnsRecord]) -> None:
        entries = _entries(records)
        if not entries:
            return
        key = self._key(certificate)
        self._db.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression="DELETE #values :entries",
            ExpressionAttributeNames={"#values": _VALUES},
            ExpressionAttributeValues={":entries": {"SS": entries}},
        )
        try:  # DynamoDB drops an emptied set: the item is then only its key, and goes
            self._db.delete_item(
                TableName=self._table,
                Key=key,
                ConditionExpression="attribute_not_exists(#values)",
                ExpressionAttributeNames={"#values": _VALUES},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # entries remain: it stays
                raise
