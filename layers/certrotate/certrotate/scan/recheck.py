"""The renewal-info re-check (`{"renewal_info_only": true}`, on its own schedule), from the scan index alone:
the CA asked again about each managed certificate whose last answer's Retry-After has passed, and a rotation
sent for each that the answer makes due."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from certrotate.decide.due import days_to_expiry, is_due
from certrotate.decide.renewal_time import needs_renewal_info
from certrotate.model import ServerCertificate, scan_index
from certrotate.model.endpoints import known_endpoints, record_to_check
from certrotate.ports import Clock
from certrotate.report.scan_result import ScanResult
from certrotate.scan.learning import RENEWAL_READERS, RenewalLearner, RenewalSubject
from certrotate.scan.messages import Enqueuer, Search
from certrotate.scan.plan import ScanPlan, plan_scan
from certrotate.scan.tags import TagIndex, from_index, kept_tags, located

RECHECK_CHUNK = 4 * RENEWAL_READERS  # the re-check sends the rotations of each chunk before asking the next


def not_before_by_name(
    certificates: list[ServerCertificate], facts: dict[str, scan_index.IndexedFacts]
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


class Recheck:
    def __init__(
        self,
        *,
        subject: RenewalSubject,
        index: TagIndex,
        learner: RenewalLearner,
        enqueuer: Enqueuer,
        survey: Callable[[ScanPlan, ScanResult, datetime, frozenset[str]], Search],
        clock: Clock,
        renew_before_days: int | None,
        lease_seconds: int,
    ) -> None:
        self._subject = subject
        self._index = index
        self._learner = learner
        self._enqueuer = enqueuer
        self._survey = survey
        self._clock = clock
        self._floor = renew_before_days
        self._lease_seconds = lease_seconds

    def run(
        self, *, dry_run: bool, correlation_id: str | None = None, learn_until: float | None = None
    ) -> ScanResult:
        """From the scan index alone (one GetItem; no listing, no tag read), ask the CA again about each
        managed certificate whose last answer's Retry-After has passed, and send a rotation for each that the
        answer makes due and that was not due before (a window moved into the past: what a CA does before it
        revokes). O(due) AWS calls: the index read and write and the sends, no IAM call (the answer is kept in
        the index, not in a tag: each rotation sent asks the CA itself, `ask_ca`); the search of every region
        only for due certificates whose last search the index does not keep usable. The rotations are sent a
        chunk at a time, as the answers come in. Everything else (certificates not in the index, retirements,
        resumes, metrics) is the scheduled scan's. A rotation decides again from the certificate's own tags,
        read afresh, and the CA's answer before any order: this sends on the index's tags plus the answer
        just learnt."""
        now = self._clock.now()
        notes: list[str] = []
        result = ScanResult.empty(
            dry_run=dry_run, correlation_id=correlation_id or str(uuid.uuid4()), notes=notes
        )
        kept = self._index.load(notes)
        if not kept:
            notes.append("no scan index: the scheduled scan decides")
            return result
        floor = self._floor
        certificates = [from_index(cid, entry) for cid, entry in kept.items() if entry.listed is not None]
        result.scanned = len(certificates)
        result.managed = sum(1 for c in certificates if c.managed)
        facts = {cid: entry.facts for cid, entry in kept.items() if entry.facts is not None}

        def not_before(cert: ServerCertificate) -> datetime | None:
            known = facts.get(cert.certificate_id)
            return known.not_before if known else None

        was_due = {c.certificate_id for c in certificates if is_due(c, now, floor, not_before(c))}
        wanted = [c for c in certificates if needs_renewal_info(c, now, floor)]
        notes.append(f"asked the CA about {len(wanted)} certificate(s) whose Retry-After has passed")
        learnt: dict[str, ServerCertificate] = {}
        unrecorded: list[ServerCertificate] = []
        for start in range(0, len(wanted), RECHECK_CHUNK):
            chunk = wanted[start : start + RECHECK_CHUNK]
            # No renewal tag is written (no IAM call): the index keeps the answer, and each rotation sent asks
            # the CA itself (`ask_ca`) before it orders.
            for cert in self._learner.learn(
                self._subject, chunk, facts, now, notes, write=False, learn_until=learn_until
            ):
                learnt[cert.certificate_id] = cert
            newly = [
                learnt[c.certificate_id]
                for c in chunk
                if c.certificate_id not in was_due
                and is_due(learnt[c.certificate_id], now, floor, not_before(c))
            ]
            plan = self._plan(newly, facts, now)
            result.expiring.extend(c.name for c in plan.expiring)
            result.held_back.extend(c.name for c in plan.held_back)
            result.days_to_expiry.update({c.name: days_to_expiry(c.expiration, now) for c in newly})
            recorded = {
                c.certificate_id
                for c in plan.to_enqueue
                if record_to_check(kept[c.certificate_id].served, now)
            }
            unrecorded.extend(c for c in plan.to_enqueue if c.certificate_id not in recorded)
            if not dry_run:
                self._enqueuer.send(plan, result, now, None, only=recorded, ask_ca=True)
        if dry_run:
            return result
        survey: Search = None
        rest = self._plan(unrecorded, facts, now)
        try:
            survey = self._survey(rest, result, now, frozenset())
        finally:
            entries = dict(kept)
            for cid, cert in learnt.items():
                entries[cid] = replace(kept[cid], tags=kept_tags(cert.tags), facts=facts.get(cid))
            if isinstance(survey, tuple) and not survey[0].unsearched:
                for cid, entry in entries.items():
                    if entry.listed is not None and entry.tags and from_index(cid, entry).managed:
                        found = known_endpoints(survey[0], entry.listed.arn, cid, survey[1])
                        entries[cid] = replace(entry, served=located(found))
            self._index.write(entries, kept, now, notes)
        self._enqueuer.send(rest, result, now, survey, ask_ca=True)
        return result

    def _plan(
        self,
        certificates: list[ServerCertificate],
        facts: dict[str, scan_index.IndexedFacts],
        now: datetime,
    ) -> ScanPlan:
        return plan_scan(
            certificates,
            now=now,
            renew_before_days=self._floor,
            lease_seconds=self._lease_seconds,
            not_before=not_before_by_name(certificates, facts),
        )
