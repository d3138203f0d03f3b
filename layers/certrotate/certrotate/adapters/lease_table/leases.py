"""DynamoDB: per-certificate rotation leases, one item per certificate being rotated.

An item names its holder (`owner`, new at every acquisition), the `version` of its latest write and when it
ends (`expires_at`, epoch seconds). Every write is conditional, so each one is a compare-and-swap that
DynamoDB decides atomically: acquire succeeds when no item exists or the one there has expired; renew and
release only for the same owner and version. A released lease is deleted. `expires_at` is also the table's
TTL attribute, which only tidies up after crashed runs: TTL deletes days late at worst, so no decision here
depends on it (the expiry is compared in the condition).

A retried write whose first attempt landed (botocore retries a lost response) finds its own owner and
version in the item: that is a success, not a lost race.

An item whose expiry certrotate cannot have written (no `expires_at`, not a number, or further ahead than the
longest lease: MAX_ROTATION_LEASE_SECONDS plus CLOCK_SKEW) is taken as expired: acquire takes it over, in the
same conditional write, with a WARNING naming what it found. Safe both ways: such an item holds no run of
certrotate (each run writes a number at most that far ahead), so taking it over lets no two runs in at once;
and refusing it would block the certificate for good (DynamoDB compares a string or a missing attribute with
`<=` as false, and TTL deletes neither a string nor a time in the future).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import RotationInProgress
from certrotate.ports import Lease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The table's key and TTL attribute, as template.yaml's LeaseTable declares them (test_template.py).
KEY_ATTRIBUTE = "certificate"
EXPIRES_ATTRIBUTE = "expires_at"
_LOST_RACE = "ConditionalCheckFailedException"
_NAMES = {"#key": KEY_ATTRIBUTE, "#expires": EXPIRES_ATTRIBUTE, "#owner": "owner", "#version": "version"}
_SAME_HOLDER = "#owner = :owner AND #version = :version"
# How far the clocks of two runs (two Lambda hosts, an operator's laptop) may disagree: an expiry further
# ahead than the longest lease plus this was not written by any run of certrotate.
CLOCK_SKEW = timedelta(minutes=5)
# Free (DynamoDB decides it atomically): no item; an expired one; or one whose expiry certrotate never wrote.
_FREE = (
    "attribute_not_exists(#key) OR #expires <= :now"
    " OR NOT attribute_type(#expires, :number) OR #expires > :latest"
)

# The longest ROTATION_LEASE_SECONDS config accepts: no lease certrotate writes ends later than this after its
# write, so an expiry beyond it is one certrotate never wrote.
MAX_ROTATION_LEASE_SECONDS = 43_200


logger = Logger(child=True)


class DynamoDbLeases:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = client
        self._table = table_name
        self._now = now

    def acquire(self, certificate_name: str, *, seconds: int) -> Lease:
        """Take the lease unless another run holds it and it has not expired. Each acquisition is a new
        holder, even in the same container: two invocations never share a lease."""
        now = self._now()
        lease = Lease(certificate_name, str(uuid.uuid4()), str(uuid.uuid4()), _expiry(now, seconds))
        latest = _latest_possible_expiry(now)
        try:
            written = self._db.put_item(
                TableName=self._table,
                Item={
                    KEY_ATTRIBUTE: {"S": certificate_name},
                    "owner": {"S": lease.owner},
                    "version": {"S": lease.version},
                    EXPIRES_ATTRIBUTE: {"N": str(_epoch(lease.expires))},
                    "acquired_at": {"S": now.isoformat()},
                },
                ConditionExpression=_FREE,
                ExpressionAttributeNames={"#key": KEY_ATTRIBUTE, "#expires": EXPIRES_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":now": {"N": str(math.floor(now.timestamp()))},
                    ":number": {"S": "N"},
                    ":latest": {"N": str(latest)},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            holder = _holder_after_lost_race(exc)
            if _is(holder, lease):
                return lease
            raise RotationInProgress(certificate_name, _expires_of(holder)) from None
        previous = written.get("Attributes") or {}
        problem = _unwritable_expiry(previous, latest) if previous else None
        if problem is not None:
            logger.warning(
                "lease item not written by certrotate taken over",
                extra={"certificate_name": certificate_name, "expires_at": problem},
            )
        return lease

    def renew(self, lease: Lease, *, seconds: int) -> Lease:
        """Extend the lease; RotationInProgress when it is no longer ours (it expired and was taken)."""
        renewed = Lease(lease.certificate_name, lease.owner, str(uuid.uuid4()), _expiry(self._now(), seconds))
        try:
            self._db.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": lease.certificate_name}},
                UpdateExpression="SET #expires = :expires, #version = :next",
                ConditionExpression=_SAME_HOLDER,
                ExpressionAttributeNames={k: _NAMES[k] for k in ("#expires", "#owner", "#version")},
                ExpressionAttributeValues={
                    ":expires": {"N": str(_epoch(renewed.expires))},
                    ":next": {"S": renewed.version},
                    ":owner": {"S": lease.owner},
                    ":version": {"S": lease.version},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            holder = _holder_after_lost_race(exc)
            if _is(holder, renewed):
                return renewed
            raise RotationInProgress(lease.certificate_name, _expires_of(holder)) from None
        return renewed

    def release(self, lease: Lease) -> None:
        """Delete the lease if it is still ours. If it expired and another run took it, it is theirs to
        release: nothing to do (and nothing to do either when a retried delete finds it gone)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": lease.certificate_name}},
                ConditionExpression=_SAME_HOLDER,
                ExpressionAttributeNames={k: _NAMES[k] for k in ("#owner", "#version")},
                ExpressionAttributeValues={":owner": {"S": lease.owner}, ":version": {"S": lease.version}},
            )
        except ClientError as exc:
            _holder_after_lost_race(exc)


