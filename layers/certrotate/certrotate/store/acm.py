"""ACM imported certificates as a store: a new certificate from the same ACME path as IAM's, re-imported in
place (ImportCertificate with CertificateArn): the ARN and every association stay, nothing is repointed.

ACM does not roll back and there is no second name to find later, so progress is recorded on the certificate:
- before ordering, the tag `certrotate:reimport-of` names the serial of the certificate being replaced;
- a rerun that finds a different serial in ACM, and its own progress record naming what ACM serves now over
  the tagged serial, knows the import happened: it finishes (clears the tag and any hold) and never orders
  again; the same serial means the import did not happen: the rotation decides again (it orders again only
  while the certificate is still due, as IAM's does before its upload);
- without the tag, a re-imported certificate is simply not due any more.
Every re-import rule is checked before the call (store.acm_rules): the key type before ordering, the rest on
the issued certificate. A lease keyed by the ARN keeps two runs from ordering at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cryptography import x509

from certrotate.check.certificates import facts_of, leaf_sha256, load_pem_certificates
from certrotate.check.claims import RECORD_KEPT_AFTER_EXPIRY
from certrotate.errors import (
    AcmRefusedImport,
    NotImported,
    ReimportRefused,
    UnknownAcmCertificate,
    UnmanagedCertificate,
)
from certrotate.model import Endpoint, IssuedCertificate, KeySpec, ProgressRecord, ServerCertificate
from certrotate.names import HOLD_TAGS, MANAGED_TAG, REIMPORT_OF_TAG, RENEWAL_TAG, RETRY_AFTER_TAG
from certrotate.order.issue import StashTicket, drop_stashed
from certrotate.ports import AcmCertificate, AcmCertificates, Clock, IssuedStash, ProgressRecords
from certrotate.report.results import RotationResult
from certrotate.store import acm_rules
from certrotate.store.base import (
    Assessment,
    Current,
    Found,
    HeldLease,
    Placement,
    RotationSettings,
    Unproven,
    require_time,
)

TIME_TO_IMPORT = 15.0  # seconds the import call and its read-back need at least


class AcmStore:
    placement = Placement.IN_PLACE
    subject_field = "certificate_arn"
    refusals: tuple[type[Exception], ...] = (ReimportRefused, AcmRefusedImport)

    def __init__(
        self,
        *,
        acm: AcmCertificates,
        progress: ProgressRecords,  # the proof behind certrotate:reimport-of (keyed by the ARN)
        clock: Clock,
        settings: RotationSettings,
        stash: IssuedStash | None = None,
    ) -> None:
        # Adapters are held as objects and called at call time: tests patch their classes after wiring
        # built (and cached) the rotation.
        self._acm = acm
        self._progress = progress
        self._clock = clock
        self._settings = settings
        self._stash = stash

    def find(self, subject: str) -> Found[AcmCertificate]:
        arn = acm_rules.parse_arn(subject)
        old = self._acm.describe(arn)
        if old is None:
            raise UnknownAcmCertificate(arn)
        if not old.imported:
            raise NotImported(arn, old.type)
        view = old.as_certificate()
        if not view.managed:
            raise UnmanagedCertificate(arn, MANAGED_TAG)
        return Found(arn, view, old)

    def read(self, found: Found[AcmCertificate]) -> Current[AcmCertificate]:
        body = self._acm.body(found.subject)
        leaf = load_pem_certificates(body)[0]
        return Current(found, facts_of(body), leaf)

    def new_result(self, current: Current[AcmCertificate], correlation_id: str) -> RotationResult:
        return RotationResult(
            certificate_name=current.subject,
            status="skipped",
            new_certificate_name=None,
            reason="",
            correlation_id=correlation_id,
            dns_names=list(current.facts.dns_names),
            serial=acm_rules.serial_hex(current.leaf),
            expiration=current.facts.not_after.isoformat(),
            in_use_by=list(current.own.in_use_by),
            subject_field=self.subject_field,
        )

    def assess(self, current: Current[AcmCertificate]) -> Assessment:
        """Whether an import by an earlier run is proven by its own progress record: the record names the
        certificate ACM serves now (its leaf's SHA-256) over another serial. The tag certrotate:reimport-of is
        only a claim: one the record does not prove is reported and ignored (the rotation decides as if it
        were absent: nothing is cleared, nothing reported as done, on its word)."""
        arn, leaf = current.subject, current.leaf
        record = self._progress.load(arn)
        serving = acm_rules.serial_hex(leaf)
        if (
            record is not None
            and record.replacement == arn
            and record.sha256 == leaf_sha256(leaf)
            and record.replaced_id != serving
        ):
            finished = f"re-imported by an earlier run (serial {record.replaced_id} replaced by {serving})"
            return Assessment(view=current.view, finished=finished)
        claimed = (current.own.tags or {}).get(REIMPORT_OF_TAG, "").strip().lower()
        if claimed and claimed != serving:
            why = "no progress record of certrotate's proves an import over it"
            unproven = Unproven(
                claimed,
                why,
                f"ignored the claim that serial {claimed[:80]} was re-imported over: {why}",
                {"certificate_arn": arn, "claimed_reimport_of": claimed[:80], "reason": why},
            )
            return Assessment(view=current.view, unproven=(unproven,))
        return Assessment(view=current.view)

    def reassess(
        self, current: Current[AcmCertificate], assessed: Assessment, result: RotationResult
    ) -> tuple[Current[AcmCertificate], Assessment] | None:
        """Re-read under the lease: a run that held it before us may have re-imported meanwhile."""
        arn = current.subject
        if self._acm.describe(arn) is None:
            raise UnknownAcmCertificate(arn)
        now_leaf = load_pem_certificates(self._acm.body(arn))[0]
        if now_leaf.serial_number != current.leaf.serial_number:
            result.reason = "re-imported by a concurrent run"
            result.serial = acm_rules.serial_hex(now_leaf)
            return None
        return current, assessed

    def check_room(self) -> None:
        return None  # ACM's yearly import quota is met at the import (AcmImportQuotaReached)

    def key_for(
        self, current: Current[AcmCertificate], view: ServerCertificate, serving: Sequence[Endpoint]
    ) -> KeySpec:
        """The key to order, and the profile checked against it: every re-import rule knowable before an
        order (acm_rules: ACM keeps the key type and size, and a profile known to drop a Key Usage value ACM
        keeps is refused), raised as a PermanentFailure before any order."""
        arn, tags = current.subject, current.own.tags or {}
        key = acm_rules.replacement_key(arn, current.facts.key, tags)
        refusal = acm_rules.profile_refusal(arn, current.leaf, key, self._settings.profile_for(tags))
        if refusal is not None:
            raise refusal
        return key

    def challenge_owners(self, view: ServerCertificate) -> tuple[str, ...]:
        return ()  # DNS-01 in Route 53 for every name (HTTP-01 on an ALB is for IAM certificates, so far)

    def begin(self, current: Current[AcmCertificate]) -> Current[AcmCertificate]:
        """Progress first: a crash after the import leaves this tag beside a new serial."""
        serial = acm_rules.serial_hex(current.leaf)
        self._acm.tag(current.subject, {REIMPORT_OF_TAG: serial})
        own = replace(current.own, tags={**(current.own.tags or {}), REIMPORT_OF_TAG: serial})
        return Current(Found(current.subject, current.view, own), current.facts, current.leaf)

    def ticket(self, current: Current[AcmCertificate], inputs: str) -> StashTicket:
        arn = current.subject
        return StashTicket(arn, f"{arn} {acm_rules.serial_hex(current.leaf)}", inputs)

    def check_issued(
        self, current: Current[AcmCertificate], leaf: x509.Certificate, result: RotationResult
    ) -> None:
        acm_rules.check_reimport(current.subject, current.leaf, leaf, self._clock.now())
        result.steps.append("checked against the old certificate: key, Key Usage, EKU, names, validity")

    def put(
        self,
        current: Current[AcmCertificate],
        view: ServerCertificate,
        issued: IssuedCertificate,
        leaf: x509.Certificate,
        *,
        name: str,
        lease: HeldLease,
        deadline: float,
        result: RotationResult,
    ) -> tuple[ServerCertificate | None, ProgressRecord | None]:
        """The re-import, under a renewed lease: nothing but the lease guards a second import."""
        arn = current.subject
        lease.renew()
        require_time(self._clock, deadline, TIME_TO_IMPORT, "re-import the certificate")
        # The proof before the import: what this run imports over which serial (no tag writer reaches it).
        record = ProgressRecord(acm_rules.serial_hex(current.leaf), arn, leaf_sha256(leaf))
        self._progress.save(arn, record, keep_until=leaf.not_valid_after_utc + RECORD_KEPT_AFTER_EXPIRY)
        self._acm.reimport(
            arn,
            body_pem=issued.certificate_pem,
            chain_pem=issued.chain_pem,
            private_key_pem=issued.private_key_pem,
            deadline=deadline,
        )
        result.steps.append(f"re-imported into {arn}")  # finish drops the kept certificate
        result.status = "rotated"
        result.serial = acm_rules.serial_hex(leaf)
        result.expiration = leaf.not_valid_after_utc.isoformat()
        return None, record

    def finish(
        self,
        current: Current[AcmCertificate],
        view: ServerCertificate,
        stored: ServerCertificate | None,
        result: RotationResult,
    ) -> ServerCertificate:
        """After the import (this run's or a crashed one's): read back what ACM serves, clear the progress tag
        and any hold, forget the record (before the success is reported: a rerun after a crash here reports
        nothing twice)."""
        arn, tags = current.subject, current.own.tags or {}
        now_serving = self._acm.describe(arn)
        if now_serving is not None:
            result.in_use_by = list(now_serving.in_use_by)
            if now_serving.not_after is not None:
                result.expiration = now_serving.not_after.isoformat()
        # The renewal time learnt for the old certificate is not the new one's: a re-import keeps the tags,
        # and a past renewal time left on it would make every redelivery, invocation and scan order again.
        # It goes whether or not this run saw it (a scan may have written it since this run read the tags).
        leftovers = [k for k in (REIMPORT_OF_TAG, RETRY_AFTER_TAG, RENEWAL_TAG, *HOLD_TAGS) if k in tags]
        self._acm.untag(arn, list(dict.fromkeys([*leftovers, RENEWAL_TAG])))
        if leftovers:
            result.steps.append(f"cleared the tags {', '.join(leftovers)}")
        self._progress.delete(arn)
        drop_stashed(self._stash, arn)  # a run that imported may have died before it dropped it
        return view

    def detail(
        self,
        current: Current[AcmCertificate],
        result: RotationResult,
        stored: ServerCertificate | None = None,
        *,
        finished: bool = False,
    ) -> dict[str, Any]:
        """An event's detail: names, dates and what uses the certificate, never key material."""
        old = current.own
        return {
            "certificate_arn": old.arn,
            "dns_names": list(result.dns_names),
            "expiration": old.not_after.isoformat() if old.not_after else None,
            "new_expiration": result.expiration if finished else None,
            "serial": result.serial,
            "in_use_by": list(result.in_use_by),
            "correlation_id": result.correlation_id,
        }

    def tag(self, subject: str, tags: Mapping[str, str]) -> None:
        self._acm.tag(subject, tags)
