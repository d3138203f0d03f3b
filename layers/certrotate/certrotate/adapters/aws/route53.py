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

Several certificates' values (order/dns_batching.py: rotations running at the same time share one change) go
in one change batch per zone: `submit` adds some values and removes others in one atomic change, as many
record sets as Route 53's limits on one request allow (1,000 ResourceRecord elements, 32,000 characters of
values), more changes beyond; `wait_in_sync` polls them. `publish` is both, for one certificate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord, HostedZone
from certrotate.model.challenges import challenge_zone

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client

SYNC_WAIT = 180.0  # Route 53 propagates within 60 s normally
SWAP_ATTEMPTS = 8  # compare-and-swap attempts per zone before giving up
FIRST_BACKOFF = 0.25  # seconds; doubled per lost race, with full jitter
MAX_BACKOFF = 4.0
REMOVE_WAIT = 60.0  # removal has no caller deadline; it must not hang the rotation's cleanup
FIRST_POLL_DELAY = 0.5  # GetChange: at once, then after 0.5, 1, 2, 4, then every 5 s
LONGEST_POLL_DELAY = 5.0
# The hosted-zone listing is kept this long per container (docs/design.md, "The hosted zones, kept a minute"):
# shorter than the rotation queue's visibility timeout, so that a redelivery after a failed validation never
# plans from the listing the failed try used.
ZONES_KEPT = 60.0
# One ChangeResourceRecordSets request holds at most 1,000 ResourceRecord elements and 32,000 characters in
# all Value elements (Route 53 quotas, "ChangeResourceRecordSets requests"; UPSERT would count twice, and is
# never used here). A DELETE repeats the whole set it replaces, so a shared set counts twice.
MAX_CHANGE_RECORDS = 1000
MAX_CHANGE_CHARACTERS = 32_000


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


@dataclass(frozen=True, slots=True)
class SetEdit:
    """What one change does to one record set: values added and values removed (quoted), whatever else the
    set holds staying. A value both added and removed stays: it is being published for someone."""

    name: str
    ttl: int
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def apply(self, current: TxtSet | None) -> TxtSet | None:
        if current is None:
            return TxtSet(self.name, self.ttl, self.add) if self.add else None
        kept = tuple(v for v in current.values if v not in self.drop or v in self.add)
        # The existing TTL stays: the set is not ours, and a DELETE of it must repeat it anyway.
        values = kept + tuple(v for v in self.add if v not in current.values)
        return replace(current, values=values) if values else None


def edits_by_zone(
    additions: Sequence[DnsRecord], removals: Sequence[DnsRecord] = ()
) -> dict[str, list[SetEdit]]:
    """The edits of each zone, one per record set (values of several records at one name merged, the first
    record's TTL for a new set), in the order the names first appear."""
    merged: dict[str, dict[str, tuple[str, int, list[str], list[str]]]] = {}
    for records, adding in ((additions, True), (removals, False)):
        for record in records:
            sets = merged.setdefault(record.zone_id, {})
            _name, _ttl, add, drop = sets.setdefault(_key(record.name), (record.name, record.ttl, [], []))
            target = add if adding else drop
            target.extend(v for v in map(quoted, record.values) if v not in target)
    return {
        zone: [SetEdit(name, ttl, tuple(add), tuple(drop)) for name, ttl, add, drop in sets.values()]
        for zone, sets in merged.items()
    }


def change_size(changes: Sequence[Any]) -> tuple[int, int]:
    """(ResourceRecord elements, characters of values) of a change batch, as Route 53 counts them."""
    values = [r["Value"] for c in changes for r in c["ResourceRecordSet"].get("ResourceRecords", [])]
    return len(values), sum(len(v) for v in values)


