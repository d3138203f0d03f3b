"""The scan index used for tags: whose tags a scan reads afresh (pure: reason_to_read_tags), and what it keeps
for the next scan (TagIndex: each listed certificate's certrotate tags, its facts, where it was served).

Without an index (no lease table, or a store it does not cover: ACM) every tag is read on every scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Logger

from certrotate.decide.renewal_time import lifetime_renewal_time
from certrotate.model import ServerCertificate, scan_index
from certrotate.model.certificates import RenewalSchedule
from certrotate.model.endpoints import KnownEndpoints, endpoint_from_message, known_endpoints
from certrotate.names import RENEWAL_TAG

if TYPE_CHECKING:
    from certrotate.model.scan_index import IndexedFacts, IndexEntry
    from certrotate.ports import ScanIndexStore
    from certrotate.scan.messages import Search

logger = Logger(child=True)
KEPT_TAG_PREFIX = "certrotate:"  # only certrotate's tags decide anything in a scan


class TagReader(Protocol):
    """A store's certificates with their tags read afresh, by certificate ID (one that cannot be read is left
    out, with a note)."""

    def read_tags(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> dict[str, ServerCertificate]: ...


def reason_to_read_tags(
    certificate: ServerCertificate,
    *,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None,
) -> str | None:
    """Why a scan must read this certificate's tags afresh rather than trust the copy it kept (the certificate
    carries the kept tags), or None: it could not act now whatever its tags say today.

    A certificate can act when a rotation could be sent for it or it could be retired: due by the operator's
    floor or the lifetime rule whatever the kept managed flag says (an operator may have opted it in or out
    since), due by its kept renewal time, a hold or Retry-After that has passed, or replaced (pending
    retirement, or a rotation to resume). Everything certrotate writes on a certificate (hold, Retry-After,
    replaced-by, served-since) it writes while that certificate is due, so those changes are read afresh too.
    `not_before` is the certificate's, when known (else its upload date stands in for it)."""

    if certificate.replaced_by:
        return "replaced: pending retirement"
    if certificate.expiration <= now:
        return "expired"
    for what, until in (("hold", certificate.held_until), ("retry-after", certificate.retry_after)):
        if until is not None and until <= now:
            return f"its {what} has passed"
    if certificate.held_inputs is not None:
        # Held until its inputs change: the operator's tags are among them, so they are read afresh.
        return "held until its inputs change"
    if renew_before_days is not None and certificate.expiration - timedelta(days=renew_before_days) <= now:
        return f"within RENEW_BEFORE_DAYS={renew_before_days}"
    schedule = RenewalSchedule.parse(certificate.tags.get(RENEWAL_TAG)) if certificate.managed else None
    if schedule is not None:  # the renewal time the scan learnt decides, as it does in renewal_due
        return "its renewal time has come" if schedule.renew_at <= now else None
    start = not_before or certificate.upload_date
    if start is not None and lifetime_renewal_time(start, certificate.expiration) <= now:
        return "due by the lifetime rule"
    return None


def could_act_now(
    certificate: ServerCertificate,
    *,
    now: datetime,
    renew_before_days: int | None,
    not_before: datetime | None,
) -> bool:
    return (
        reason_to_read_tags(certificate, now=now, renew_before_days=renew_before_days, not_before=not_before)
        is not None
    )


def kept_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags the index keeps: certrotate's own."""
    return {k: v for k, v in tags.items() if k.startswith(KEPT_TAG_PREFIX)}


def _could_act_now(
    cert: ServerCertificate, *, now: datetime, renew_before_days: int | None, not_before: datetime | None
) -> bool:
    """could_act_now, where anything unexpected in the kept tags means "read them afresh"."""
    try:
        return could_act_now(cert, now=now, renew_before_days=renew_before_days, not_before=not_before)
    except Exception:
        return True


def located(known: KnownEndpoints | None) -> KnownEndpoints | None:
    """Where, without what it served then: the record keeps places to look (each is read before use)."""

    if known is None:
        return None
    return KnownEndpoints(
        tuple(
            endpoint_from_message(e.kind.value, e.region, e.resource_id, e.load_balancer)
            for e in known.endpoints
        ),
        known.seen_at,
    )


def from_index(certificate_id: str, entry: IndexEntry) -> ServerCertificate:
    """The certificate as the index keeps it: as IAM listed it, with the tags last read."""
    listed = entry.listed
    assert listed is not None
    return ServerCertificate(
        listed.name,
        listed.arn,
        certificate_id,
        listed.path,
        listed.expiration,
        listed.upload_date,
        entry.tags,
    )


