"""The scan: for each store, list -> tags -> learn -> believe -> plan -> report -> enqueue; for a store that
renews beside the old certificate (IAM), one search of every region, the index kept, and the retirements that
rotations left pending."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from certrotate.decide.due import days_to_expiry
from certrotate.decide.holds import rollback_hold
from certrotate.errors import RegionDiscoveryFailed
from certrotate.model import ServerCertificate
from certrotate.model.endpoints import known_endpoints, record_to_check
from certrotate.names import EventType
from certrotate.ports import Clock, Endpoints, EventPublisher, RotationQueue
from certrotate.report.scan_result import ScanResult
from certrotate.retire.decision import RetirementVerdict, decide_retirement, decide_retirement_after_search
from certrotate.scan.learning import RenewalLearner, RenewalSubject
from certrotate.scan.messages import Enqueuer, Search, search
from certrotate.scan.plan import ScanPlan, plan_scan
from certrotate.scan.recheck import Recheck, not_before_by_name
from certrotate.scan.tags import TagIndex, TagReader
from certrotate.store.acm_listing import AcmListing
from certrotate.store.iam_listing import IamListing

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class ScanSettings:
    renew_before_days: int | None
    lease_seconds: int
    grace_seconds: int
    account_id: str | None = None  # with MANAGED_ACCOUNTS: the account scanned, named in every message
    # Settings.hold_context: whether a deterministic refusal's inputs changed (which releases its hold)
    hold_context: str = ""


def held_entries(plan: ScanPlan, subject_field: str) -> list[dict[str, Any]]:
    """The report's `held`: every managed certificate held back now, due or not, and why."""
    by_arn = subject_field == "certificate_arn"  # ACM's entries name the ARN under both keys
    return [
        {
            "certificate_name": h.certificate.name,
            **({"certificate_arn": h.certificate.name} if by_arn else {}),
            "until": h.until.isoformat(),
            "reason": h.reason,
            "permanent": h.permanent,
            "failures": h.certificate.failures,
        }
        for h in plan.held
    ] + [
        {
            "certificate_name": c.name,
            "until": None,  # until an operator rotates it with force
            "reason": rollback_hold(c),
            "permanent": True,
            "failures": c.failures,
            "rolled_back": True,
        }
        for c in plan.rolled_back
    ]


class Listing(TagReader, RenewalSubject, Protocol):
    """A store as the scan sweeps it (store/iam_listing, store/acm_listing)."""

    subject_field: str  # how a message and the report name a certificate: certificate_name, certificate_arn
    # Renewed beside the old certificate (IAM): the scan searches where each is served, keeps an index and
    # retires what rotations replaced. Else in place (ACM): none of those.
    beside: bool

    def list_certificates(self, notes: list[str]) -> list[ServerCertificate]: ...  # tags not read

    def believe(
        self, certificates: Sequence[ServerCertificate], notes: list[str]
    ) -> tuple[list[ServerCertificate], list[dict[str, Any]], set[str]]: ...

    def room(self) -> tuple[int, int] | None: ...  # (used, quota) of the store's certificates, if it has one


