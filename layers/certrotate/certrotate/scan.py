"""The scan use case: every IAM server certificate's days to expiry, rotations for the managed ones that
are due, and the retirements that rotations left pending."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from certrotate import planning, renewal_time, scan_index
from certrotate.claims import ClaimVerifier, believe
from certrotate.config import TrustRoots
from certrotate.errors import RegionDiscoveryFailed, ValidationFailed
from certrotate.model import EndpointSurvey, ServerCertificate
from certrotate.names import RENEWAL_TAG, EventType
from certrotate.ports import (
    CertificateStore,
    Clock,
    Endpoints,
    EventPublisher,
    ProgressRecords,
    RenewalInfoSource,
    RotationQueue,
    ScanIndexStore,
)
from certrotate.report.scan_result import ScanResult
from certrotate.validation import facts_of

logger = Logger(child=True)
RENEWAL_READERS = 8  # certificates read (and the CA asked) at once when their renewal time is learnt
RECHECK_CHUNK = 4 * RENEWAL_READERS  # the re-check sends the rotations of each chunk before asking the next
# What learning one certificate's renewal time gives: the schedule (None: not learnt), a note, its facts.
_Learnt = tuple[planning.RenewalSchedule | None, str | None, scan_index.CertificateFacts | None]


@dataclass(frozen=True, slots=True)
class ScanSettings:
    renew_before_days: int | None
    lease_seconds: int
    grace_seconds: int
    account_id: str | None = None  # with MANAGED_ACCOUNTS: the account scanned, named in every message
    # The roots a replacement must chain to for a claim about it to hold (None: no claim holds).
    trust_roots: TrustRoots | None = None
    # Settings.hold_context: whether a deterministic refusal's inputs changed (which releases its hold)
    hold_context: str = ""


class ScanService:
    def __init__(
        self,
        *,
        store: CertificateStore,
        endpoints: Endpoints,
        queue: RotationQueue | None,
        events: EventPublisher,
        clock: Clock,
        settings: ScanSettings,
        renewal_info: Callable[[], RenewalInfoSource] | None = None,
        random_fraction: Callable[[], float] = random.random,
        index: ScanIndexStore | None = None,
        progress: ProgressRecords | None = None,
    ) -> None:
        self._index = index  # None: no index, every tag read on every scan
        # None (no lease table): no progress record to read, so no bookkeeping claim can be proven.
        self._claims = (
            ClaimVerifier(store=store, progress=progress, trust_roots=settings.trust_roots, clock=clock)
            if progress is not None
            else None
        )
        self._renewal_info_factory = renewal_info
        self._random_fraction = random_fraction
        self._store = store
        self._endpoints = endpoints
        self._queue = queue
        self._events = events
        self._clock = clock
        self._settings = settings

    def scan(
        self,
        *,
        dry_run: bool,
        correlation_id: str | None = None,
        refresh_tags: bool = False,
        learn_until: float | None = None,
    ) -> ScanResult:
        """`learn_until` (a Clock.monotonic() value): no renewal time is learnt after it; the rest are learnt
        by the next scans (meanwhile the lifetime rule decides for them), so that a first scan of a large
        account ends within the Lambda timeout and writes its index."""
        now = self._clock.now()
        listed = self._store.list_certificates()
        notes: list[str] = []
        kept = self._load_index(notes)
        certificates, fresh = self._tags_where_needed(listed, kept, now, read_all=refresh_tags)
        facts = {cid: entry.facts for cid, entry in kept.items() if entry.facts is not None}
        certificates = self._learn_renewal_times(
            certificates, facts, now, notes, write=not dry_run, learn_until=learn_until
        )
        certificates = self._read_newly_due(certificates, fresh, facts, now)
        read = certificates  # as read: what the index keeps (the claims' proof is not cached)
        # From here on, a certificate is replaced only as far as its own progress record proves it.
        certificates, untrusted, adoptable = self._verify_claims(certificates, notes)
        plan = planning.plan_scan(
            certificates,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            lease_seconds=self._settings.lease_seconds,
            not_before=_not_before_by_name(certificates, facts),
            hold_context=self._settings.hold_context,
        )
        if adoptable:  # left by a rotation started before progress records: an operator adopts it (force)
            plan = replace(plan, to_enqueue=tuple(c for c in plan.to_enqueue if c.name not in adoptable))
        for cert, problem in plan.unplanned:
            notes.append(f"{cert.name}: not planned ({problem}); the other certificates were")
            logger.warning(
                "a certificate could not be planned", extra={"certificate_name": cert.name, "error": problem}
            )
        used, quota = self._store.room()
        result = ScanResult(
            scanned=len(certificates),
            managed=len(certificates) - len(plan.unmanaged),
            expiring=[c.name for c in plan.expiring],
            enqueued=[],
            held_back=[c.name for c in plan.held_back],
            held=[
                {
                    "certificate_name": h.certificate.name,
                    "until": h.until.isoformat(),
                    "reason": h.reason,
                    "permanent": h.permanent,
                    "failures": h.certificate.failures,
                }
                for h in plan.held
            ]
            + [
                {
                    "certificate_name": c.name,
                    "until": None,  # until an operator rotates it with force
                    "reason": planning.rollback_hold(c),
                    "permanent": True,
                    "failures": c.failures,
                    "rolled_back": True,
                }
                for c in plan.rolled_back
            ],
            pending_retirement=[c.name for c in plan.pending_retirement],
            retired=[],
            resumed=[],
            days_to_expiry={c.name: planning.days_to_expiry(c.expiration, now) for c in certificates},
            server_certificates=used,
            quota=quota,
            dry_run=dry_run,
            notes=notes,
            correlation_id=correlation_id or str(uuid.uuid4()),
            untrusted=untrusted,
        )
        if dry_run:
            return result
        # Rotations of certificates whose last search the index keeps go out at once: each checks those
        # endpoints itself. The search of every region waits for the rest (and for retirements) only.
        recorded = {
            c.certificate_id
            for c in (*plan.to_enqueue, *plan.stalled)
            if c.certificate_id in kept and planning.record_to_check(kept[c.certificate_id].served, now)
        }
        self._enqueue(plan, result, now, None, only=recorded)
        survey: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None = None
        try:
            survey = self._survey(plan, result, now, skip=recorded)
        finally:  # kept even when the search fails: the tags read need not be read again
            self._save_index(read, kept, fresh, facts, now, notes, survey)
        self._enqueue(plan, result, now, survey, skip=recorded)
        for sent, planned in ((result.enqueued, plan.to_enqueue), (result.resumed, plan.stalled)):
            order = {c.name: i for i, c in enumerate(planned)}
            sent.sort(key=lambda name: order.get(name, len(order)))
        self._complete_retirements(plan.pending_retirement, certificates, result, survey)
        return result

    def recheck_renewal_info(
        self, *, dry_run: bool, correlation_id: str | None = None, learn_until: float | None = None
    ) -> ScanResult:
        """The renewal-info re-check (`{"renewal_info_only": true}`, on its own schedule): from the scan index
        alone (one GetItem; no listing, no tag read), ask the CA again about each managed certificate whose
        last answer's Retry-After has passed, and send a rotation for each that the answer makes due and that
        was not due before (a window moved into the past: what a CA does before it revokes). O(due) AWS calls:
        the index read and write and the sends, no IAM call (the answer is kept in the index, not in a tag:
        each rotation sent asks the CA itself, `ask_ca`); the search of every region only for due certificates
        whose last search the index does not keep usable. The rotations are sent a chunk at a time, as the
        answers come in. Everything else (certificates not in the index, retirements, resumes, metrics) is the
        scheduled scan's. A rotation decides again from the certificate's own tags, read afresh, and the CA's
        answer before any order: this sends on the index's tags plus the answer just learnt."""
        now = self._clock.now()
        notes: list[str] = []
        result = ScanResult.empty(
            dry_run=dry_run, correlation_id=correlation_id or str(uuid.uuid4()), notes=notes
        )
        kept = self._load_index(notes)
        if not kept:
            notes.append("no scan index: the scheduled scan decides")
            return result
        floor = self._settings.renew_before_days
        certificates = [_from_index(cid, entry) for cid, entry in kept.items() if entry.listed is not None]
        result.scanned = len(certificates)
        result.managed = sum(1 for c in certificates if c.managed)
        facts = {cid: entry.facts for cid, entry in kept.items() if entry.facts is not None}

        def not_before(cert: ServerCertificate) -> datetime | None:
            known = facts.get(cert.certificate_id)
            return known.not_before if known else None

        was_due = {c.certificate_id for c in certificates if planning.is_due(c, now, floor, not_before(c))}
        wanted = [c for c in certificates if planning.needs_renewal_info(c, now, floor)]
        notes.append(f"asked the CA about {len(wanted)} certificate(s) whose Retry-After has passed")
        learnt: dict[str, ServerCertificate] = {}
        unrecorded: list[ServerCertificate] = []
        for start in range(0, len(wanted), RECHECK_CHUNK):
            chunk = wanted[start : start + RECHECK_CHUNK]
            # No renewal tag is written (no IAM call): the index keeps the answer, and each rotation sent asks
            # the CA itself (`ask_ca`) before it orders.
            for cert in self._learn_renewal_times(
                chunk, facts, now, notes, write=False, learn_until=learn_until
            ):
                learnt[cert.certificate_id] = cert
            newly = [
                learnt[c.certificate_id]
                for c in chunk
                if c.certificate_id not in was_due
                and planning.is_due(learnt[c.certificate_id], now, floor, not_before(c))
            ]
            plan = planning.plan_scan(
                newly,
                now=now,
                renew_before_days=floor,
                lease_seconds=self._settings.lease_seconds,
                not_before=_not_before_by_name(newly, facts),
            )
            result.expiring.extend(c.name for c in plan.expiring)
            result.held_back.extend(c.name for c in plan.held_back)
            result.days_to_expiry.update({c.name: planning.days_to_expiry(c.expiration, now) for c in newly})
            recorded = {
                c.certificate_id
                for c in plan.to_enqueue
                if planning.record_to_check(kept[c.certificate_id].served, now)
            }
            unrecorded.extend(c for c in plan.to_enqueue if c.certificate_id not in recorded)
            if not dry_run:
                self._enqueue(plan, result, now, None, only=recorded, ask_ca=True)
        if dry_run:
            return result
        survey: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None = None
        rest = planning.plan_scan(
            unrecorded,
            now=now,
            renew_before_days=floor,
            lease_seconds=self._settings.lease_seconds,
            not_before=_not_before_by_name(unrecorded, facts),
        )
        try:
            survey = self._survey(rest, result, now, skip=frozenset())
        finally:
            entries = dict(kept)
            for cid, cert in learnt.items():
                entries[cid] = replace(kept[cid], tags=scan_index.kept_tags(cert.tags), facts=facts.get(cid))
            if isinstance(survey, tuple) and not survey[0].unsearched:
                for cid, entry in entries.items():
                    if entry.listed is not None and entry.tags and _from_index(cid, entry).managed:
                        found = planning.known_endpoints(survey[0], entry.listed.arn, cid, survey[1])
                        entries[cid] = replace(entry, served=_located(found))
            self._write_index(entries, kept, now, notes)
        self._enqueue(rest, result, now, survey, ask_ca=True)
        return result

    def _survey(
        self, plan: planning.ScanPlan, result: ScanResult, now: datetime, skip: set[str] | frozenset[str]
    ) -> tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None:
        """One search of every region and CloudFront, when anything needs it: it tells each rotation sent
        where its certificate is served (so rotations need not search: O(1) ELB calls each instead of 2L),
        and it is the check before retirements (never one search per certificate). Not for the rotations
        whose certificates' IDs are in `skip` (sent already: the index's record of the last search)."""
        unrecorded = [c for c in (*plan.to_enqueue, *plan.stalled) if c.certificate_id not in skip]
        wanted = bool(unrecorded) and self._queue is not None
        wanted = wanted or any(self._retirement_due(c, now) for c in plan.pending_retirement)
        if not wanted:
            return None
        seen_at = self._clock.now()  # the search's start: the index is at least this fresh
        try:
            survey = self._endpoints.discover(include_cloudfront=True)
        except RegionDiscoveryFailed as exc:
            return exc
        for unsearched in survey.unsearched:
            result.notes.append(f"not searched: {unsearched}")
        return survey, seen_at

    def _retirement_due(self, cert: ServerCertificate, now: datetime) -> bool:
        decision = planning.decide_retirement(cert, [], now=now, grace_seconds=self._settings.grace_seconds)
        return decision.verdict is planning.RetirementVerdict.DELETE

    def _verify_claims(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> tuple[list[ServerCertificate], list[dict[str, Any]], set[str]]:
        """Each managed certificate tagged as replaced, as far as its claim is proven (claims.py): proven,
        it is pending retirement or a rotation to resume, served since when its record says; not proven, the
        claim is reported (`untrusted`, a note, a WARNING) and the certificate is treated as not replaced,
        so nothing is resumed, repointed or retired on it. Returns the certificates, the reports and the
        names whose claim only `force` may adopt (not sent: the rotation would refuse them too)."""
        names = {c.name for c in certificates}
        trusted: list[ServerCertificate] = []
        untrusted: list[dict[str, Any]] = []
        adoptable: set[str] = set()
        for cert in certificates:
            # The name certrotate gives a replacement counts only beside a tag's claim: an untagged
            # certificate is never replaced on a name alone (a rotation adopts such an upload only by force).
            tagged = any(tag in cert.tags for tag in planning.BOOKKEEPING_TAGS)
            listed = tagged and planning.replacement_name(cert.name, cert.certificate_id) in names
            believed = believe(self._claims, cert, replacement_listed=listed)
            trusted.append(believed.view)
            for report in believed.unproven:
                untrusted.append(report.as_dict())
                claim = f"the claim that {report.claimed} replaces it is not proven"
                notes.append(f"{cert.name}: {claim} ({report.reason})")
                logger.warning(
                    "a claim that is not proven is reported and ignored",
                    extra={
                        "certificate_name": cert.name,
                        "claimed_replacement": report.claimed,
                        "reason": report.reason,
                    },
                )
                if report.adoptable:
                    adoptable.add(cert.name)
        return trusted, untrusted, adoptable

    def _load_index(self, notes: list[str]) -> dict[str, scan_index.IndexEntry]:
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

    def _tags_where_needed(
        self,
        listed: Sequence[ServerCertificate],
        kept: dict[str, scan_index.IndexEntry],
        now: datetime,
        *,
        read_all: bool,
    ) -> tuple[list[ServerCertificate], set[str]]:
        """Every certificate with its tags: read afresh for those not in the index and those that could act
        now (planning.reason_to_read_tags), the kept ones otherwise (all afresh with `read_all`). Returns them
        and the IDs read afresh."""
        floor = self._settings.renew_before_days
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
            if read_all or _could_act_now(cert, now=now, renew_before_days=floor, not_before=not_before):
                to_read.append(cert)
        read = self._read_tags(to_read)
        # A replacement names the certificate it replaces: read that one afresh as well (a forced rotation
        # of a certificate that was not due marks it replaced).
        by_name = {c.name: c for c in listed}
        replaced = {
            by_name[name].certificate_id
            for name in (c.replaces for c in [*read.values(), *with_kept.values()])
            if name in by_name
        } - read.keys()
        read |= self._read_tags([c for c in listed if c.certificate_id in replaced])
        certificates = [read.get(c.certificate_id) or with_kept[c.certificate_id] for c in listed]
        return certificates, set(read)

    def _read_newly_due(
        self,
        certificates: list[ServerCertificate],
        fresh: set[str],
        facts: dict[str, scan_index.CertificateFacts],
        now: datetime,
    ) -> list[ServerCertificate]:
        """A renewal time just learnt may make due a certificate whose kept tags were used (the CA moved its
        window earlier, before a revocation, say): read its tags afresh too, so that nothing is sent on kept
        tags. The renewal time just learnt stays (a dry run did not write it)."""
        floor = self._settings.renew_before_days

        def not_before(cert: ServerCertificate) -> datetime | None:
            known = facts.get(cert.certificate_id)
            return known.not_before if known else None

        late = [
            c
            for c in certificates
            if c.certificate_id not in fresh
            and _could_act_now(c, now=now, renew_before_days=floor, not_before=not_before(c))
        ]
        if not late:
            return certificates
        read = self._read_tags(late)
        fresh |= read.keys()
        updated: list[ServerCertificate] = []
        for cert in certificates:
            again = read.get(cert.certificate_id)
            if again is not None:
                learnt = cert.tags.get(RENEWAL_TAG)
                cert = again if learnt is None else replace(again, tags={**again.tags, RENEWAL_TAG: learnt})
            updated.append(cert)
        return updated

    def _read_tags(self, certificates: Sequence[ServerCertificate]) -> dict[str, ServerCertificate]:
        if not certificates:
            return {}
        tags = self._store.tags_of_many([c.name for c in certificates])
        return {c.certificate_id: replace(c, tags=tags[c.name]) for c in certificates}

    def _save_index(
        self,
        certificates: Sequence[ServerCertificate],
        kept: dict[str, scan_index.IndexEntry],
        fresh: set[str],
        facts: dict[str, scan_index.CertificateFacts],
        now: datetime,
        notes: list[str],
        survey: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None = None,
    ) -> None:
        """Keep every listed certificate's tags for the next scan, and for each managed one where this scan's
        search saw it served (when it searched every region; else the record kept); written only when
        something changed."""
        if self._index is None:
            return
        complete = survey if isinstance(survey, tuple) and not survey[0].unsearched else None
        entries: dict[str, scan_index.IndexEntry] = {}
        for cert in certificates:
            previous = kept.get(cert.certificate_id)
            read_at = now if cert.certificate_id in fresh or previous is None else previous.read_at
            served = previous.served if previous is not None else None
            if not cert.managed:
                served = None  # only a managed certificate is rotated
            elif complete is not None:
                served = _located(
                    planning.known_endpoints(complete[0], cert.arn, cert.certificate_id, complete[1])
                )
            entries[cert.certificate_id] = scan_index.IndexEntry(
                scan_index.kept_tags(cert.tags),
                read_at,
                facts.get(cert.certificate_id),
                served,
                scan_index.Listed(cert.name, cert.arn, cert.path, cert.expiration, cert.upload_date),
            )
        self._write_index(entries, kept, now, notes)

    def _write_index(
        self,
        entries: dict[str, scan_index.IndexEntry],
        kept: dict[str, scan_index.IndexEntry],
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

    def _learn_renewal_times(
        self,
        certificates: list[ServerCertificate],
        facts: dict[str, scan_index.CertificateFacts],
        now: datetime,
        notes: list[str],
        *,
        write: bool,
        learn_until: float | None = None,
    ) -> list[ServerCertificate]:
        """The renewal time of each managed certificate that has none yet, or whose last answer's Retry-After
        has passed: from the CA's ARI window when the CA offers ARI (RFC 9773), else from the certificate's
        lifetime. It is kept on the certificate (a tag, unless `write` is off: dry runs change nothing) when
        it changed, and in the scan index with when to ask again. The certificate itself (its ARI id and
        notBefore) is read once per certificate ID and kept in `facts` (updated here)."""
        floor = self._settings.renew_before_days
        wanted = [c for c in certificates if planning.needs_renewal_info(c, now, floor)]
        if not wanted:
            return certificates
        source: RenewalInfoSource | None = None
        unreachable: datetime | None = None  # when the CA could not be read: ask again soon
        if self._renewal_info_factory is not None:
            try:
                candidate = self._renewal_info_factory()  # built only now: acme is heavy to import
                source = candidate if candidate.offered() else None
            except Exception as error:  # the CA is unreachable: the lifetime rule until it answers again
                notes.append(f"could not read the ACME directory for renewal information: {error}")
                unreachable = now

        def learn(cert: ServerCertificate) -> _Learnt | None:
            if learn_until is not None and self._clock.monotonic() >= learn_until:
                return None  # out of time: the next scan learns it
            try:
                known = facts.get(cert.certificate_id)
                return self._renewal_time_of(cert, known, source, now, write, unreachable)
            except Exception as error:  # one certificate's oddity must not stop the others' scan
                logger.warning(
                    "renewal time not learnt", extra={"certificate_name": cert.name, "error": str(error)}
                )
                return None, f"{cert.name}: renewal time not learnt ({type(error).__name__}: {error})", None

        with ThreadPoolExecutor(max_workers=RENEWAL_READERS, thread_name_prefix="renewal") as pool:
            learnt = dict(zip((c.certificate_id for c in wanted), pool.map(learn, wanted), strict=True))
        postponed = sum(1 for outcome in learnt.values() if outcome is None)
        if postponed:
            notes.append(
                f"{postponed} renewal time(s) left for the next scan (out of time); the lifetime rule "
                "decides for them meanwhile"
            )
            logger.warning("renewal times left for the next scan", extra={"postponed": postponed})
        updated: list[ServerCertificate] = []
        for cert in certificates:
            outcome = learnt.get(cert.certificate_id)
            if outcome is not None:
                schedule, note, known = outcome
                if note:
                    notes.append(note)
                if known is not None:
                    facts[cert.certificate_id] = known
                if schedule is not None:
                    cert = replace(cert, tags={**cert.tags, RENEWAL_TAG: schedule.tag_value()})
            updated.append(cert)
        return updated

    def _facts_of(
        self, cert: ServerCertificate, now: datetime
    ) -> tuple[scan_index.CertificateFacts | None, str | None]:
        stored = self._store.get(cert.name)
        if stored is None:
            return None, None
        try:
            read = facts_of(stored.body_pem)
        except ValidationFailed as error:
            return None, f"{cert.name}: {error}"
        return scan_index.CertificateFacts(read.not_before or cert.upload_date or now, read.ari_id), None

    def _renewal_time_of(
        self,
        cert: ServerCertificate,
        known: scan_index.CertificateFacts | None,
        source: RenewalInfoSource | None,
        now: datetime,
        write: bool,
        unreachable: datetime | None,
    ) -> _Learnt:
        if known is None:
            known, problem = self._facts_of(cert, now)
            if known is None:
                return None, problem, None
        learnt = renewal_time.learn(
            cert.name,
            kept_tag=cert.tags.get(RENEWAL_TAG),
            not_before=known.not_before,
            not_after=cert.expiration,
            ari_id=known.ari_id,
            source=source,
            now=now,
            random_fraction=self._random_fraction(),
            unreachable_since=unreachable,
        )
        note = learnt.note
        if write and learnt.changed:
            try:
                self._store.tag(cert.name, {RENEWAL_TAG: learnt.schedule.tag_value()})
            except Exception as error:  # one certificate's tag is a cache (the index keeps the time): go on
                # E.g. AccessDenied: the policy writes only on managed certificates, and the index's view of
                # this one's tags is older than an operator's opt-out. The next read of its tags says so.
                refused = f"{cert.name}: renewal time not written: {error}"
                note = f"{note}; {refused}" if note else refused
                logger.warning("renewal time not written", extra={"certificate_name": cert.name})
        return learnt.schedule, note, known

    def _group(self, name: str) -> str:
        """Message group (one per certificate) and deduplication key: `<account>:<name>` with many accounts,
        so that certificates of one name in two accounts are two groups."""
        account = self._settings.account_id
        if account is None:
            return name
        key = f"{account}:{name}"  # a group id holds at most 128 characters, as a name does
        return key if len(key) <= 128 else f"{account}:{hashlib.sha256(name.encode()).hexdigest()}"

    def _scoped(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self._settings.account_id
        return body if account is None else {**body, "account_id": account}

    def _enqueue(
        self,
        plan: planning.ScanPlan,
        result: ScanResult,
        now: datetime,
        survey: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None,
        *,
        only: set[str] | None = None,
        skip: set[str] | frozenset[str] = frozenset(),
        ask_ca: bool = False,
    ) -> None:
        """Send the plan's rotations and resumes: those whose certificate IDs are in `only` (when given), but
        for those in `skip`; each message with where `survey` saw the certificate served, if it searched, and
        with `ask_ca` (the renewal-info re-check's: the rotation asks the CA's window itself)."""

        def wanted(cert: ServerCertificate) -> bool:
            return (only is None or cert.certificate_id in only) and cert.certificate_id not in skip

        to_enqueue = [c for c in plan.to_enqueue if wanted(c)]
        stalled = [c for c in plan.stalled if wanted(c)]
        group, scoped = self._group, self._scoped
        messages: list[tuple[str, str, dict[str, Any]]] = []
        for cert in to_enqueue:
            body: dict[str, Any] = {
                "certificate_name": cert.name,
                "reason": "expiring",
                "days_to_expiry": result.days_to_expiry[cert.name],
                "correlation_id": result.correlation_id,
            }
            if ask_ca:
                body |= {"reason": "renewal-info", "ask_ca": True}
            key = group(cert.name)
            messages.append(
                (key, planning.deduplication_id(key, now), scoped(_with_index(body, cert, survey)))
            )
        for cert in stalled:
            # A rotation died after uploading the replacement and its retries ran out: finish it.
            body = {
                "certificate_name": cert.name,
                "reason": "resume",
                "correlation_id": result.correlation_id,
            }
            key = group(cert.name)
            messages.append(
                (key, planning.deduplication_id(key, now), scoped(_with_index(body, cert, survey)))
            )
        if not messages:
            return
        if self._queue is None:
            if "no rotation queue configured: nothing sent" not in result.notes:
                result.notes.append("no rotation queue configured: nothing sent")
            return
        sent = set(self._queue.send(messages))
        result.enqueued.extend(c.name for c in to_enqueue if group(c.name) in sent)
        result.resumed.extend(c.name for c in stalled if group(c.name) in sent)

    def _complete_retirements(
        self,
        pending: Sequence[ServerCertificate],
        certificates: Sequence[ServerCertificate],
        result: ScanResult,
        searched: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None,
    ) -> None:
        now = self._clock.now()
        grace = self._settings.grace_seconds
        due = [c for c in pending if self._retirement_due(c, now)]
        if not due:
            return
        by_name = {c.name: c for c in certificates}
        # One search of every region and CloudFront serves all the checks (never one per certificate).
        if isinstance(searched, RegionDiscoveryFailed) or searched is None:
            # Deleting waits; the scan's report and metrics do not.
            result.notes.append(f"retirements postponed: {searched or 'no search made'}")
            return
        survey, seen_at = searched
        still_served: list[tuple[str, str, dict[str, Any]]] = []
        for cert in due:
            replacement = by_name.get(cert.replaced_by or "")
            if replacement is None:
                result.notes.append(f"{cert.name}: its replacement {cert.replaced_by} does not exist: kept")
                continue
            decision = planning.decide_retirement_after_search(
                cert, replacement, survey, now=now, grace_seconds=grace
            )
            if decision.verdict is not planning.RetirementVerdict.DELETE:
                result.notes.append(f"{cert.name}: {decision.verdict.value}: {decision.reason}")
                known = planning.known_endpoints(survey, cert.arn, cert.certificate_id, seen_at)
                if decision.verdict is planning.RetirementVerdict.IN_USE and known and known.endpoints:
                    # Served where its rotation did not look (attached after the search it was given):
                    # send a rotation to those endpoints. The certificate stays until none serves it.
                    body = {
                        "certificate_name": cert.name,
                        "reason": "resume",
                        "correlation_id": result.correlation_id,
                        "endpoints": known.as_message(),
                    }
                    key = self._group(cert.name)
                    still_served.append(
                        (key, planning.deduplication_id(key, now, "still-served"), self._scoped(body))
                    )
                continue
            if self._store.delete(cert.name):
                result.retired.append(cert.name)
                result.pending_retirement.remove(cert.name)
                self._events.publish(
                    EventType.CERTIFICATE_RETIRED,
                    {
                        "certificate_name": cert.name,
                        "replaced_by": cert.replaced_by,
                        "correlation_id": result.correlation_id,
                    },
                )
            else:
                result.notes.append(f"{cert.name}: IAM reports it is still in use (DeleteConflict)")
        if still_served and self._queue is not None:
            sent = set(self._queue.send(still_served))
            result.resumed.extend(
                str(body["certificate_name"]) for key, _, body in still_served if key in sent
            )


def _with_index(
    body: dict[str, Any],
    cert: ServerCertificate,
    survey: tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None,
) -> dict[str, Any]:
    """The message, with where the scan's search saw the certificate served (when it searched everywhere)."""
    if survey is None or isinstance(survey, RegionDiscoveryFailed):
        return body
    known = planning.known_endpoints(survey[0], cert.arn, cert.certificate_id, survey[1])
    return body if known is None else {**body, "endpoints": known.as_message()}


def _not_before_by_name(
    certificates: list[ServerCertificate], facts: dict[str, scan_index.CertificateFacts]
) -> dict[str, datetime]:
    """For the lifetime rule of certificates whose renewal time is not learnt (out of time, an unreadable
    body): the notBefore read once, else the upload date (never earlier than issuance, so never too early)."""
    known: dict[str, datetime] = {}
    for cert in certificates:
        read = facts.get(cert.certificate_id)
        if read is not None:
            known[cert.name] = read.not_before
        elif cert.upload_date is not None:
            known[cert.name] = cert.upload_date
    return known


def _could_act_now(
    cert: ServerCertificate, *, now: datetime, renew_before_days: int | None, not_before: datetime | None
) -> bool:
    """planning.could_act_now, where anything unexpected in the kept tags means "read them afresh"."""
    try:
        return planning.could_act_now(
            cert, now=now, renew_before_days=renew_before_days, not_before=not_before
        )
    except Exception:
        return True


def _located(known: planning.KnownEndpoints | None) -> planning.KnownEndpoints | None:
    """Where, without what it served then: the record keeps places to look (each is read before use)."""
    if known is None:
        return None
    return planning.KnownEndpoints(
        tuple(
            planning.endpoint_from_message(e.kind.value, e.region, e.resource_id, e.load_balancer)
            for e in known.endpoints
        ),
        known.seen_at,
    )


def _from_index(certificate_id: str, entry: scan_index.IndexEntry) -> ServerCertificate:
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