class TagIndex:
    """What the last scan kept (`store` None: nothing, every tag read afresh) and what this one keeps."""

    def __init__(self, store: ScanIndexStore | None, *, renew_before_days: int | None) -> None:
        self._index = store
        self._floor = renew_before_days

    def load(self, notes: list[str]) -> dict[str, IndexEntry]:
        """What the last scan kept; empty (every tag read afresh) when there is none or it is unreadable."""
        if self._index is None:
            return {}
        try:
            blob = self._index.load()
            return {} if blob is None else scan_index.decode(blob)
        except Exception as error:  # a cache: losing it costs reads, never a wrong decision
            notes.append(f"scan index not used ({error}): every certificate's tags read")
            logger.warning("scan index not used: every certificate's tags read", extra={"error": str(error)})
            return {}

    def where_needed(
        self,
        reader: TagReader,
        listed: Sequence[ServerCertificate],
        kept: dict[str, IndexEntry],
        now: datetime,
        notes: list[str],
        *,
        read_all: bool,
    ) -> tuple[list[ServerCertificate], set[str]]:
        """Every certificate with its tags: read afresh for those not in the index and those that could act
        now (reason_to_read_tags), the kept ones otherwise (all afresh with `read_all`). Returns them and the
        IDs read afresh (a certificate whose tags could not be read, and that the index does not keep, is
        left out)."""
        with_kept: dict[str, ServerCertificate] = {}
        to_read: list[ServerCertificate] = []
        for cert in listed:
            entry = kept.get(cert.certificate_id)
            if entry is None:
                to_read.append(cert)
                continue
            cert = replace(cert, tags=entry.tags)
            with_kept[cert.certificate_id] = cert
            not_before = entry.facts.not_before if entry.facts else None
            if read_all or _could_act_now(
                cert, now=now, renew_before_days=self._floor, not_before=not_before
            ):
                to_read.append(cert)
        read = reader.read_tags(to_read, notes) if to_read else {}
        # A replacement names the certificate it replaces: read that one afresh as well (a forced rotation
        # of a certificate that was not due marks it replaced).
        by_name = {c.name: c for c in listed}
        replaced = {
            by_name[name].certificate_id
            for name in (c.replaces for c in [*read.values(), *with_kept.values()])
            if name in by_name
        } - read.keys()
        again = [c for c in listed if c.certificate_id in replaced]
        read |= reader.read_tags(again, notes) if again else {}
        certificates = [
            found
            for c in listed
            if (found := read.get(c.certificate_id) or with_kept.get(c.certificate_id)) is not None
        ]
        return certificates, set(read)

    def newly_due(
        self,
        reader: TagReader,
        certificates: list[ServerCertificate],
        fresh: set[str],
        facts: dict[str, IndexedFacts],
        now: datetime,
        notes: list[str],
    ) -> list[ServerCertificate]:
        """A renewal time just learnt may make due a certificate whose kept tags were used (the CA moved its
        window earlier, before a revocation, say): read its tags afresh too, so that nothing is sent on kept
        tags. The renewal time just learnt stays (a dry run did not write it)."""

        def not_before(cert: ServerCertificate) -> datetime | None:
            known = facts.get(cert.certificate_id)
            return known.not_before if known else None

        late = [
            c
            for c in certificates
            if c.certificate_id not in fresh
            and _could_act_now(c, now=now, renew_before_days=self._floor, not_before=not_before(c))
        ]
        if not late:
            return certificates
        read = reader.read_tags(late, notes)
        fresh |= read.keys()
        updated: list[ServerCertificate] = []
        for cert in certificates:
            again = read.get(cert.certificate_id)
            if again is not None:
                learnt = cert.tags.get(RENEWAL_TAG)
                cert = again if learnt is None else replace(again, tags={**again.tags, RENEWAL_TAG: learnt})
            updated.append(cert)
        return updated

    def save(
        self,
        certificates: Sequence[ServerCertificate],
        kept: dict[str, IndexEntry],
        fresh: set[str],
        facts: dict[str, IndexedFacts],
        now: datetime,
        notes: list[str],
        survey: Search = None,
    ) -> None:
        """Keep every listed certificate's tags for the next scan, and for each managed one where this scan's
        search saw it served (when it searched every region; else the record kept); written only when
        something changed."""
        if self._index is None:
            return
        complete = survey if isinstance(survey, tuple) and not survey[0].unsearched else None
        entries: dict[str, IndexEntry] = {}
        for cert in certificates:
            previous = kept.get(cert.certificate_id)
            read_at = now if cert.certificate_id in fresh or previous is None else previous.read_at
            served = previous.served if previous is not None else None
            if not cert.managed:
                served = None  # only a managed certificate is rotated
            elif complete is not None:
                served = located(known_endpoints(complete[0], cert.arn, cert.certificate_id, complete[1]))
            entries[cert.certificate_id] = scan_index.IndexEntry(
                kept_tags(cert.tags),
                read_at,
                facts.get(cert.certificate_id),
                served,
                scan_index.Listed(cert.name, cert.arn, cert.path, cert.expiration, cert.upload_date),
            )
        self.write(entries, kept, now, notes)

    def write(
        self,
        entries: dict[str, IndexEntry],
        kept: dict[str, IndexEntry],
        now: datetime,
        notes: list[str],
    ) -> None:
        if self._index is None or entries == kept:
            return
        blob = scan_index.encode(entries, now)
        if len(blob) > scan_index.MAX_BYTES:
            # The endpoint records go first: without them rotations handed no endpoints search, as before.
            blob = scan_index.encode(entries, now, with_served=False)
            notes.append("scan index kept without its endpoint records: too large for a DynamoDB item")
        if len(blob) > scan_index.MAX_BYTES:
            # Then how IAM listed each one: without it the renewal-info re-check leaves those to the scan.
            blob = scan_index.encode(entries, now, with_served=False, with_listed=False)
            notes.append("scan index kept without the listing the renewal-info re-check needs: too large")
        if len(blob) > scan_index.MAX_BYTES:
            notes.append(f"scan index not saved: {len(blob)} bytes is more than a DynamoDB item holds")
            return
        try:
            self._index.save(blob)
        except Exception as error:  # the next scan reads more tags; this one's decisions stand
            notes.append(f"scan index not saved: {error}")
            logger.warning("scan index not saved", extra={"error": str(error)})
