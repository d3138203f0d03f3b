"""The scan's part for ACM imported certificates, a step beside the IAM scan (ScanService): every imported
certificate of every region the stack looks at is counted in `scanned` and reported in `days_to_expiry` under
its ARN; the managed ones that are due by the IAM rule (RENEW_BEFORE_DAYS as a floor, the CA's ARI window or
the lifetime rule, learnt once and kept in the tag certrotate:renewal) are queued as
`{"certificate_arn": ...}`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from certrotate import planning, renewal_time
from certrotate.errors import RegionDiscoveryFailed, ValidationFailed
from certrotate.names import RENEWAL_TAG
from certrotate.ports import (
    AcmCertificate,
    AcmCertificates,
    Clock,
    RenewalInfoSource,
    RotationQueue,
)
from certrotate.report.scan_result import ScanResult
from certrotate.scan.sweep import ScanSettings
from certrotate.validation import facts_of

logger = Logger(child=True)


class AcmScan:
    def __init__(
        self,
        *,
        certificates: AcmCertificates,
        queue: RotationQueue | None,
        clock: Clock,
        settings: ScanSettings,
        renewal_info: Callable[[], RenewalInfoSource] | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._acm = certificates
        self._queue = queue
        self._clock = clock
        self._settings = settings
        self._renewal_info = renewal_info
        self._random_fraction = random_fraction

    def scan_into(self, result: ScanResult, *, dry_run: bool) -> None:
        """Adds the imported certificates to an IAM scan's result (and queues the due managed ones)."""
        now = self._clock.now()
        listed = self._list(result)
        due: list[AcmCertificate] = []
        asked = False  # the CA's directory is read once per scan, at the first certificate that needs it
        source: RenewalInfoSource | None = None
        unreachable: datetime | None = None  # when the CA could not be read: ask again soon
        for cert in listed:
            if cert.not_after is None:
                continue
            result.scanned += 1
            result.days_to_expiry[cert.arn] = planning.days_to_expiry(cert.not_after, now)
            try:
                cert = replace(cert, tags=self._acm.tags_of(cert.arn))
            except Exception as error:  # deleted since listed, or refused: one certificate, not the scan
                result.notes.append(f"{cert.arn}: tags not read ({type(error).__name__}: {error})")
                continue
            view = cert.as_certificate()
            if not view.managed:
                continue
            result.managed += 1
            if cert.ignored_claims:
                result.notes.append(
                    f"{cert.arn}: {', '.join(cert.ignored_claims)} ignored: an ACM certificate is renewed "
                    "in place, never replaced nor rolled back (someone else wrote it)"
                )
            if planning.needs_renewal_info(view, now, self._settings.renew_before_days):
                if not asked:
                    asked = True
                    source, unreachable = self._renewal_source(result, now)
                cert = self._learn_renewal_time(
                    cert, source, now, result, write=not dry_run, unreachable=unreachable
                )
                view = cert.as_certificate()
            hold = planning.held_now(
                view, now, planning.inputs_fingerprint(view, self._settings.hold_context)
            )
            if hold is not None:
                result.held.append(
                    {
                        "certificate_name": cert.arn,
                        "certificate_arn": cert.arn,
                        "until": hold.until.isoformat(),
                        "reason": hold.reason,
                        "permanent": hold.permanent,
                        "failures": view.failures,
                    }
                )
            if not planning.is_due(view, now, self._settings.renew_before_days, cert.not_before):
                continue
            result.expiring.append(cert.arn)
            if hold is not None:
                result.held_back.append(cert.arn)
            else:
                due.append(cert)
        if due and not dry_run:
            self._enqueue(due, result, now)

    def _list(self, result: ScanResult) -> list[AcmCertificate]:
        try:
            regions = self._acm.regions()
        except RegionDiscoveryFailed as exc:
            result.notes.append(f"ACM certificates not listed: {exc}")
            return []
        found: list[AcmCertificate] = []
        for region in regions:
            try:
                found.extend(self._acm.list_imported(region))
            except Exception as exc:  # one region's refusal must not hide the others
                result.notes.append(f"ACM certificates in {region} not listed: {exc}")
        return found

    def _renewal_source(
        self, result: ScanResult, now: datetime
    ) -> tuple[RenewalInfoSource | None, datetime | None]:
        """The CA's renewal information (None when it offers none), and since when the CA could not be read
        (None when it could)."""
        if self._renewal_info is None:
            return None, None
        try:
            candidate = self._renewal_info()
            return (candidate if candidate.offered() else None), None
        except Exception as error:  # the CA is unreachable: the lifetime rule until it answers again
            result.notes.append(f"could not read the ACME directory for renewal information: {error}")
            return None, now

    def _learn_renewal_time(
        self,
        cert: AcmCertificate,
        source: RenewalInfoSource | None,
        now: datetime,
        result: ScanResult,
        *,
        write: bool,
        unreachable: datetime | None,
    ) -> AcmCertificate:
        """The renewal time, learnt by the code the IAM scan uses (renewal_time.learn)."""
        try:
            facts = facts_of(self._acm.body(cert.arn))
        except ValidationFailed as error:
            result.notes.append(f"{cert.arn}: {error}")
            return cert
        except Exception as error:  # deleted since listed, or refused: the lifetime rule from its listing
            result.notes.append(f"{cert.arn}: body not read ({type(error).__name__}: {error})")
            return cert
        learnt = renewal_time.learn(
            cert.arn,
            kept_tag=(cert.tags or {}).get(RENEWAL_TAG),
            not_before=facts.not_before or cert.not_before or now,
            not_after=facts.not_after,
            ari_id=facts.ari_id,
            source=source,
            now=now,
            random_fraction=self._random_fraction(),
            bind=True,  # a re-import keeps the tags: the tag names the certificate it is about
            unreachable_since=unreachable,
        )
        if learnt.note:
            result.notes.append(learnt.note)
        value = learnt.schedule.tag_value()
        # No scan index keeps ACM's `ask`: the tag does, so it is written when only `ask` moved too.
        if write and (cert.tags or {}).get(RENEWAL_TAG) != value:
            try:
                self._acm.tag(cert.arn, {RENEWAL_TAG: value})
            except Exception as error:  # one certificate's cache of its renewal time: the others go on
                # E.g. AccessDenied: an operator opted it out between the listing and this write.
                result.notes.append(f"{cert.arn}: renewal time not written: {error}")
        return replace(cert, tags={**(cert.tags or {}), RENEWAL_TAG: value})

    def _group(self, arn: str) -> str:
        account = self._settings.account_id
        if account is None:
            return arn
        key = f"{account}:{arn}"
        return key if len(key) <= 128 else f"{account}:{hashlib.sha256(arn.encode()).hexdigest()}"

    def _enqueue(self, due: list[AcmCertificate], result: ScanResult, now: datetime) -> None:
        if self._queue is None:
            result.notes.append("no rotation queue configured: nothing sent")
            return
        messages: list[tuple[str, str, dict[str, Any]]] = []
        for cert in due:
            body: dict[str, Any] = {
                "certificate_arn": cert.arn,
                "reason": "expiring",
                "days_to_expiry": result.days_to_expiry[cert.arn],
                "correlation_id": result.correlation_id,
            }
            if self._settings.account_id is not None:
                body["account_id"] = self._settings.account_id
            key = self._group(cert.arn)
            messages.append((key, planning.deduplication_id(key, now), body))
        sent = set(self._queue.send(messages))
        result.enqueued.extend(c.arn for c in due if self._group(c.arn) in sent)
