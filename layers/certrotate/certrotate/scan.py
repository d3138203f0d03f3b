"""The scan use case: every IAM server certificate's days to expiry, rotations for the managed ones that
are due, and the retirements that rotations left pending."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from certrotate import planning
from certrotate.errors import RegionDiscoveryFailed
from certrotate.model import ServerCertificate
from certrotate.names import EventType
from certrotate.ports import CertificateStore, Clock, Endpoints, EventPublisher, RotationQueue


@dataclass(slots=True)
class ScanResult:
    scanned: int
    managed: int
    expiring: list[str]
    enqueued: list[str]
    held_back: list[str]
    held: list[dict[str, Any]]
    pending_retirement: list[str]
    retired: list[str]
    resumed: list[str]
    days_to_expiry: dict[str, float]
    server_certificates: int
    quota: int
    dry_run: bool
    correlation_id: str = ""  # carried by every message this scan sends and every event it emits
    notes: list[str] = field(default_factory=list)

    @property
    def min_days_to_expiry(self) -> float | None:
        return min(self.days_to_expiry.values()) if self.days_to_expiry else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "managed": self.managed,
            "expiring": self.expiring,
            "enqueued": self.enqueued,
            "held_back": self.held_back,
            "held": self.held,
            "pending_retirement": self.pending_retirement,
            "retired": self.retired,
            "resumed": self.resumed,
            "days_to_expiry": self.days_to_expiry,
            "server_certificates": self.server_certificates,
            "server_certificates_quota": self.quota,
            "dry_run": self.dry_run,
            "correlation_id": self.correlation_id,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class ScanSettings:
    renew_before_days: int
    lease_seconds: int
    grace_seconds: int


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
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._queue = queue
        self._events = events
        self._clock = clock
        self._settings = settings

    def scan(self, *, dry_run: bool, correlation_id: str | None = None) -> ScanResult:
        now = self._clock.now()
        listed = self._store.list_certificates()
        tags = self._store.tags_of_many([c.name for c in listed])
        certificates = [replace(c, tags=tags[c.name]) for c in listed]
        plan = planning.plan_scan(
            certificates,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            lease_seconds=self._settings.lease_seconds,
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
            ],
            pending_retirement=[c.name for c in plan.pending_retirement],
            retired=[],
            resumed=[],
            days_to_expiry={c.name: planning.days_to_expiry(c.expiration, now) for c in certificates},
            server_certificates=used,
            quota=quota,
            dry_run=dry_run,
            correlation_id=correlation_id or str(uuid.uuid4()),
        )
        if dry_run:
            return result
        self._enqueue(plan, result, now)
        self._complete_retirements(plan.pending_retirement, certificates, result)
        return result

    def _enqueue(self, plan: planning.ScanPlan, result: ScanResult, now: datetime) -> None:
        messages: list[tuple[str, str, dict[str, Any]]] = []
        for cert in plan.to_enqueue:
            body = {
                "certificate_name": cert.name,
                "reason": "expiring",
                "days_to_expiry": result.days_to_expiry[cert.name],
                "correlation_id": result.correlation_id,
            }
            messages.append((cert.name, planning.deduplication_id(cert.name, now), body))
        for cert in plan.stalled:
            # A rotation died after uploading the replacement and its retries ran out: finish it.
            body = {
                "certificate_name": cert.name,
                "reason": "resume",
                "correlation_id": result.correlation_id,
            }
            messages.append((cert.name, planning.deduplication_id(cert.name, now), body))
        if not messages:
            return
        if self._queue is None:
            result.notes.append("no rotation queue configured: nothing sent")
            return
        sent = set(self._queue.send(messages))
        result.enqueued = [c.name for c in plan.to_enqueue if c.name in sent]
        result.resumed = [c.name for c in plan.stalled if c.name in sent]

    def _complete_retirements(
        self,
        pending: Sequence[ServerCertificate],
        certificates: Sequence[ServerCertificate],
        result: ScanResult,
    ) -> None:
        now = self._clock.now()
        grace = self._settings.grace_seconds
        due = [
            c
            for c in pending
            if planning.decide_retirement(c, [], now=now, grace_seconds=grace).verdict
            is planning.RetirementVerdict.DELETE
        ]
        if not due:
            return
        by_name = {c.name: c for c in certificates}
        # One search of every region and CloudFront serves all the checks (never one per certificate).
        try:
            survey = self._endpoints.discover(include_cloudfront=True)
        except RegionDiscoveryFailed as exc:
            # Deleting waits; the scan's report and metrics do not.
            result.notes.append(f"retirements postponed: {exc}")
            return
        for unsearched in survey.unsearched:
            result.notes.append(f"not searched: {unsearched}")
        for cert in due:
            replacement = by_name.get(cert.replaced_by or "")
            if replacement is None:
                result.notes.append(f"{cert.name}: its replacement {cert.replaced_by} does not exist: kept")
                continue
            decision = planning.decide_retirement(
                cert,
                planning.endpoints_serving(survey.endpoints, cert.arn, cert.certificate_id),
                now=now,
                grace_seconds=grace,
                unsearched=survey.unsearched,
                deploying=planning.replacement_deploying(
                    survey.endpoints, replacement.arn, replacement.certificate_id
                ),
            )
            if decision.verdict is not planning.RetirementVerdict.DELETE:
                result.notes.append(f"{cert.name}: {decision.verdict.value}: {decision.reason}")
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