def _expiry(now: datetime, seconds: int) -> datetime:
    # Whole seconds, rounded up: DynamoDB's TTL reads epoch seconds, and a lease never ends early.
    return datetime.fromtimestamp(math.ceil((now + timedelta(seconds=seconds)).timestamp()), UTC)


def _epoch(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


def _holder_after_lost_race(exc: ClientError) -> Mapping[str, Any]:
    """The item that made a condition fail (empty when there was none); re-raises any other error."""
    if error_code(exc) != _LOST_RACE:
        raise exc
    item = exc.response.get("Item")
    return item if isinstance(item, dict) else {}


def _is(holder: Mapping[str, Any], lease: Lease) -> bool:
    owner: object = holder.get("owner", {}).get("S")
    version: object = holder.get("version", {}).get("S")
    return owner == lease.owner and version == lease.version


def _latest_possible_expiry(now: datetime) -> int:
    """The furthest expiry (epoch seconds) a run of certrotate writes, whatever its ROTATION_LEASE_SECONDS."""
    return math.ceil((now + timedelta(seconds=MAX_ROTATION_LEASE_SECONDS) + CLOCK_SKEW).timestamp())


def _expiry_seconds(holder: Mapping[str, Any], name: str = EXPIRES_ATTRIBUTE) -> float | None:
    """An epoch-seconds attribute (`expires_at`) as a number, or None when it is missing or not a (finite)
    number."""
    attribute = holder.get(name)
    raw = attribute.get("N") if isinstance(attribute, Mapping) else None
    try:
        seconds = float(raw) if isinstance(raw, str) else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


def _unwritable_expiry(holder: Mapping[str, Any], latest: int) -> str | None:
    """What is wrong with an item's expiry that no run of certrotate wrote (a short description for the log),
    or None when certrotate may have written it."""
    seconds = _expiry_seconds(holder)
    if seconds is None:
        return f"not a number: {str(holder.get(EXPIRES_ATTRIBUTE))[:80]}"
    if seconds < 0:
        return f"{seconds:.0f}, before 1970"
    if seconds > latest:
        return f"{seconds:.0f}, further ahead than any lease"
    return None


def _expires_of(holder: Mapping[str, Any]) -> datetime | None:
    """When the holder's lease ends, for RotationInProgress's message; None when its expiry cannot be read as
    a time (never an exception: the item may be anyone's)."""
    seconds = _expiry_seconds(holder)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # before year 1 or after 9999
        return None


# The one-ACME-account record (CONTRACT.md, issue 22): one item, never expiring (no TTL attribute).
ACME_ACCOUNT_KEY = "#acme-account"
# A creator that claimed the account this long ago and stored no key is dead (no Lambda runs longer).
ACCOUNT_CREATION_STALE = timedelta(minutes=15)


class DynamoDbAccountCreation:
    """Which of any number of first rotations creates the ACME account: the one whose conditional PutItem
    of `#acme-account` succeeds (DynamoDB decides one). It is asked only while the account secret is absent
    or empty, so a claim older than ACCOUNT_CREATION_STALE is a creator that died before it stored a key (it
    stores the key before it registers, so it registered nothing) and may be taken over. So may a claim no
    run wrote (`claimed_at` missing, not a number, or later than now plus CLOCK_SKEW): otherwise it would stop
    every account creation for good, and it holds no creator that could register beside us."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = client
        self._table = table_name
        self._now = now

    def claim(self) -> bool:
        now = self._now()
        owner = str(uuid.uuid4())
        stale = math.floor((now - ACCOUNT_CREATION_STALE).timestamp())
        future = math.ceil((now + CLOCK_SKEW).timestamp())
        try:
            written = self._db.put_item(
                TableName=self._table,
                Item={
                    KEY_ATTRIBUTE: {"S": ACME_ACCOUNT_KEY},
                    "owner": {"S": owner},
                    "claimed_at": {"N": str(math.floor(now.timestamp()))},
                },
                ConditionExpression=(
                    "attribute_not_exists(#key) OR #claimed < :stale"
                    " OR NOT attribute_type(#claimed, :number) OR #claimed > :future"
                ),
                ExpressionAttributeNames={"#key": KEY_ATTRIBUTE, "#claimed": "claimed_at"},
                ExpressionAttributeValues={
                    ":stale": {"N": str(stale)},
                    ":number": {"S": "N"},
                    ":future": {"N": str(future)},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            holder = _holder_after_lost_race(exc)
            # A retried write whose first attempt landed finds its own owner: that is a success.
            return bool(holder.get("owner", {}).get("S") == owner)
        previous = written.get("Attributes") or {}
        claimed = _expiry_seconds(previous, "claimed_at")
        if previous and (claimed is None or claimed > future):
            logger.warning(
                "ACME account claim not written by certrotate taken over",
                extra={"claimed_at": str(previous.get("claimed_at"))[:80]},
            )
        return True
