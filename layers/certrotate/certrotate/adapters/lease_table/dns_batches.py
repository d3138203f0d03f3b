"""DynamoDB: where rotations running at the same time meet to share one Route 53 change per hosted zone
(order/dns_batching.py says how; this adapter is the lease table's side of it).

Two kinds of item, both keyed "#dns-batch:..." (no certificate name or ARN starts with "#": they never meet a
lease or another kind's item; the template's `dynamodb:LeadingKeys` grant names the prefix):
- `#dns-batch:<zone id>`, the zone's item: its open batch (`batch`, `publisher`, each member's entries in
  `members`, their number of values in `values`, `close_at`, `give_up_at`) while one gathers, and when the
  last batch closed (`last_close_at`: the next one closes GATHER_SECONDS after it);
- `#dns-batch:<zone id>:<batch id>`, a closed batch's status, written by its publisher (`state`, `alive_at`,
  the changes to wait for in `change_ids` and who polls them in `poller`, the members whose values it
  publishes in `members`) or, when the publisher said nothing
  in time, by the member who gave up (`abandoned`): created once, so the publisher publishes the members'
  values only if no member has given up on it first.
Every write is conditional, so DynamoDB decides each race: a join lands in the batch before it closes or not
at all, and the close returns exactly the entries that landed. Times are epoch seconds (containers' clocks).
`expires_at` (the table's TTL) tidies up a day later; no decision depends on it.

An entry is JSON `["+" | "-", record name, TTL, value]`: DNS-01 values are public by design (the CA and anyone
read them); no secret is stored.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE
from certrotate.model import DnsRecord
from certrotate.ports import BatchEntry, BatchStatus, BatchTicket

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DNS_BATCH_KEY_PREFIX = "#dns-batch:"
KEPT_SECONDS = 86_400  # the items' TTL: a day after their last write
_LOST_RACE = "ConditionalCheckFailedException"
_NAMES = {
    "#batch": "batch",
    "#publisher": "publisher",
    "#members": "members",
    "#values": "values",
    "#close": "close_at",
    "#give": "give_up_at",
    "#last": "last_close_at",
    "#expires": EXPIRES_ATTRIBUTE,
    "#state": "state",
    "#alive": "alive_at",
    "#changes": "change_ids",
    "#poller": "poller",
}


def zone_key(zone_id: str) -> str:
    return f"{DNS_BATCH_KEY_PREFIX}{zone_id}"


def status_key(zone_id: str, batch_id: str) -> str:
    return f"{DNS_BATCH_KEY_PREFIX}{zone_id}:{batch_id}"


def encode(entry: BatchEntry) -> str:
    record = entry.record
    return json.dumps(["+" if entry.adding else "-", record.name, record.ttl, record.values[0]])


def decode(zone_id: str, text: str) -> BatchEntry | None:
    """An entry as a member wrote it; None for anything else (only this adapter writes them, but a hand-edited
    item must not stop a rotation)."""
    try:
        op, name, ttl, value = json.loads(text)
    except (ValueError, TypeError):
        return None
    if (
        op not in ("+", "-")
        or not isinstance(name, str)
        or not isinstance(value, str)
        or type(ttl) is not int
    ):
        return None
    return BatchEntry(op == "+", DnsRecord(zone_id, name, (value,), ttl))


def _number(item: dict[str, Any], name: str) -> float:
    raw = item.get(name, {}).get("N")
    return float(raw) if raw is not None else 0.0


def _names(*placeholders: str) -> dict[str, str]:
    return {p: _NAMES[p] for p in placeholders}


class DynamoDbDnsBatches:
    """Implements ports.DnsBatches in the lease table."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self._db = client
        self._table = table_name
        self._now = now

    def _expiry(self, now: float) -> dict[str, str]:
        return {"N": str(math.ceil(now + KEPT_SECONDS))}

    # -- the zone's open batch -----------------------------------------------------------------------------

    def join(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, room: int
    ) -> BatchTicket | None:
        now = self._now()
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": zone_key(zone_id)}},
                UpdateExpression="SET #members.#member = :entries ADD #values :count",
                # Open, with room, and not given up on: a join that lands before the close is in the batch.
                ConditionExpression="attribute_exists(#batch) AND #values <= :room AND #give > :now",
                ExpressionAttributeNames={
                    **_names("#members", "#values", "#batch", "#give"),
                    "#member": member,
                },
                ExpressionAttributeValues={
                    ":entries": {"SS": sorted({encode(e) for e in entries})},
                    ":count": {"N": str(len(entries))},
                    ":room": {"N": str(room - len(entries))},
                    ":now": {"N": repr(now)},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == _LOST_RACE:
                return None
            raise
        item = response["Attributes"]
        return BatchTicket(
            batch_id=item["batch"]["S"],
            publisher=False,
            close_at=_number(item, "close_at"),
            give_up_at=_number(item, "give_up_at"),
        )

    def open(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, gather: float, grace: float
    ) -> BatchTicket | None:
        now = self._now()
        batch_id = uuid.uuid4().hex
        # Closing at the latest `gather` from now (members wait for that at most); its publisher closes it
        # earlier when the zone's last batch closed more than `gather` ago (see below).
        close_at, give_up_at = now + gather, now + gather + grace
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": zone_key(zone_id)}},
                UpdateExpression=(
                    "SET #batch = :batch, #publisher = :member, #members = :members, #values = :count, "
                    "#close = :close, #give = :give, #expires = :expires"
                ),
                # None open; or one its publisher left (its members publish their own values by now).
                ConditionExpression="attribute_not_exists(#batch) OR #give <= :now",
                ExpressionAttributeNames=_names(
                    "#batch", "#publisher", "#members", "#values", "#close", "#give", "#expires"
                ),
                ExpressionAttributeValues={
                    ":batch": {"S": batch_id},
                    ":member": {"S": member},
                    ":members": {"M": {member: {"SS": sorted({encode(e) for e in entries})}}},
                    ":count": {"N": str(len(entries))},
                    ":close": {"N": repr(close_at)},
                    ":give": {"N": repr(give_up_at)},
                    ":expires": self._expiry(now),
                    ":now": {"N": repr(now)},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == _LOST_RACE:
                return None
            raise
        before = response.get("Attributes") or {}
        last_close = _number(before, "last_close_at")
        return BatchTicket(batch_id, True, min(close_at, max(now, last_close + gather)), give_up_at)

    def close(self, zone_id: str, batch_id: str) -> dict[str, list[BatchEntry]] | None:
        now = self._now()
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": zone_key(zone_id)}},
                UpdateExpression=(
                    "REMOVE #batch, #publisher, #members, #values, #close, #give SET #last = :now"
                ),
                # Still this batch, and not given up on: its members wait for this publisher.
                ConditionExpression="#batch = :batch AND #give > :now",
                ExpressionAttributeNames=_names(
                    "#batch", "#publisher", "#members", "#values", "#close", "#give", "#last"
                ),
                ExpressionAttributeValues={":batch": {"S": batch_id}, ":now": {"N": repr(now)}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == _LOST_RACE:
                return None
            raise
        members: dict[str, list[BatchEntry]] = {}
        for member, value in response["Attributes"].get("members", {}).get("M", {}).items():
            decoded = (decode(zone_id, text) for text in value.get("SS", []))
            members[member] = [entry for entry in decoded if entry is not None]
        return members

    # -- a closed batch's status ---------------------------------------------------------------------------

    def _status_key(self, zone_id: str, batch_id: str) -> dict[str, dict[str, str]]:
        return {KEY_ATTRIBUTE: {"S": status_key(zone_id, batch_id)}}

    def _create(self, zone_id: str, batch_id: str, state: str, members: Sequence[str] | None = None) -> bool:
        now = self._now()
        named = {"members": {"SS": sorted(set(members))}} if members else {}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._status_key(zone_id, batch_id),
                    "state": {"S": state},
                    "alive_at": {"N": repr(now)},
                    EXPIRES_ATTRIBUTE: self._expiry(now),
                    **named,
                },
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": KEY_ATTRIBUTE},
            )
        except ClientError as exc:
            if error_code(exc) == _LOST_RACE:
                return False
            raise
        return True

    def begin(self, zone_id: str, batch_id: str, members: Sequence[str]) -> bool:
        return self._create(zone_id, batch_id, "publishing", members)

    def _update(
        self,
        zone_id: str,
        batch_id: str,
        expression: str,
        condition: str,
        names: Sequence[str],
        values: dict[str, Any],
    ) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._status_key(zone_id, batch_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(*names),
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == _LOST_RACE:
                return False
            raise
        return True

    def submitted(self, zone_id: str, batch_id: str, change_ids: Sequence[str], poller: str | None) -> bool:
        values: dict[str, Any] = {
            # With no change to wait for (the batch only removed values) there is nothing left to do.
            ":state": {"S": "submitted" if change_ids else "insync"},
            ":after": {"S": "publishing"},
            ":now": {"N": repr(self._now())},
        }
        expression = "SET #state = :state, #alive = :now"
        names = ["#state", "#alive"]
        if change_ids:
            expression += ", #changes = :changes"
            values[":changes"] = {"SS": sorted(set(change_ids))}
            names.append("#changes")
        if poller is not None:
            expression += ", #poller = :poller"
            values[":poller"] = {"S": poller}
            names.append("#poller")
        return self._update(zone_id, batch_id, expression, "#state = :after", names, values)

    def claim(self, zone_id: str, batch_id: str, member: str, seen: BatchStatus) -> bool:
        return self._update(
            zone_id,
            batch_id,
            "SET #poller = :member, #alive = :now",
            "#state = :submitted AND #alive = :seen",  # as seen: no poller spoke meanwhile
            ["#poller", "#alive", "#state"],
            {
                ":member": {"S": member},
                ":now": {"N": repr(self._now())},
                ":submitted": {"S": "submitted"},
                ":seen": {"N": repr(seen.alive_at)},
            },
        )

    def alive(self, zone_id: str, batch_id: str, poller: str) -> None:
        self._update(
            zone_id,
            batch_id,
            "SET #alive = :now",
            "#state = :submitted AND #poller = :poller",
            ["#alive", "#state", "#poller"],
            {":now": {"N": repr(self._now())}, ":submitted": {"S": "submitted"}, ":poller": {"S": poller}},
        )

    def advance(self, zone_id: str, batch_id: str, state: str, *, after: str) -> bool:
        return self._update(
            zone_id,
            batch_id,
            "SET #state = :state, #alive = :now",
            "#state = :after",
            ["#state", "#alive"],
            {":state": {"S": state}, ":after": {"S": after}, ":now": {"N": repr(self._now())}},
        )

    def status(self, zone_id: str, batch_id: str) -> BatchStatus | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._status_key(zone_id, batch_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        state = item.get("state", {}).get("S")
        poller = item.get("poller", {}).get("S")
        members = item.get("members", {}).get("SS")
        return BatchStatus(
            state if isinstance(state, str) else "failed",
            _number(item, "alive_at"),
            tuple(sorted(item.get("change_ids", {}).get("SS", []))),
            poller if isinstance(poller, str) else None,
            tuple(sorted(members)) if isinstance(members, list) else None,
        )

    def abandon(self, zone_id: str, batch_id: str, seen: BatchStatus | None) -> bool:
        if seen is None:  # the publisher never said it was publishing: now it will not
            return self._create(zone_id, batch_id, "abandoned")
        return self._update(
            zone_id,
            batch_id,
            "SET #state = :abandoned",
            "#state = :seen AND #alive = :alive",  # as seen: not a publisher that spoke meanwhile
            ["#state", "#alive"],
            {
                ":abandoned": {"S": "abandoned"},
                ":seen": {"S": seen.state},
                ":alive": {"N": repr(seen.alive_at)},
            },
        )