def fits(changes: Sequence[Any]) -> bool:
    records, characters = change_size(changes)
    return records <= MAX_CHANGE_RECORDS and characters <= MAX_CHANGE_CHARACTERS


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
        self._zones: tuple[float, list[HostedZone]] | None = None  # (monotonic time listed, the zones)

    def zones(self, *, fresh: bool = False, names: Sequence[str] = ()) -> list[HostedZone]:
        """The account's hosted zones (one call per 100 zones), or the listing made at most ZONES_KEPT seconds
        ago in this container when it finds a zone for each of `names` (a name it finds none for may be in a
        zone added since) and `fresh` is not asked. Route 53's 5 requests per second are shared by the fleet's
        rotations: a listing per order was 40% of their Route 53 calls."""
        now = self._monotonic()
        if not fresh and self._zones is not None and now - self._zones[0] < ZONES_KEPT:
            kept = self._zones[1]
            if all(challenge_zone(name, kept) is not None for name in names):
                return list(kept)
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
        self._zones = (now, zones)
        return list(zones)

    def publish(self, records: Sequence[DnsRecord], *, deadline: float) -> None:
        """Add our values beside what stands; return once Route 53 says the changes are INSYNC."""
        self.wait_in_sync(self.submit(records, deadline=deadline), deadline=deadline)

    def submit(
        self, additions: Sequence[DnsRecord], removals: Sequence[DnsRecord] = (), *, deadline: float
    ) -> list[str]:
        """Add `additions` and remove `removals` (whoever's they are: several certificates' at once), each
        zone's in as few atomic change batches as Route 53's limits allow; the IDs of the changes that add
        values, to wait for (a removal needs no wait: nothing answers from it)."""
        change_ids: list[str] = []
        for zone_id, edits in edits_by_zone(additions, removals).items():
            change_ids.extend(self._apply(zone_id, edits, deadline=deadline))
        return change_ids

    def remove(self, records: Sequence[DnsRecord]) -> None:
        """Remove our values, whatever else failed, and nothing else; a value already gone is fine."""
        deadline = self._monotonic() + REMOVE_WAIT
        problems: list[str] = []
        for zone_id, edits in edits_by_zone((), records).items():
            try:  # zone by zone: one zone's trouble must not leave the others' values behind
                self._apply(zone_id, edits, deadline=deadline)
            except (ClientError, CertRotateError) as exc:
                problems.append(f"zone {zone_id}: {_describe(exc)}")
        if problems:
            raise CertRotateError("could not remove DNS-01 records: " + "; ".join(problems))

    def wait_in_sync(
        self, change_ids: Sequence[str], *, deadline: float, polled: Callable[[], None] | None = None
    ) -> None:
        """Return once every change is INSYNC; `polled` is called after each GetChange (a sign of life)."""
        for change_id in change_ids:
            self._wait_in_sync(change_id, deadline, polled)

    # -- compare-and-swap --------------------------------------------------------------------------------

    def _apply(self, zone_id: str, edits: Sequence[SetEdit], *, deadline: float) -> list[str]:
        """The edits of one zone, in change batches that fit Route 53's limits (estimated from what this
        adapter last saw; `_swap` halves a batch that turns out too large once read)."""
        change_ids: list[str] = []
        batch: list[SetEdit] = []
        records = characters = 0
        for edit in edits:
            seen = self._last_seen.get((zone_id, _key(edit.name)))
            size = change_size(_changes_for(seen, edit))
            too_many = records + size[0] > MAX_CHANGE_RECORDS
            if batch and (too_many or characters + size[1] > MAX_CHANGE_CHARACTERS):
                change_ids.extend(self._swap(zone_id, batch, deadline=deadline))
                batch, records, characters = [], 0, 0
            batch.append(edit)
            records, characters = records + size[0], characters + size[1]
        if batch:
            change_ids.extend(self._swap(zone_id, batch, deadline=deadline))
        return change_ids

    def _swap(self, zone_id: str, edits: Sequence[SetEdit], *, deadline: float) -> list[str]:
        """One atomic change batch for the edits' record sets; its change ID if it adds values (none when
        nothing was to do, or when it only removes)."""
        # Start from what we last saw. Unknown, guess: when adding, "no set" (a CREATE fails if one exists);
        # when only removing, "a set of our values alone" (a DELETE fails unless the set is exactly that).
        # A refused guess is read, and only it: the common case (a set of its own per certificate, published
        # or removed in a batch by another container, which knows nothing of it) costs no read.
        known: list[TxtSet | None] = []
        verified: list[bool] = []  # each state in `known` was read, not guessed or remembered
        for edit in edits:
            seen = self._last_seen.get((zone_id, _key(edit.name)))
            if seen is None and not edit.add:
                seen = TxtSet(edit.name, edit.ttl, edit.drop)
            known.append(seen)
            verified.append(False)
        adding = any(edit.add for edit in edits)
        lost_races = 0
        for _attempt in range(SWAP_ATTEMPTS):
            wanted = [edit.apply(current) for current, edit in zip(known, edits, strict=True)]
            changes: list[Any] = []
            for current, edit in zip(known, edits, strict=True):
                changes.extend(_changes_for(current, edit))
            if not changes:
                if all(verified):
                    return []
                known, verified = self._confirm(zone_id, edits, known, verified), [True] * len(edits)
                continue
            if not fits(changes):
                if len(edits) == 1:
                    raise CertRotateError(
                        f"the TXT record set {edits[0].name} is too large for one Route 53 change"
                    )
                half = len(edits) // 2  # the sets held more than this adapter knew: two changes
                return [
                    *self._swap(zone_id, edits[:half], deadline=deadline),
                    *self._swap(zone_id, edits[half:], deadline=deadline),
                ]
            try:
                response = self._r53.change_resource_record_sets(
                    HostedZoneId=zone_id, ChangeBatch={"Comment": "certrotate DNS-01", "Changes": changes}
                )
            except ClientError as exc:
                if error_code(exc) != "InvalidChangeBatch":
                    raise
                if not all(verified):  # a guess (or what we last saw) was wrong: read those
                    known, verified = self._confirm(zone_id, edits, known, verified), [True] * len(edits)
                    continue
                fresh = self._read_all(zone_id, edits)
                if all(_same(a, b) for a, b in zip(known, fresh, strict=True)):
                    # Nobody changed the sets: the batch itself is refused (a CNAME there, say).
                    raise CertRotateError(f"Route 53 refused the DNS-01 change: {_describe(exc)}") from None
                lost_races += 1  # a real lost race: let the other writer finish before trying again
                self._back_off(lost_races, deadline)
                known = fresh
                continue
            for edit, new in zip(edits, wanted, strict=True):
                self._remember(zone_id, edit.name, new)
            return [response["ChangeInfo"]["Id"]] if adding else []
        names = ", ".join(edit.name for edit in edits)
        raise CertRotateError(
            f"the TXT record sets {names} kept changing under certrotate ({SWAP_ATTEMPTS} attempts)"
        )

    def _confirm(
        self, zone_id: str, edits: Sequence[SetEdit], known: list[TxtSet | None], verified: list[bool]
    ) -> list[TxtSet | None]:
        """`known` with every state not read yet read now."""
        return [
            current if read else self._read(zone_id, edit.name)
            for current, read, edit in zip(known, verified, edits, strict=True)
        ]

    def _back_off(self, lost_races: int, deadline: float) -> None:
        delay = self._jitter(0.0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (lost_races - 1)))
        if self._monotonic() + delay > deadline:
            raise CertRotateError("no time left to retry a Route 53 change that lost a race")
        self._sleep(delay)

    def _read_all(self, zone_id: str, edits: Sequence[SetEdit]) -> list[TxtSet | None]:
        return [self._read(zone_id, edit.name) for edit in edits]

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

    def _wait_in_sync(self, change_id: str, deadline: float, polled: Callable[[], None] | None) -> None:
        limit = min(deadline, self._monotonic() + SYNC_WAIT)
        delay = FIRST_POLL_DELAY
        while True:
            status = self._r53.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if polled is not None:
                polled()
            if status == "INSYNC":
                return
            left = limit - self._monotonic()
            if left <= 0:
                raise CertRotateError(f"Route 53 change {change_id} was not INSYNC in time")
            self._sleep(min(delay, left))
            delay = min(delay * 2, LONGEST_POLL_DELAY)


def _changes_for(current: TxtSet | None, edit: SetEdit) -> list[Any]:
    """The DELETE and CREATE that swap `current` for what `edit` wants. When adding and our values already
    stand, the identical swap still checks the guess and yields a change ID to wait for: the set is answered
    from only once it is INSYNC."""
    new = edit.apply(current)
    if _same(current, new) and not edit.add:
        return []
    changes: list[Any] = []
    if current is not None:
        changes.append({"Action": "DELETE", "ResourceRecordSet": current.as_route53()})
    if new is not None:
        changes.append({"Action": "CREATE", "ResourceRecordSet": new.as_route53()})
    return changes


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{error_code(exc)}: {message}" if message else error_code(exc)
    return str(exc)
