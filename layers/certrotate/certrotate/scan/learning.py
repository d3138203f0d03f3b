"""Learning a certificate's renewal time, once for every store: the scan's sweep calls RenewalLearner for
each listing (IAM, ACM), so that the stores cannot drift apart (issue 22, item 7: the ACM copy re-drew the
random point of the CA's window on every ask, skewing renewals towards the window's start).

The CA's ARI window (RFC 9773) when the CA offers ARI and has one for the certificate, keeping the point
picked in the same window last time (decide.renewal_time.same_pick); else the lifetime rule, asked again after
the CA's Retry-After (or, without ARI at all, at the renewal time itself: nothing new can be learnt before).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger

from certrotate.decide.renewal_time import (
    clamp_retry,
    lifetime_renewal_time,
    needs_renewal_info,
    same_pick,
    same_renewal_time,
    schedule_from_lifetime,
    schedule_from_window,
)
from certrotate.model import ServerCertificate
from certrotate.model.certificates import RenewalSchedule, learnt_for_value
from certrotate.model.scan_index import IndexedFacts
from certrotate.names import RENEWAL_TAG
from certrotate.ports import Clock, RenewalInfoSource, RenewalInfoUnavailable

logger = Logger(child=True)
RENEWAL_READERS = 8  # certificates read (and the CA asked) at once when their renewal time is learnt

# When the CA's directory cannot be read, the lifetime rule decides meanwhile and the CA is asked again this
# soon: a revocation that moves windows into the past must not wait for the lifetime renewal time (weeks).
UNREACHABLE_CA_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Learnt:
    schedule: RenewalSchedule
    note: str | None  # for the scan's notes: the CA asks for renewal now
    changed: bool  # whether the renewal time differs from the kept one (write the tag only then)


def learn(
    subject: str,
    *,
    kept_tag: str | None,
    not_before: datetime,
    not_after: datetime,
    ari_id: str | None,
    source: RenewalInfoSource | None,
    now: datetime,
    random_fraction: float,
    bind: bool = False,
    unreachable_since: datetime | None = None,
) -> Learnt:
    """The renewal time of one certificate (`subject` names it in logs and notes). `kept_tag` is the value of
    certrotate:renewal as last written; `source` None: the CA offers no ARI (or could not be read). `bind`:
    the tag names the certificate it was learnt for (its NotAfter), where tags outlive certificates (ACM
    re-imports keep them); a kept tag learnt for another certificate is then no previous answer.
    `unreachable_since`: when the CA's directory could not be read (then `source` is None too): the lifetime
    rule decides, and the CA is asked again after UNREACHABLE_CA_RETRY rather than at the renewal time."""
    learnt_for = learnt_for_value(not_after) if bind else ""
    previous = RenewalSchedule.parse(kept_tag)
    if previous is not None and bind and previous.learnt_for != learnt_for:
        previous = None
    note: str | None = None
    if source is None:
        renew_at = lifetime_renewal_time(not_before, not_after)
        if unreachable_since is not None:
            renew_at = min(renew_at, unreachable_since + UNREACHABLE_CA_RETRY)
        schedule = schedule_from_lifetime(not_before, not_after, next_ask=renew_at, now=now)
    else:
        try:
            if ari_id is None:
                raise RenewalInfoUnavailable("the certificate has no authority key identifier", now)
            window = source.window(ari_id)
            schedule = schedule_from_window(
                window.start,
                window.end,
                retry_after=window.retry_after,
                now=now,
                random_fraction=random_fraction,
            )
            schedule = same_pick(previous, schedule, now)
        except RenewalInfoUnavailable as unavailable:
            schedule = schedule_from_lifetime(
                not_before,
                not_after,
                next_ask=clamp_retry(unavailable.retry_after, now),
                now=now,
            )
            logger.info(
                "no renewal window from the CA: the lifetime rule decides",
                extra={"certificate_name": subject, "reason": str(unavailable)},
            )
        else:
            if schedule.renew_at <= now:
                note = f"{subject}: the CA asks for renewal now ({schedule.describe()})"
                if window.explanation_url:
                    note += f"; explanation: {window.explanation_url}"
                logger.warning(
                    "the CA asks for renewal",
                    extra={
                        "certificate_name": subject,
                        "window_start": schedule.window_start.isoformat(),
                        "window_end": schedule.window_end.isoformat(),
                        "explanation_url": window.explanation_url,
                    },
                )
    schedule = replace(schedule, learnt_for=learnt_for)
    # Only a new renewal time is worth writing: when to ask again changes with every answer, and the IAM
    # scan's index keeps it (the tag's `ask` is then earlier than the index's: a lost index asks sooner).
    return Learnt(schedule, note, not same_renewal_time(previous, schedule))


class RenewalSubject(Protocol):
    """What learning needs of a store: the certificate itself, and where its renewal time is kept."""

    # The tag names the certificate it was learnt for (tags outlive certificates: ACM re-imports keep them).
    binds_renewal_tag: bool
    # No scan index keeps the store's `ask`: the tag does, so it is written when only `ask` moved too.
    renewal_tag_keeps_ask: bool

    def facts(self, cert: ServerCertificate, now: datetime) -> tuple[IndexedFacts | None, str | None]:
        """Its notBefore and ARI id, read from the certificate itself; else None and why (a note)."""
        ...

    def write_renewal(self, cert: ServerCertificate, value: str) -> None: ...


# What learning one certificate's renewal time gives: the schedule (None: not learnt), a note, its facts.
_Outcome = tuple[RenewalSchedule | None, str | None, IndexedFacts | None]


class RenewalLearner:
    """The renewal time of each managed certificate of a store that has none yet, or whose last answer's
    Retry-After has passed: from the CA's ARI window when the CA offers ARI (RFC 9773), else from the
    certificate's lifetime (`learn` above)."""

    def __init__(
        self,
        *,
        renewal_info: Callable[[], RenewalInfoSource] | None,
        clock: Clock,
        renew_before_days: int | None,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._renewal_info_factory = renewal_info
        self._clock = clock
        self._floor = renew_before_days
        self._random_fraction = random_fraction

    def learn(
        self,
        subject: RenewalSubject,
        certificates: list[ServerCertificate],
        facts: dict[str, IndexedFacts],
        now: datetime,
        notes: list[str],
        *,
        write: bool,
        learn_until: float | None = None,
    ) -> list[ServerCertificate]:
        """The certificates, with the renewal time learnt in their renewal tag. It is kept on the certificate
        (a tag, unless `write` is off: dry runs change nothing) when it changed, and in the scan index with
        when to ask again. The certificate itself (its ARI id and notBefore) is read once per certificate ID
        and kept in `facts` (updated here). `learn_until` (a Clock.monotonic() value): none is learnt after
        it; the next scan learns those."""
        wanted = [c for c in certificates if needs_renewal_info(c, now, self._floor)]
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

        def one(cert: ServerCertificate) -> _Outcome | None:
            if learn_until is not None and self._clock.monotonic() >= learn_until:
                return None  # out of time: the next scan learns it
            try:
                known = facts.get(cert.certificate_id)
                return self._renewal_time_of(subject, cert, known, source, now, write, unreachable)
            except Exception as error:  # one certificate's oddity must not stop the others' scan
                logger.warning(
                    "renewal time not learnt", extra={"certificate_name": cert.name, "error": str(error)}
                )
                return None, f"{cert.name}: renewal time not learnt ({type(error).__name__}: {error})", None

        with ThreadPoolExecutor(max_workers=RENEWAL_READERS, thread_name_prefix="renewal") as pool:
            learnt = dict(zip((c.certificate_id for c in wanted), pool.map(one, wanted), strict=True))
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

    def _renewal_time_of(
        self,
        subject: RenewalSubject,
        cert: ServerCertificate,
        known: IndexedFacts | None,
        source: RenewalInfoSource | None,
        now: datetime,
        write: bool,
        unreachable: datetime | None,
    ) -> _Outcome:
        if known is None:
            known, problem = subject.facts(cert, now)
            if known is None:
                return None, problem, None
        kept = cert.tags.get(RENEWAL_TAG)
        learnt = learn(
            cert.name,
            kept_tag=kept,
            not_before=known.not_before,
            not_after=cert.expiration,
            ari_id=known.ari_id,
            source=source,
            now=now,
            random_fraction=self._random_fraction(),
            bind=subject.binds_renewal_tag,
            unreachable_since=unreachable,
        )
        note = learnt.note
        value = learnt.schedule.tag_value()
        if write and (learnt.changed or (subject.renewal_tag_keeps_ask and kept != value)):
            try:
                subject.write_renewal(cert, value)
            except Exception as error:  # one certificate's tag is a cache (the index keeps the time): go on
                # E.g. AccessDenied: the policy writes only on managed certificates, and the index's view of
                # this one's tags is older than an operator's opt-out. The next read of its tags says so.
                refused = f"{cert.name}: renewal time not written: {error}"
                note = f"{note}; {refused}" if note else refused
                logger.warning("renewal time not written", extra={"certificate_name": cert.name})
        return learnt.schedule, note, known
