"""DynamoDB: the DNS-01 values a rotation published and the HTTP-01 listener rules it created, recorded
before it publishes or creates them (item `#challenges:<lease key>` of the lease table), so that a rerun
after a crash removes exactly those.

Route 53's `_acme-challenge` sets are shared (another client's, a person's, another rotation's values): a
value is ours only if we wrote down that we were publishing it before we did. The item holds a string set of
`[zone, record name, value]` (JSON) entries: ADD and DELETE on a set are atomic in DynamoDB, so two writers
never lose each other's entries and a removal forgets exactly what it removed. No TTL: an entry forgotten by
time would be a value left behind for good. The item is deleted once its set is empty (conditional, so an
entry added meanwhile keeps it). Challenge values are public by design (the CA and anyone read them): no
secret is stored.

HTTP-01 rules go in the same item, a second string set `rules` of `[region, load balancer, listener, name,
token, body]` entries: the listener rule's tag `certrotate:challenge` is a claim anyone allowed
elasticloadbalancing:AddTags can write on any rule, so it is this record (which only the rotation can write)
that says a rule is ours. The rule's ARN is not known before CreateRule; the entry, written before, names the
listener and the exact rule (host, token path, body), which is how the rule is found again.

The key starts with "#", which no certificate name or ARN does: it never meets a lease, the scan index or
another kind's item; the template's `dynamodb:LeadingKeys` grant names the prefix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.adapters.lease_table.leases import KEY_ATTRIBUTE
from certrotate.model import DnsRecord, Http01Rule, HttpListener

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHALLENGES_KEY_PREFIX = "#challenges:"
_VALUES = "values"
_RULES = "rules"


def challenges_key(lease_key: str) -> str:
    return f"{CHALLENGES_KEY_PREFIX}{lease_key}"


def _entries(records: Sequence[DnsRecord]) -> list[str]:
    return sorted({json.dumps([r.zone_id, r.name, v]) for r in records for v in r.values})


def _rule_entries(rules: Sequence[Http01Rule]) -> list[str]:
    return sorted(
        {
            json.dumps(
                [
                    r.listener.region,
                    r.listener.load_balancer,
                    r.listener.listener_arn,
                    r.name,
                    r.token,
                    r.body,
                ]
            )
            for r in rules
        }
    )


def _rules(certificate: str, entries: Sequence[str]) -> list[Http01Rule]:
    """The entries as rules of `certificate`; unreadable ones skipped (as _records)."""
    found: list[Http01Rule] = []
    for entry in sorted(entries):
        try:
            parts = json.loads(entry)
        except (ValueError, TypeError):
            continue
        if not isinstance(parts, list) or len(parts) != 6 or not all(isinstance(p, str) for p in parts):
            continue
        region, balancer, listener, name, token, body = parts
        found.append(Http01Rule(certificate, HttpListener(region, balancer, listener), name, token, body))
    return found


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
    `<account>:<certificate>` (adapters.aws.accounts.AccountLeases), and so is this item's."""

    def __init__(self, client: DynamoDBClient, table_name: str, account_id: str | None = None) -> None:
        self._db = client
        self._table = table_name
        self._account = account_id

    def _key(self, certificate: str) -> dict[str, dict[str, str]]:
        lease_key = certificate if self._account is None else f"{self._account}:{certificate}"
        return {KEY_ATTRIBUTE: {"S": challenges_key(lease_key)}}

    def _item(self, certificate: str) -> dict[str, Any]:
        item = self._db.get_item(TableName=self._table, Key=self._key(certificate), ConsistentRead=True).get(
            "Item"
        )
        return dict(item or {})

    def recorded(self, certificate: str) -> list[DnsRecord]:
        return _records(self._item(certificate).get(_VALUES, {}).get("SS", []))

    def record(self, certificate: str, records: Sequence[DnsRecord]) -> None:
        self._add(certificate, _VALUES, _entries(records))

    def forget(self, certificate: str, records: Sequence[DnsRecord]) -> None:
        self._remove(certificate, _VALUES, _entries(records))

    def recorded_rules(self, certificate: str) -> list[Http01Rule]:
        return _rules(certificate, self._item(certificate).get(_RULES, {}).get("SS", []))

    def record_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None:
        self._add(certificate, _RULES, _rule_entries(rules))

    def forget_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None:
        self._remove(certificate, _RULES, _rule_entries(rules))

    def _add(self, certificate: str, attribute: str, entries: Sequence[str]) -> None:
        if entries:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(certificate),
                UpdateExpression="ADD #set :entries",
                ExpressionAttributeNames={"#set": attribute},
                ExpressionAttributeValues={":entries": {"SS": list(entries)}},
            )

    def _remove(self, certificate: str, attribute: str, entries: Sequence[str]) -> None:
        if not entries:
            return
        key = self._key(certificate)
        self._db.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression="DELETE #set :entries",
            ExpressionAttributeNames={"#set": attribute},
            ExpressionAttributeValues={":entries": {"SS": list(entries)}},
        )
        try:  # DynamoDB drops an emptied set: once both are gone the item is only its key, and goes
            self._db.delete_item(
                TableName=self._table,
                Key=key,
                ConditionExpression="attribute_not_exists(#values) AND attribute_not_exists(#rules)",
                ExpressionAttributeNames={"#values": _VALUES, "#rules": _RULES},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # entries remain: it stays
                raise
