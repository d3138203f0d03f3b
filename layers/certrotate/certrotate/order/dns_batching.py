"""Cross-certificate batching of DNS-01 values: rotations running at the same time (each in its own Lambda
invocation) that answer challenges in one hosted zone share one Route 53 change and one stream of GetChange
polls, instead of a change, a poll stream and a removal each. Route 53 takes 5 requests per second per
account: at fleet scale (a CA's revocation drill, docs/performance.md section 6) one change per certificate
was where the time went.

How (the lease table through ports.DnsBatches, adapters/lease_table/dns_batches.py):
- **At once when alone, paced when not.** A rotation about to publish (or remove) its values joins the zone's
  open batch, or opens one. A batch closes GATHER_SECONDS after the zone's previous batch closed, or at once
  when that is longer ago: a lone rotation (or the first of a burst) publishes without waiting for company;
  under load the zone gets one change per GATHER_SECONDS, carrying whoever came meanwhile.
- **One change for the batch.** Its publisher (the rotation that opened it) closes it (DynamoDB returns
  exactly the entries that joined before), writes every member's values in one `ChangeResourceRecordSets`
  (more when Route 53's limits on one change require: adapters/aws/route53.py), with the same
  compare-and-swap of each shared set as a lone rotation (the values of others, certrotate's or not, never
  removed), polls `GetChange` until INSYNC, and says so in the batch's status item.
- **Members wait on DynamoDB, not Route 53**: they read the status item until the values are INSYNC.
- **Removal is batched likewise**, in the same batches: one change adds some members' values and removes
  others'. A member removing waits only until Route 53 took the change. A publisher that only removes does not
  wait for the others' values to be INSYNC either: it says which changes to poll, and one of the members
  adding values polls them (any other takes over if that one falls silent).

Crash safety, first:
- Every member writes its values in its own `#challenges:<lease key>` record (challenge_records.py) before it
  joins: whoever publishes them, a rerun of the member removes exactly its own.
- A publisher that says nothing by the batch's give-up time (its close, GATHER + STATUS_GRACE), or falls
  silent for HEARTBEAT_STALE before Route 53 took the change, is given up on: a member then marks the status
  `abandoned` and publishes (or removes) its own values as a lone rotation does; the compare-and-swap finds
  values already there and changes nothing of anyone else's. The status item is created once, by the
  publisher or by a member giving up, whichever is first: a publisher given up on before it began publishes
  its own values only. Once the change is taken, a silent poller is replaced by another member.
- A publisher also records the other members' values in its own `#challenges` record before it publishes
  them, and forgets them once Route 53 took the change before any member gave up. So a change that lands
  late (a publisher stalled, its members gave up, published, validated and removed their values meanwhile)
  adds nothing that no record names: the publisher's next run removes what it left.
- The status item names the members whose values the publisher publishes (what its close returned): a
  member not named acts alone, with a warning, whatever the state says (its join and the close should rule
  this out; a devstack whose DynamoDB was not atomic once made it happen).
- Nothing waits unbounded: a member waits at most until the give-up time, then HEARTBEAT_STALE after the
  latest sign of life of the publisher (or poller), and never past its own deadline.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from aws_lambda_powertools import Logger

from certrotate.errors import CertRotateError
from certrotate.model import DnsRecord
from certrotate.ports import BatchEntry, BatchStatus, BatchTicket, ChallengeRecords, DnsBatches, DnsChanges

logger = Logger(child=True)

# At most one batch per zone this often (seconds): under load, a batch gathers whoever comes for this long
# after the previous one closed; alone, a rotation publishes at once. docs/performance.md section 6 measured
# it: each change costs Route 53 a CREATE and its GetChange polls from the account's 5 requests per second.
GATHER_SECONDS = 1.0
# After the close time, how long members wait for the publisher's first word (it closes, then says so).
STATUS_GRACE = 3.0
CLOCK_MARGIN = 1.0  # containers' clocks differ: a member gives up this much later than the publisher would
# A publisher (or poller) silent this long is given up on (a sign of life per GetChange, at most 5 s apart).
HEARTBEAT_STALE = 20.0
# Values in one batch: one change holds ~350-700 (adapters/aws/route53.py splits beyond), but every join's
# reply carries the whole batch (~25 KB at 200).
MAX_BATCH_VALUES = 200
POLL_SECONDS = 0.25  # members read the status item this often
REMOVE_WAIT = 60.0  # a removal has no caller deadline
JOIN_ATTEMPTS = 3  # join, open, join again: a batch opened by another meanwhile
# A member's id (random hex, 64 bits): the status item names the members published, and members read it 4
# times a second; 200 of them keep it under 4 KB (one read unit).
MEMBER_ID_CHARS = 16


class DnsBatcher:
    """Implements ports.DnsBatching: a rotation's DNS-01 values (`owner`: its certificate, whose
    `#challenges` record names them already) published and removed through the zone's batch when there is
    company, alone otherwise."""

    def __init__(
        self,
        dns: DnsChanges,
        batches: DnsBatches,
        records: ChallengeRecords | None = None,
        *,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._dns = dns
        self._batches = batches
        self._records = records
        self._now = now
        self._monotonic = monotonic
        self._sleep = sleep

    def publish(self, owner: str, records: Sequence[DnsRecord], *, deadline: float) -> None:
        """Return once the values are INSYNC (Route 53's word), published in a batch or alone."""
        for zone_id, zone_records in _by_zone(records).items():
            self._zone(owner, zone_id, zone_records, adding=True, deadline=deadline)

    def remove(self, owner: str, records: Sequence[DnsRecord]) -> None:
        """Remove the values (ours), in a batch or alone; raises when some could not be removed (they stay
        recorded)."""
        deadline = self._monotonic() + REMOVE_WAIT
        problems: list[str] = []
        for zone_id, zone_records in _by_zone(records).items():
            try:  # zone by zone: one zone's trouble must not leave the others' values behind
                self._zone(owner, zone_id, zone_records, adding=False, deadline=deadline)
            except Exception as exc:
                problems.append(str(exc))
        if problems:
            raise CertRotateError("; ".join(problems))

    # -- one zone ----------------------------------------------------------------------------------------

    def _zone(
        self, owner: str, zone_id: str, records: list[DnsRecord], *, adding: bool, deadline: float
    ) -> None:
        member = uuid.uuid4().hex[:MEMBER_ID_CHARS]
        try:
            ticket = self._enter(zone_id, member, _entries(records, adding=adding))
        except Exception as exc:  # the table's trouble: alone, as a lone rotation does
            logger.warning("could not join the zone's DNS-01 batch", extra={"error": str(exc)})
            ticket = None
        if ticket is None:
            self._alone(records, adding=adding, deadline=deadline)
        elif ticket.publisher:
            self._publish(owner, zone_id, member, ticket, records, adding=adding, deadline=deadline)
        elif not self._awaited(zone_id, member, ticket, adding=adding, deadline=deadline):
            self._alone(records, adding=adding, deadline=deadline)  # given up on the publisher

    def _alone(self, records: list[DnsRecord], *, adding: bool, deadline: float) -> None:
        if adding:
            self._dns.publish(records, deadline=deadline)
        else:
            self._dns.remove(records)

    def _enter(self, zone_id: str, member: str, entries: list[BatchEntry]) -> BatchTicket | None:
        """The zone's open batch joined, or a new one opened (None: every batch full, or too many races)."""
        for _attempt in range(JOIN_ATTEMPTS):
            ticket = self._batches.join(zone_id, member, entries, room=MAX_BATCH_VALUES)
            if ticket is not None:
                return ticket
            ticket = self._batches.open(zone_id, member, entries, gather=GATHER_SECONDS, grace=STATUS_GRACE)
            if ticket is not None:
                return ticket
        return None

    # -- the publisher -----------------------------------------------------------------------------------

    def _publish(
        self,
        owner: str,
        zone_id: str,
        member: str,
        ticket: BatchTicket,
        own: list[DnsRecord],
        *,
        adding: bool,
        deadline: float,
    ) -> None:
        """Gather (only when the zone's previous batch closed less than GATHER_SECONDS ago), close, publish
        everyone's values, say how it went; our own values done whatever became of the batch."""
        batch = ticket.batch_id
        wait = min(ticket.close_at - self._now(), deadline - self._monotonic())
        if wait > 0:
            self._sleep(wait)
        try:
            members = self._batches.close(zone_id, batch)
        except Exception as exc:  # its members give up on it in time and act alone
            logger.warning("could not close the DNS-01 batch", extra={"error": str(exc)})
            members = None
        if (
            members is None
            or not (set(members) - {member})
            or not self._batches.begin(zone_id, batch, sorted(members))
        ):
            # Alone after all; too late (its members gave up and act alone); or given up on before it began.
            self._alone(own, adding=adding, deadline=deadline)
            return
        entries = [entry for joined in members.values() for entry in joined]
        others_adding = [e.record for m, joined in members.items() if m != member for e in joined if e.adding]
        logger.info(
            "publishing a batch of DNS-01 values",
            extra={"zone_id": zone_id, "members": len(members), "values": len(entries)},
        )
        try:
            if others_adding and self._records is not None:
                # Before they are published: a change that lands after its members gave up is still recorded.
                self._records.record(owner, others_adding)
            change_ids = self._dns.submit(
                [e.record for e in entries if e.adding],
                [e.record for e in entries if not e.adding],
                deadline=deadline,
            )
        except Exception as exc:
            # Not recorded (the table's trouble), refused (one member's set may be what Route 53 refuses) or
            # out of retries: everyone alone, each order safe.
            logger.warning("the DNS-01 batch's change failed", extra={"error": str(exc)})
            if self._say(zone_id, batch, "failed", after="publishing"):
                self._forget(owner, others_adding)
            self._alone(own, adding=adding, deadline=deadline)
            return
        # Whoever adds values waits for them to be INSYNC: this publisher polls if it adds values itself;
        # if it only removes, its part is done and a member that adds takes the polling on.
        taken = self._submitted(zone_id, batch, change_ids, member if adding else None)
        if taken:
            self._forget(owner, others_adding)
        if not adding:
            return
        if not taken:  # its members gave up on it (and publish theirs): our own values are in the change
            self._dns.wait_in_sync(change_ids, deadline=deadline)
            return
        self._poll(zone_id, batch, member, change_ids, deadline)

    def _submitted(self, zone_id: str, batch: str, change_ids: list[str], poller: str | None) -> bool:
        try:
            return self._batches.submitted(zone_id, batch, change_ids, poller)
        except Exception as exc:  # its members give up in time and publish theirs: it stays recorded
            logger.warning("could not record the DNS-01 batch's status", extra={"error": str(exc)})
            return False

    def _poll(
        self, zone_id: str, batch: str, member: str, change_ids: Sequence[str], deadline: float
    ) -> None:
        """Poll the batch's changes until INSYNC (for everyone), with a sign of life at each GetChange."""
        try:
            self._dns.wait_in_sync(
                change_ids, deadline=deadline, polled=lambda: self._alive(zone_id, batch, member)
            )
        except Exception:
            self._say(zone_id, batch, "failed", after="submitted")
            raise
        self._say(zone_id, batch, "insync", after="submitted")

    def _alive(self, zone_id: str, batch: str, member: str) -> None:
        try:
            self._batches.alive(zone_id, batch, member)
        except Exception as exc:  # a missed sign of life: at worst a member takes the polling on
            logger.warning("could not record a sign of life", extra={"error": str(exc)})

    def _forget(self, owner: str, others_adding: list[DnsRecord]) -> None:
        """Route 53 took (or refused) the batch's change before any member gave up on it: no change of it can
        land after a member removed its values, and the members' own records name theirs."""
        if others_adding and self._records is not None:
            try:
                self._records.forget(owner, others_adding)
            except Exception as exc:  # left recorded: the owner's next run removes what is still there
                logger.warning("could not forget the batch's values", extra={"error": str(exc)})

    def _say(self, zone_id: str, batch: str, state: str, *, after: str) -> bool:
        """The batch's status moved from `after` to `state` (False: a member gave up on it first, or the
        table did not answer: the members then act alone)."""
        try:
            return self._batches.advance(zone_id, batch, state, after=after)
        except Exception as exc:
            logger.warning("could not record the DNS-01 batch's status", extra={"error": str(exc)})
            return False

    # -- members -----------------------------------------------------------------------------------------

    def _awaited(
        self, zone_id: str, member: str, ticket: BatchTicket, *, adding: bool, deadline: float
    ) -> bool:
        """Wait for the batch's publisher; True when our part is done (INSYNC; a removal: taken by Route 53),
        False when we act alone (it failed, or we gave up on it)."""
        batch = ticket.batch_id
        while True:
            try:
                status = self._batches.status(zone_id, batch)
            except Exception as exc:
                logger.warning("could not read the DNS-01 batch's status", extra={"error": str(exc)})
                return False
            if status is not None and status.members is not None and member not in status.members:
                # The close did not return our entries, though the join was admitted: the change does not
                # carry our values. DynamoDB rules this out (a join and the close are atomic); a devstack
                # whose ReturnValues were not did it once (docs/performance.md 6d). Never "INSYNC" then.
                logger.warning(
                    "the DNS-01 batch's publisher did not publish our values: publishing them alone",
                    extra={"zone_id": zone_id, "batch": batch},
                )
                return False
            if status is None or status.state == "publishing":
                if self._given_up(ticket, status) and self._abandon(zone_id, batch, status):
                    return False
            elif status.state == "insync" or (status.state == "submitted" and not adding):
                return True
            elif status.state == "submitted":
                silent = (
                    status.poller is None or self._now() - status.alive_at > HEARTBEAT_STALE + CLOCK_MARGIN
                )
                if silent and self._batches.claim(zone_id, batch, member, status):
                    try:
                        self._poll(zone_id, batch, member, status.change_ids, deadline)
                    except Exception as exc:
                        logger.warning(
                            "the DNS-01 batch's changes were not INSYNC", extra={"error": str(exc)}
                        )
                        return False
                    return True
            else:
                return False  # failed, or abandoned
            if self._monotonic() + POLL_SECONDS > deadline:
                return False  # no time to wait longer: alone (which raises if there is none left either)
            self._sleep(POLL_SECONDS)

    def _given_up(self, ticket: BatchTicket, status: BatchStatus | None) -> bool:
        now = self._now()
        if status is None:
            return now > ticket.give_up_at + CLOCK_MARGIN
        return now - status.alive_at > HEARTBEAT_STALE + CLOCK_MARGIN

    def _abandon(self, zone_id: str, batch: str, status: BatchStatus | None) -> bool:
        try:
            abandoned = self._batches.abandon(zone_id, batch, status)
        except Exception as exc:
            logger.warning("could not mark the DNS-01 batch abandoned", extra={"error": str(exc)})
            return True  # act alone anyway: the compare-and-swap keeps it safe
        if abandoned:
            logger.warning("gave up waiting for the DNS-01 batch's publisher", extra={"zone_id": zone_id})
        return abandoned


def _entries(records: Sequence[DnsRecord], *, adding: bool) -> list[BatchEntry]:
    return [
        BatchEntry(adding, DnsRecord(r.zone_id, r.name, (value,), r.ttl))
        for r in records
        for value in r.values
    ]


def _by_zone(records: Sequence[DnsRecord]) -> dict[str, list[DnsRecord]]:
    grouped: dict[str, list[DnsRecord]] = {}
    for record in records:
        grouped.setdefault(record.zone_id, []).append(record)
    return grouped
