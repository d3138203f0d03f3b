"""The scan: for each store, list -> tags -> learn -> believe -> plan -> report -> enqueue; for a store that
renews beside the old certificate (IAM), one search of every region, the index kept, and the retirements that
rotations left pending."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from certrotate import planning
from certrotate.config import TrustRoots
from certrotate.errors import RegionDiscoveryFailed
from certrotate.model import ServerCertificate
from certrotate.names import EventType
from certrotate.ports import Clock, Endpoints, EventPublisher, RotationQueue
from certrotate.report.scan_result import ScanResult
from certrotate.scan.learning import RenewalLearner
from certrotate.scan.messages import Enqueuer, Search, search
from certrotate.scan.plan import ScanPlan, plan_scan
from certrotate.scan.recheck import Recheck, not_before_by_name
from certrotate.scan.tags import TagIndex
from certrotate.store.acm_listing import AcmListing
from certrotate.store.iam_listing import IamListing

logger = Logger(child=True)


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
            "reason": planning.rollback_hold(c),
            "permanent": True,
            "failures": c.failures,
            "rolled_back": True,
        }
        for c in plan.rolled_back
    ]


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
        self._events = events
        self._clock = clock
        self._settings = settings
        self._learner = learner
        self._index = index
        self._enqueuer = Enqueuer(queue, account_id=settings.account_id)
        self._acm_enqueuer = Enqueuer(
            queue, account_id=settings.account_id, subject_field=AcmListing.subject_field
        )
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
        result = self._sweep_iam(
            dry_run=dry_run, correlation_id=correlation_id, refresh_tags=refresh_tags, learn_until=learn_until
        )
        if self._acm is not None:
            self._sweep_acm(self._acm, result, dry_run=dry_run)
        return result

    def _sweep_iam(
        self, *, dry_run: bool, correlation_id: str | None, refresh_tags: bool, learn_until: float | None
    ) -> ScanResult:
        """IAM: tags read where the index says they could act, claims believed only as far as proven, one
        search of every region for the rotations the index cannot tell where to go, the index kept, and the
        retirements that rotations left pending."""
        now = self._clock.now()
        notes: list[str] = []
        listed = self._iam.list_certificates(notes)
        kept = self._index.load(notes)
        certificates, fresh = self._index.where_needed(
            self._iam, listed, kept, now, notes, read_all=refresh_tags
        )
        facts = {cid: entry.facts for cid, entry in kept.items() if entry.facts is not None}
        certificates = self._learner.learn(
            self._iam, certificates, facts, now, notes, write=not dry_run, learn_until=learn_until
        )
        certificates = self._index.newly_due(self._iam, certificates, fresh, facts, now, notes)
        read = certificates  # as read: what the index keeps (the claims' proof is not cached)
        # From here on, a certificate is replaced only as far as its own progress record proves it.
        certificates, untrusted, adoptable = self._iam.believe(certificates, notes)
        plan = self._plan(certificates, now, not_before_by_name(certificates, facts), notes)
        if adoptable:  # left by a rotation started before progress records: an operator adopts it (force)
            plan = replace(plan, to_enqueue=tuple(c for c in plan.to_enqueue if c.name not in adoptable))
        used, quota = self._iam.room()
        result = ScanResult(
            scanned=len(certificates),
            managed=len(certificates) - len(plan.unmanaged),
            expiring=[c.name for c in plan.expiring],
            enqueued=[],
            held_back=[c.name for c in plan.held_back],
            held=held_entries(plan, IamListing.subject_field),
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
        self._enqueuer.send(plan, result, now, None, only=recorded)
        survey: Search = None
        try:
            survey = self._survey(plan, result, now, recorded)
        finally:  # kept even when the search fails: the tags read need not be read again
            self._index.save(read, kept, fresh, facts, now, notes, survey)
        self._enqueuer.send(plan, result, now, survey, skip=recorded)
        for sent, planned in ((result.enqueued, plan.to_enqueue), (result.resumed, plan.stalled)):
            order = {c.name: i for i, c in enumerate(planned)}
            sent.sort(key=lambda name: order.get(name, len(order)))
        self._complete_retirements(plan.pending_retirement, certificates, result, survey)
        return result

    def _sweep_acm(self, listing: AcmListing, result: ScanResult, *, dry_run: bool) -> None:
        """ACM, added to the IAM sweep's result: every imported certificate counted in `scanned` and reported
        in `days_to_expiry` under its ARN; every tag read (no index), the renewal time learnt by the same
        learner (not bounded by `learn_until`, as before), the due managed ones queued as
        `{"certificate_arn": ...}`. Nothing is searched nor retired: a re-import keeps what uses it."""
        now = self._clock.now()
        notes = result.notes
        listed = listing.list_certificates(notes)
        result.scanned += len(listed)
        result.days_to_expiry.update({c.name: planning.days_to_expiry(c.expiration, now) for c in listed})
        certificates = list(listing.read_tags(listed, notes).values())
        certificates = self._learner.learn(listing, certificates, {}, now, notes, write=not dry_run)
        # The lifetime rule's notBefore is the listing's (ACM's NotBefore), as the view's upload date.
        plan = self._plan(certificates, now, not_before_by_name(certificates, {}), notes)
        result.managed += len(certificates) - len(plan.unmanaged)
        result.held.extend(held_entries(plan, listing.subject_field))
        result.expiring.extend(c.name for c in plan.expiring)
        result.held_back.extend(c.name for c in plan.held_back)
        if not dry_run:
            self._acm_enqueuer.send(plan, result, now, None)

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
        decision = planning.decide_retirement(cert, [], now=now, grace_seconds=self._settings.grace_seconds)
        return decision.verdict is planning.RetirementVerdict.DELETE

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
            decision = planning.decide_retirement_after_search(
                cert, replacement, survey, now=now, grace_seconds=grace
            )
            if decision.verdict is not planning.RetirementVerdict.DELETE:
                result.notes.append(f"{cert.name}: {decision.verdict.value}: {decision.reason}")
                known = planning.known_endpoints(survey, cert.arn, cert.certificate_id, seen_at)
                if decision.verdict is planning.RetirementVerdict.IN_USE and known and known.endpoints:
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
