"""Retiring a replaced certificate: deleted only when nothing serves it anywhere, checked right before the
delete, then reported."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from certrotate.model import ServerCertificate, Unsearched
from certrotate.names import EventType
from certrotate.ports import CertificateStore, Clock, Endpoints, EventPublisher, ProgressRecords
from certrotate.report.results import RotationResult
from certrotate.retire.decision import RetirementVerdict, decide_retirement, decide_retirement_after_search

logger = Logger(child=True)


class Retirement:
    def __init__(
        self,
        *,
        endpoints: Endpoints,
        store: CertificateStore,
        events: EventPublisher,
        clock: Clock,
        grace_seconds: int,
        forget: ProgressRecords | None,  # the records deleted with their certificate (None: left to the TTL)
    ) -> None:
        self._endpoints = endpoints
        self._store = store
        self._events = events
        self._clock = clock
        self._grace_seconds = grace_seconds
        self._forget = forget

    def retire_now(
        self,
        old: ServerCertificate,
        new: ServerCertificate,
        result: RotationResult,
        unsearched: Sequence[Unsearched],
    ) -> None:
        """Delete the old certificate only when nothing serves it anywhere, checked right before the delete:
        every region searched, no listener or distribution on it, CloudFront's change deployed."""
        now = self._clock.now()
        grace = self._grace_seconds
        decision = decide_retirement(old, [], now=now, grace_seconds=grace, unsearched=unsearched)
        if decision.verdict is RetirementVerdict.DELETE:
            survey = self._endpoints.discover(include_cloudfront=True)
            decision = decide_retirement_after_search(old, new, survey, now=now, grace_seconds=grace)
            result.not_searched = [str(u) for u in survey.unsearched]
        result.retirement = f"{decision.verdict.value}: {decision.reason}"
        if decision.verdict is not RetirementVerdict.DELETE:
            return
        if self._store.delete(old.name):
            result.retired = True
            result.steps.append(f"deleted {old.name}")
            if self._forget is not None:
                try:
                    self._forget.delete(old.name)  # its work is done (else the table's TTL removes it)
                except Exception as exc:
                    logger.warning("progress record left to its TTL", extra={"error": str(exc)})
            self._events.publish(
                EventType.CERTIFICATE_RETIRED,
                {
                    "certificate_name": old.name,
                    "replaced_by": old.replaced_by,
                    "correlation_id": result.correlation_id,
                },
            )
        else:
            # Our own search found nothing serving it, yet IAM knows a user: it stays (never forced).
            result.retirement = "in-use: IAM reports the certificate is still in use (DeleteConflict)"
