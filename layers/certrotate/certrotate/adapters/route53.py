"""DNS-01 answers in Route 53, beside whatever else the `_acme-challenge` record sets hold.

The TXT record set at `_acme-challenge.<name>` is shared: another ACME client, a person, or a concurrent
rotation of another certificate with the same name may own values in it. A rotation adds its values beside
theirs and removes only its own. Route 53 has no "add a value" action and UPSERT replaces the whole set, so
every write is a compare-and-swap: a change batch is atomic and a DELETE must repeat the set exactly (TTL and
every value), so `DELETE <the set as read>` + `CREATE <the set as wanted>` succeeds only if nobody changed the
set since it was read (a plain CREATE only if nobody created it). A lost race is `InvalidChangeBatch`: read
again and retry, bounded, with backoff and jitter.

Route 53 allows 5 requests per second per account, so the common case makes no read at all: a new set is
CREATEd blindly, and removal swaps from the state this adapter last wrote; only a refused guess costs a read.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord, HostedZone

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client

SYNC_WAIT = 180.0  # Route 53 propagates within 60 s normally
SWAP_ATTEMPTS = 8  # compare-and-swap attempts per zone before giving up
FIRST_BACKOFF = 0.25  # seconds; doubled per lost race, with full jitter
MAX_BACKOFF = 4.0
REMOVE_WAIT = 60.0  # removal has no caller deadline; it must not hang the rotation's cleanup


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(name: str) -> str:
    return name.rstrip(".").lower()  # Route 53 stores names in lower case, with the final dot


@dataclass(frozen=True, slots=True)
class TxtSet:
    """A simple-routing TXT record set as Route 53 holds it (values quoted, exactly as listed)."""

    name: str
    ttl: int
    values: tuple[str, ...]

    def same_as(self, other: TxtSet | None) -> bool:
        return (
            other is not None
            and _key(self.name) == _key(other.name)
            and self.ttl == other.ttl
            and sorted(self.values) == sorted(other.values)
        )

    def as_route53(self) -> Any:
        return {
            "Name": self.name,
            "Type": "TXT",
            "TTL": self.ttl,
            "ResourceRecords": [{"Value": value} for value in self.values],
        }


def _same(a: TxtSet | None, b: TxtSet | None) -> bool:
    return b is None if a is None else a.same_as(b)


def with_ours(current: TxtSet | None, record: DnsRecord) -> TxtSet:
    ours = tuple(quoted(v) for v in record.values)
    if current is None:
        return TxtSet(record.name, record.ttl, ours)
    # The existing TTL stays: the set is not ours, and a DELETE of it must repeat it anyway.
    return replace(current, values=current.values + tuple(v for v in ours if v not in current.values))


def without_ours(current: TxtSet | None, record: DnsRecord) -> TxtSet | None:
    if current is None:
        return None
    ours = {quoted(v) for v in record.values}
    rest = tuple(v for v in current.values if v not in ours)
    return replace(current, values=rest) if rest else None


class Route53Challenges:
    def __init__(
        self,
        client: Route53Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._r53 = client
        self._sleep = sleep
        self._monotonic = monotonic
        self._jitter = jitter
        # The TXT sets as this adapter last wrote or read them: the guess Route 53 checks in the next swap.
        self._last_seen: dict[tuple[str, str], TxtSet] = {}

    def zones(self) -> list[HostedZone]:
        # Listed afresh for each order (one call per 100 zones): a zone added since must be found.
        zones: list[HostedZone] = []
        for page in self._r53.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                zones.append(
                    HostedZone(
                        zone_id=zone["Id"].rsplit("/", 1)[-1],
                        name=zone["Name"].rstrip(".").lower(),
                        private=bool(zone.get("Config", {}).get("PrivateZone")),
                    )
                )
        return zones

    def publish(self, records: Sequence[DnsRecord], *, deadline: float) -> None:
        """Add our values beside what stands; return once Route 53 says the changes are INSYNC."""
        change_ids = [
            self._swap(zone_id, zone_records, adding=True, deadline=deadline)
            for zone_id, zone_records in _by_zone(records).items()
        ]
        for change_id in change_ids:
            if change_id is not None:
                self._wait_in_sync(change_id, deadline)

    def remove(self, records: Sequence[DnsRecord]) -> None:
        """Remove our values, whatever else failed, and nothing else; a value already gone is fine."""
        deadline = self._monotonic() + REMOVE_WAIT
        problems: list[str] = []
        for zone_id, zone_records in _by_zone(records).items():
            try:  # zone by zone: one zone's trouble must not leave the others' values behind
                self._swap(zone_id, zone_records, adding=False, deadline=deadline)
            except (ClientError, CertRotateError) as exc:
                problems.append(f"zone {zone_id}: {_describe(exc)}")
        if problems:
            raise CertRotateError("could not remove DNS-01 records: " + "; ".join(problems))

    # -- compare-and-swap --------------------------------------------------------------------------------

    def _swap(
        self, zone_id: str, records: Sequence[DnsRecord], *, adding: bool, deadline: float
    ) -> str | None:
        """One atomic change batch for the zone's records; the change ID, or None when nothing was to do."""
        edit = with_ours if adding else without_ours
        # Start from what we last saw. Unknown: when adding, guess "no set" (CREATE fails if one exists);
        # when removing, read (the values may never have been written).
        known: list[TxtSet | None] = []
        read_now = False
        for record in records:
            seen = self._last_seen.get((zone_id, _key(record.name)))
            if seen is None and not adding:
                read_now = True
                break
            known.append(seen)
        if read_now:
            known = self._read_all(zone_id, records)
        verified = read_now  # `known` was read just now, not guessed
        lost_races = 0
        for _attempt in range(SWAP_ATTEMPTS):
            wanted = [edit(current, record) for current, record in zip(known, records, strict=True)]
            changes: list[Any] = []
            for current, new in zip(known, wanted, strict=True):
                if _same(current, new) and not adding:
                    continue
                # When adding and our values already stand, the identical swap still checks the guess and
                # yields a change ID to wait for: the set is answered from only once it is INSYNC.
                if current is not None:
                    changes.append({"Action": "DELETE", "ResourceRecordSet": current.as_route53()})
                if new is not None:
                    changes.append({"Action": "CREATE", "ResourceRecordSet": new.as_route53()})
            if not changes:
                if verified:
                    return None
                known, verified = self._read_all(zone_id, records), True  # confirm the guess
                continue
            try:
                response = self._r53.change_resource_record_sets(
                    HostedZoneId=zone_id, ChangeBatch={"Comment": "certrotate DNS-01", "Changes": changes}
                )
            except ClientError as exc:
                if error_code(exc) != "InvalidChangeBatch":
                    raise
                fresh = self._read_all(zone_id, records)
                if verified and all(_same(a, b) for a, b in zip(known, fresh, strict=True)):
                    # Nobody changed the sets: the batch itself is refused (a CNAME there, say).
                    raise CertRotateError(f"Route 53 refused the DNS-01 change: {_describe(exc)}") from None
                if verified:  # a real lost race: let the other writer finish before trying again
                    lost_races += 1
                    self._back_off(lost_races, deadline)
                known, verified = fresh, True
                continue
            for record, new in zip(records, wanted, strict=True):
                self._remember(zone_id, record.name, new)
            return response["ChangeInfo"]["Id"]
        names = ", ".join(record.name for record in records)
        raise CertRotateError(
            f"the TXT record sets {names} kept changing under certrotate ({SWAP_ATTEMPTS} attempts)"
        )

    def _back_off(self, lost_races: int, deadline: float) -> None:
        delay = self._jitter(0.0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (lost_races - 1)))
        if self._monotonic() + delay > deadline:
            raise CertRotateError("no time left to retry a Route 53 change that lost a race")
        self._sleep(delay)

    def _read_all(self, zone_id: str, records: Sequence[DnsRecord]) -> list[TxtSet | None]:
        return [self._read(zone_id, record.name) for record in records]

    def _read(self, zone_id: str, name: str) -> TxtSet | None:
        """The TXT record set at `name` as Route 53 holds it now (one request)."""
        response = self._r53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name, StartRecordType="TXT", MaxItems="1"
        )
        found: TxtSet | None = None
        for record_set in response["ResourceRecordSets"]:
            if _key(record_set["Name"]) != _key(name) or record_set["Type"] != "TXT":
                continue
            if "SetIdentifier" in record_set or "ResourceRecords" not in record_set:
                raise CertRotateError(
                    f"the TXT record set {name} uses a routing policy: certrotate can only share a simple one"
                )
            found = TxtSet(
                name=record_set["Name"],
                ttl=int(record_set["TTL"]),
                values=tuple(r["Value"] for r in record_set["ResourceRecords"]),
            )
        self._remember(zone_id, name, found)
        return found

    def _remember(self, zone_id: str, name: str, state: TxtSet | None) -> None:
        if state is None:
            self._last_seen.pop((zone_id, _key(name)), None)
        else:
            self._last_seen[(zone_id, _key(name))] = state

    def _wait_in_sync(self, change_id: str, deadline: float) -> None:
        limit = min(deadline, self._monotonic() + SYNC_WAIT)
        delay = 0.5
        while True:
            status = self._r53.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            left = limit - self._monotonic()
            if left <= 0:
                raise CertRotateError(f"Route 53 change {change_id} was not INSYNC in time")
            self._sleep(min(delay, left))
            delay = min(delay * 2, 5.0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{error_code(exc)}: {message}" if message else error_code(exc)
    return str(exc)


def _by_zone(records: Sequence[DnsRecord]) -> dict[str, list[DnsRecord]]:
    grouped: dict[str, list[DnsRecord]] = defaultdict(list)
    for record in records:
        grouped[record.zone_id].append(record)
    return dict(grouped)
