"""The rotation messages a scan sends: one group per certificate (per account), a deduplication id per day,
the bodies, and where the scan's one search of every region saw each certificate served."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from certrotate.errors import RegionDiscoveryFailed
from certrotate.model import EndpointSurvey, ServerCertificate
from certrotate.model import endpoints as endpoint_records

if TYPE_CHECKING:
    from certrotate.model.endpoints import KnownEndpoints
    from certrotate.ports import Clock, Endpoints, RotationQueue
    from certrotate.report.scan_result import ScanResult
    from certrotate.scan.plan import ScanPlan

# A scan's search of every region: the survey and when it started, why it failed, or None (none made).
Search = tuple[EndpointSurvey, datetime] | RegionDiscoveryFailed | None
NO_QUEUE = "no rotation queue configured: nothing sent"


def deduplication_id(certificate_name: str, now: datetime, purpose: str = "") -> str:
    """One rotation message per certificate per day (SQS FIFO deduplicates within its 5-minute window;
    a later duplicate finds the replacement and is skipped), and per `purpose` when one is given: a message
    for endpoints found still serving a replaced certificate is not the day's rotation message."""
    suffix = f"|{purpose}" if purpose else ""
    return hashlib.sha256(f"{certificate_name}|{now:%Y-%m-%d}{suffix}".encode()).hexdigest()


def group(account_id: str | None, subject: str) -> str:
    """Message group (one per certificate) and deduplication key: `<account>:<subject>` with many accounts,
    so that certificates of one name in two accounts are two groups."""
    if account_id is None:
        return subject
    key = f"{account_id}:{subject}"  # a group id holds at most 128 characters, as a name does
    return key if len(key) <= 128 else f"{account_id}:{hashlib.sha256(subject.encode()).hexdigest()}"


def scoped(account_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    return body if account_id is None else {**body, "account_id": account_id}


def known_endpoints(survey: Search, cert: ServerCertificate) -> KnownEndpoints | None:
    """Where the search saw the certificate served (None: it did not search everywhere, or saw it nowhere)."""

    if survey is None or isinstance(survey, RegionDiscoveryFailed):
        return None
    return endpoint_records.known_endpoints(survey[0], cert.arn, cert.certificate_id, survey[1])


def with_index(body: dict[str, Any], cert: ServerCertificate, survey: Search) -> dict[str, Any]:
    """The message, with where the scan's search saw the certificate served (when it searched everywhere)."""
    known = known_endpoints(survey, cert)
    return body if known is None else {**body, "endpoints": known.as_message()}


def search(endpoints: Endpoints, clock: Clock, result: ScanResult) -> Search:
    """One search of every region and CloudFront: it tells each rotation sent where its certificate is served
    (so rotations need not search: O(1) ELB calls each instead of 2L), and it is the check before
    retirements (never one search per certificate)."""
    seen_at = clock.now()  # the search's start: the index is at least this fresh
    try:
        survey = endpoints.discover(include_cloudfront=True)
    except RegionDiscoveryFailed as exc:
        return exc
    for unsearched in survey.unsearched:
        result.notes.append(f"not searched: {unsearched}")
    return survey, seen_at


class Enqueuer:
    """Sends a plan's rotations and resumes for one store: `subject_field` names the certificate in a message
    (`certificate_name` for IAM, `certificate_arn` for ACM, the contract's shapes)."""

    def __init__(
        self, queue: RotationQueue | None, *, account_id: str | None, subject_field: str = "certificate_name"
    ) -> None:
        self._queue = queue
        self._account = account_id
        self._field = subject_field

    @property
    def configured(self) -> bool:
        return self._queue is not None

    def group(self, subject: str) -> str:
        return group(self._account, subject)

    def send(
        self,
        plan: ScanPlan,
        result: ScanResult,
        now: datetime,
        survey: Search,
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
        messages: list[tuple[str, str, dict[str, Any]]] = []
        for cert in to_enqueue:
            body: dict[str, Any] = {
                self._field: cert.name,
                "reason": "expiring",
                "days_to_expiry": result.days_to_expiry[cert.name],
                "correlation_id": result.correlation_id,
            }
            if ask_ca:
                body |= {"reason": "renewal-info", "ask_ca": True}
            messages.append(self._message(cert, body, now, survey))
        for cert in stalled:
            # A rotation died after uploading the replacement and its retries ran out: finish it.
            body = {self._field: cert.name, "reason": "resume", "correlation_id": result.correlation_id}
            messages.append(self._message(cert, body, now, survey))
        if not messages:
            return
        if self._queue is None:
            if NO_QUEUE not in result.notes:
                result.notes.append(NO_QUEUE)
            return
        sent = set(self._queue.send(messages))
        result.enqueued.extend(c.name for c in to_enqueue if self.group(c.name) in sent)
        result.resumed.extend(c.name for c in stalled if self.group(c.name) in sent)

    def _message(
        self, cert: ServerCertificate, body: dict[str, Any], now: datetime, survey: Search
    ) -> tuple[str, str, dict[str, Any]]:
        key = self.group(cert.name)
        return key, deduplication_id(key, now), scoped(self._account, with_index(body, cert, survey))

    def still_served(
        self, cert: ServerCertificate, known: KnownEndpoints, result: ScanResult, now: datetime
    ) -> tuple[str, str, dict[str, Any]]:
        """A resume for the endpoints found still serving a replaced certificate (attached after the search
        its rotation was given)."""
        body = {
            self._field: cert.name,
            "reason": "resume",
            "correlation_id": result.correlation_id,
            "endpoints": known.as_message(),
        }
        key = self.group(cert.name)
        return key, deduplication_id(key, now, "still-served"), scoped(self._account, body)

    def send_still_served(
        self, messages: Sequence[tuple[str, str, dict[str, Any]]], result: ScanResult
    ) -> None:
        if not messages or self._queue is None:
            return
        sent = set(self._queue.send(messages))
        result.resumed.extend(str(body[self._field]) for key, _, body in messages if key in sent)