class Scan:
    def __init__(
        self,
        *,
        iam: IamListing,
        endpoints: Endpoints,
        queue: RotationQueue | None,
        events: EventPublisher,
        clock: Clock,
        settings: ScanSettings,
        learner: RenewalLearner,
        index: TagIndex,
        acm: AcmListing | None = None,
    ) -> None:
        self._iam = iam
        self._acm = acm  # None: IAM only
        self._endpoints = endpoints
        self._queue = queue
        self._events = events
        self._clock = clock
        self._settings = settings
        self._learner = learner
        self._index = index
        self._no_index = TagIndex(None, renew_before_days=settings.renew_before_days)
        self._enqueuer = Enqueuer(queue, account_id=settings.account_id)
        self._recheck = Recheck(
            subject=iam,
            index=index,
            learner=learner,
            enqueuer=self._enqueuer,
            survey=self._survey,
            clock=clock,
            renew_before_days=settings.renew_before_days,
            lease_seconds=settings.lease_seconds,
        )

    def scan(
        self,
        *,
        dry_run: bool,
        correlation_id: str | None = None,
        refresh_tags: bool = False,
        learn_until: float | None = None,
    ) -> ScanResult:
        """Every store, one after the other into one result: IAM server certificates, then ACM imported ones.
        `learn_until` (a Clock.monotonic() value): no IAM renewal time is learnt after it; the rest are learnt
        by the next scans (meanwhile the lifetime rule decides for them), so that a first scan of a large
        account ends within the Lambda timeout and writes its index."""
        result = ScanResult.empty(dry_run=dry_run, correlation_id=correlation_id or str(uuid.uuid4()))
        self._sweep(self._iam, self._index, result, refresh_tags=refresh_tags, learn_until=learn_until)
        if self._acm is not None:
            # ACM keeps no index (its `ask` is in its tag), and its learning is not bounded by learn_until.
            self._sweep(self._acm, self._no_index, result, refresh_tags=refresh_tags, learn_until=None)
        return result

    def _sweep(
        self,
        listing: Listing,
        index: TagIndex,
        result: ScanResult,
        *,
        refresh_tags: bool,
        learn_until: float | None,
    ) -> None:
        """One store into the result: list -> tags (read afresh where the index says they could act) -> learn
        -> believe (claims only as far as proven) -> plan -> report -> enqueue; for a store that renews
        beside the old certificate, one search of every region for the rotations the index cannot tell where
        to go, the index kept, and the retirements that rotations left pending."""
        now = self._clock.now()
        notes, dry_run = result.notes, result.dry_run
        listed = listing.list_certificates(notes)
        kept = index.load(notes)
        certificates, fresh = index.where_needed(listing, listed, kept, now, notes, read_all=refresh_tags)
        facts = {cid: entry.facts for cid, entry in kept.items() if entry.facts is not None}
        certificates = self._learner.learn(
            listing, certificates, facts, now, notes, write=not dry_run, learn_until=learn_until
        )
        certificates = index.newly_due(listing, certificates, fresh, facts, now, notes)
        read = certificates  # as read: what the index keeps (the claims' proof is not cached)
        # From here on, a certificate is replaced only as far as its own progress record proves it.
        certificates, untrusted, adoptable = listing.believe(certificates, notes)
        plan = self._plan(certificates, now, not_before_by_name(certificates, facts), notes)
        if adoptable:  # left by a rotation started before progress records: an operator adopts it (force)
            plan = replace(plan, to_enqueue=tuple(c for c in plan.to_enqueue if c.name not in adoptable))
        room = listing.room()
        _report(result, listing, listed, certificates, plan, untrusted, now, room)
        if dry_run:
            return
        # Rotations of certificates whose last search the index keeps go out at once: each checks those
        # endpoints itself. The search of every region waits for the rest (and for retirements) only.
        recorded = {
            c.certificate_id
            for c in (*plan.to_enqueue, *plan.stalled)
            if c.certificate_id in kept and record_to_check(kept[c.certificate_id].served, now)
        }
        enqueuer = Enqueuer(
            self._queue, account_id=self._settings.account_id, subject_field=listing.subject_field
        )
        sent_before = len(result.enqueued), len(result.resumed)
        enqueuer.send(plan, result, now, None, only=recorded)
        survey: Search = None
        try:
            survey = self._survey(plan, result, now, recorded) if listing.beside else None
        finally:  # kept even when the search fails: the tags read need not be read again
            index.save(read, kept, fresh, facts, now, notes, survey)
        enqueuer.send(plan, result, now, survey, skip=recorded)
        for sent, start, planned in (
            (result.enqueued, sent_before[0], plan.to_enqueue),
            (result.resumed, sent_before[1], plan.stalled),
        ):
            order = {c.name: i for i, c in enumerate(planned)}
            sent[start:] = sorted(sent[start:], key=lambda name: order.get(name, len(order)))
        if listing.beside:
            self._complete_retirements(plan.pending_retirement, certificates, result, survey)

    def _plan(
        self,
        certificates: list[ServerCertificate],
        now: datetime,
        not_before: dict[str, datetime],
        notes: list[str],
    ) -> ScanPlan:
        plan = plan_scan(
            certificates,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            lease_seconds=self._settings.lease_seconds,
            not_before=not_before,
            hold_context=self._settings.hold_context,
        )
        for cert, problem in plan.unplanned:
            notes.append(f"{cert.name}: not planned ({problem}); the other certificates were")
            logger.warning(
                "a certificate could not be planned", extra={"certificate_name": cert.name, "error": problem}
            )
        return plan

    def recheck_renewal_info(
        self, *, dry_run: bool, correlation_id: str | None = None, learn_until: float | None = None
    ) -> ScanResult:
        """The renewal-info re-check (scan/recheck.py), from this scan's index."""
        return self._recheck.run(dry_run=dry_run, correlation_id=correlation_id, learn_until=learn_until)

    def _survey(
        self, plan: ScanPlan, result: ScanResult, now: datetime, skip: set[str] | frozenset[str]
    ) -> Search:
        """One search of every region and CloudFront, when anything needs it: rotations to send (but those
        whose certificates' IDs are in `skip`: sent already on the index's record of the last search) or
        retirements due."""
        unrecorded = [c for c in (*plan.to_enqueue, *plan.stalled) if c.certificate_id not in skip]
        wanted = bool(unrecorded) and self._enqueuer.configured
        wanted = wanted or any(self._retirement_due(c, now) for c in plan.pending_retirement)
        if not wanted:
            return None
        return search(self._endpoints, self._clock, result)

    def _retirement_due(self, cert: ServerCertificate, now: datetime) -> bool:
        decision = decide_retirement(cert, [], now=now, grace_seconds=self._settings.grace_seconds)
        return decision.verdict is RetirementVerdict.DELETE

    def _complete_retirements(
        self,
        pending: Sequence[ServerCertificate],
        certificates: Sequence[ServerCertificate],
        result: ScanResult,
        searched: Search,
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
            decision = decide_retirement_after_search(cert, replacement, survey, now=now, grace_seconds=grace)
            if decision.verdict is not RetirementVerdict.DELETE:
                result.notes.append(f"{cert.name}: {decision.verdict.value}: {decision.reason}")
                known = known_endpoints(survey, cert.arn, cert.certificate_id, seen_at)
                if decision.verdict is RetirementVerdict.IN_USE and known and known.endpoints:
                    # Served where its rotation did not look (attached after the search it was given):
                    # send a rotation to those endpoints. The certificate stays until none serves it.
                    still_served.append(self._enqueuer.still_served(cert, known, result, now))
                continue
            if self._iam.delete(cert.name):
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
        self._enqueuer.send_still_served(still_served, result)


def _report(
    result: ScanResult,
    listing: Listing,
    listed: Sequence[ServerCertificate],
    certificates: Sequence[ServerCertificate],
    plan: ScanPlan,
    untrusted: list[dict[str, Any]],
    now: datetime,
    room: tuple[int, int] | None,
) -> None:
    """Adds one store's counts and lists to the scan's result: every listed certificate is scanned and has
    its days to expiry (under its name: the ARN for ACM), a managed one is counted only once its tags read."""
    result.scanned += len(listed)
    result.managed += len(certificates) - len(plan.unmanaged)
    result.expiring.extend(c.name for c in plan.expiring)
    result.held_back.extend(c.name for c in plan.held_back)
    result.held.extend(held_entries(plan, listing.subject_field))
    result.pending_retirement.extend(c.name for c in plan.pending_retirement)
    result.days_to_expiry.update({c.name: days_to_expiry(c.expiration, now) for c in listed})
    result.untrusted.extend(untrusted)
    if room is not None:
        result.server_certificates, result.quota = room
