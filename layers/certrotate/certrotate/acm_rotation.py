"""The rotation of an ACM imported certificate: a new certificate from the same ACME path as IAM's,
re-imported in place (ImportCertificate with CertificateArn): the ARN and every association stay, nothing
is repointed.

ACM does not roll back and there is no second name to find later, so progress is recorded on the certificate:
- before ordering, the tag `certrotate:reimport-of` names the serial of the certificate being replaced;
- a rerun that finds the tag and a different serial in ACM knows the import happened: it finishes (clears the
  tag and any hold) and never orders again; the same serial means the import did not happen: the rotation
  decides again (it orders again only while the certificate is still due, as IAM's does before its upload);
- without the tag, a re-imported certificate is simply not due any more.
Every re-import rule is checked before the call (acm_rules): the key type before ordering, the rest on the
issued certificate. A lease keyed by the ARN keeps two runs from ordering at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from cryptography import x509

from certrotate import acm_rules, planning
from certrotate.adapters.acm import IMPORTED
from certrotate.errors import (
    InvalidRequest,
    NoChallengeMethod,
    OutOfTime,
    PermanentFailure,
    UnknownChallengeMethod,
    UnmanagedCertificate,
)
from certrotate.model import (
    CertificateFacts,
    ChallengeMethod,
    ChallengePlan,
    IssuedCertificate,
    KeySpec,
    ProgressRecord,
)
from certrotate.names import (
    HOLD_TAGS,
    MANAGED_TAG,
    REIMPORT_OF_TAG,
    RENEWAL_TAG,
    RETRY_AFTER_TAG,
    EventType,
)
from certrotate.order.challenges import Dns01Responder, PlannedChallenges
from certrotate.order.issue import (
    TIME_TO_ORDER,
    StashTicket,
    drop_stashed,
    issue_or_reuse,
    order_and_validate,
    refuse_before_ordering,
    stash_inputs,
)
from certrotate.ports import (
    AcmCertificate,
    AcmCertificates,
    CertificateAuthority,
    ChallengeRecords,
    Clock,
    DnsBatching,
    DnsChallenges,
    EventPublisher,
    IssuedStash,
    Leases,
    ProgressRecords,
)
from certrotate.report.events import failure_detail
from certrotate.report.results import AcmRotationResult as AcmRotationResult
from certrotate.rotate.holds import record_hold
from certrotate.rotate.request import RotationSettings
from certrotate.validation import facts_of, leaf_sha256, load_pem_certificates

logger = Logger(child=True)
TIME_TO_IMPORT = 15.0  # seconds the import call and its read-back need at least


@dataclass(frozen=True, slots=True)
class AcmRotationRequest:
    certificate_arn: str
    force: bool = False
    dry_run: bool = False


class UnknownAcmCertificate(InvalidRequest):
    def __init__(self, arn: str) -> None:
        super().__init__(f"no ACM certificate has the ARN {arn}")


class NotImported(InvalidRequest):
    def __init__(self, arn: str, kind: str) -> None:
        super().__init__(
            f"{arn} is an ACM certificate of type {kind}: certrotate renews IMPORTED ones only "
            "(ACM renews the ones it issues)"
        )


class AcmRotationService:
    def __init__(
        self,
        *,
        certificates: AcmCertificates,
        dns: DnsChallenges,
        authority: Callable[[], CertificateAuthority],
        leases: Leases,
        progress: ProgressRecords,
        events: EventPublisher,
        clock: Clock,
        settings: RotationSettings,
        challenge_records: ChallengeRecords | None = None,  # None: DNS-01 values are not written down
        # Rotations publishing in one zone at the same time share a change (None: each its own).
        dns_batching: DnsBatching | None = None,
        stash: IssuedStash | None = None,  # None: an issued certificate not imported is lost
    ) -> None:
        self._acm = certificates
        self._challenge_records = challenge_records
        self._dns_batching = dns_batching
        self._stash = stash
        self._dns = dns
        self._authority = authority
        self._leases = leases
        self._progress = progress  # the proof behind certrotate:reimport-of (keyed by the ARN)
        self._events = events
        self._clock = clock
        self._settings = settings

    def rotate(
        self, request: AcmRotationRequest, *, deadline: float, correlation_id: str | None = None
    ) -> AcmRotationResult:
        arn = acm_rules.parse_arn(request.certificate_arn)
        correlation_id = correlation_id or str(uuid.uuid4())
        old = self._acm.describe(arn)
        if old is None:
            raise UnknownAcmCertificate(arn)
        if old.type != IMPORTED:
            raise NotImported(arn, old.type)
        if not old.as_certificate().managed:
            raise UnmanagedCertificate(arn, MANAGED_TAG)
        try:
            return self._rotate(request, old, deadline, correlation_id)
        except PermanentFailure as failure:
            self._record_hold(old, failure)
            raise

    def _rotate(
        self, request: AcmRotationRequest, old: AcmCertificate, deadline: float, correlation_id: str
    ) -> AcmRotationResult:
        arn = old.arn
        body = self._acm.body(arn)
        leaf = load_pem_certificates(body)[0]
        facts = facts_of(body)
        tags = dict(old.tags or {})
        result = AcmRotationResult(
            certificate_arn=arn,
            status="skipped",
            reason="",
            correlation_id=correlation_id,
            dns_names=list(facts.dns_names),
            serial=acm_rules.serial_hex(leaf),
            expiration=facts.not_after.isoformat(),
            in_use_by=list(old.in_use_by),
        )
        replaced = self._imported_since(arn, tags, leaf, result)
        if replaced is not None:
            result.reason = f"re-imported by an earlier run (serial {replaced} replaced by {result.serial})"
            if not request.dry_run:
                # The run that imported died before reporting: this one reports it, once (the tag goes).
                result.status = "rotated"
                self._finish(old, tags, result)
            return result

        now = self._clock.now()
        view = old.as_certificate()
        inputs = self._settings.inputs_of(view)
        decision = planning.decide_rotation(
            view,
            None,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            force=request.force,
            not_before=facts.not_before,
            inputs=inputs,
        )
        result.reason = decision.reason
        if decision.verdict in (planning.Verdict.HELD, planning.Verdict.RATE_LIMITED):
            hold = planning.held_now(view, now, inputs)
            result.held_until = hold.until.isoformat() if hold else None
        if decision.verdict is not planning.Verdict.ISSUE:
            return result

        if request.dry_run:
            result.status = "planned"
            try:
                refuse_before_ordering(arn, facts, tags, self._settings.names)
                key = self._key_and_profile(arn, leaf, facts.key, tags)
            except PermanentFailure as refusal:  # reported; a dry run holds nothing
                result.reason = str(refusal)
                result.steps.append(f"refuse before ordering: {refusal}")
                return result
            result.steps += [
                f"order a certificate for {', '.join(facts.dns_names)} with an {key} key (DNS-01)",
                f"validate its chain to {self._settings.trust_roots}",
                "check it against the old certificate: key type and size, Key Usage, Extended Key Usage, "
                "names, validity",
                f"re-import it in place into {arn} (ARN and associations stay)",
            ]
            return result

        refuse_before_ordering(arn, facts, tags, self._settings.names)
        # Before ordering: ACM keeps the key type and size, so a tag asking for another is refused now, and
        # so is a profile known to drop a Key Usage value ACM keeps.
        key = self._key_and_profile(arn, leaf, facts.key, tags)
        plan = self._plan_challenges(arn, tags, facts.dns_names, fresh_zones=request.force)
        self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
        lease = self._leases.acquire(arn, seconds=self._settings.lease_seconds)
        try:
            # Re-read under the lease: a run that held it before us may have re-imported meanwhile.
            current = self._acm.describe(arn)
            if current is None:
                raise UnknownAcmCertificate(arn)
            current_leaf = load_pem_certificates(self._acm.body(arn))[0]
            if current_leaf.serial_number != leaf.serial_number:
                result.reason = "re-imported by a concurrent run"
                result.serial = acm_rules.serial_hex(current_leaf)
                return result
            # Progress first: a crash after the import leaves this tag beside a new serial.
            self._acm.tag(arn, {REIMPORT_OF_TAG: acm_rules.serial_hex(leaf)})
            tags[REIMPORT_OF_TAG] = acm_rules.serial_hex(leaf)
            self._events.publish(EventType.ROTATION_STARTED, self._detail(old, result))
            new_leaf, issued = self._issue(old, leaf, tags, facts, plan, key, result, deadline)
            try:
                acm_rules.check_reimport(arn, leaf, new_leaf, self._clock.now())
                result.steps.append(
                    "checked against the old certificate: key, Key Usage, EKU, names, validity"
                )
                lease = self._leases.renew(lease, seconds=self._settings.lease_seconds)
                self._require_time(deadline, TIME_TO_IMPORT, "re-import the certificate")
                # The proof before the import: what this run imports over which serial (no tag writer
                # reaches it).
                self._progress.save(
                    arn,
                    ProgressRecord(acm_rules.serial_hex(leaf), arn, leaf_sha256(new_leaf)),
                    keep_until=new_leaf.not_valid_after_utc + planning.RECORD_KEPT_AFTER_EXPIRY,
                )
                self._acm.reimport(
                    arn,
                    body_pem=issued.certificate_pem,
                    chain_pem=issued.chain_pem,
                    private_key_pem=issued.private_key_pem,
                    deadline=deadline,
                )
            except (acm_rules.ReimportRefused, acm_rules.AcmRefusedImport):
                # What the certificate is was refused: importing it again cannot help. Anything else (the
                # quota, a conflict, throttling, too little time left) keeps it for the next try.
                drop_stashed(self._stash, arn)
                raise
            result.steps.append(f"re-imported into {arn}")  # _finish drops the kept certificate
            result.status = "rotated"
            result.reason = decision.reason
            result.serial = acm_rules.serial_hex(new_leaf)
            result.expiration = new_leaf.not_valid_after_utc.isoformat()
            self._finish(old, tags, result)
        finally:
            self._leases.release(lease)
        return result

    def _issue(
        self,
        old: AcmCertificate,
        leaf: x509.Certificate,
        tags: Mapping[str, str],
        facts: CertificateFacts,
        plan: ChallengePlan,
        key: KeySpec,
        result: AcmRotationResult,
        deadline: float,
    ) -> tuple[x509.Certificate, IssuedCertificate]:
        """One order (rotation.order_and_validate), or the certificate an earlier try was issued and could
        not import (the stash, as for IAM: rotation.issue_or_reuse)."""
        profile = self._settings.profile_for(tags)
        ticket = StashTicket(
            old.arn,
            f"{old.arn} {acm_rules.serial_hex(leaf)}",
            stash_inputs(facts.dns_names, key, profile, self._settings.hold_context),
        )
        issued, new_leaf = issue_or_reuse(
            self._stash,
            ticket,
            lambda: order_and_validate(
                self._authority(),
                facts.dns_names,
                PlannedChallenges(
                    plan,
                    {
                        ChallengeMethod.DNS_01: Dns01Responder(
                            self._dns, self._challenge_records, self._dns_batching
                        )
                    },
                ),
                key,
                tags=tags,
                ari_id=facts.ari_id,
                remember=lambda retry: self._acm.tag(old.arn, retry),
                settings=self._settings,
                clock=self._clock,
                deadline=deadline,
                steps=result.steps,
            ),
            names=facts.dns_names,
            key=key,
            settings=self._settings,
            clock=self._clock,
            steps=result.steps,
        )
        return new_leaf, issued

    def _key_and_profile(
        self, arn: str, leaf: x509.Certificate, old_key: KeySpec, tags: Mapping[str, str]
    ) -> KeySpec:
        """The key to order, and the profile checked against it: every re-import rule knowable before an
        order (acm_rules), raised as a PermanentFailure before any order."""
        key = acm_rules.replacement_key(arn, old_key, tags)
        refusal = acm_rules.profile_refusal(arn, leaf, key, self._settings.profile_for(tags))
        if refusal is not None:
            raise refusal
        return key

    def _plan_challenges(
        self, arn: str, tags: Mapping[str, str], dns_names: Sequence[str], *, fresh_zones: bool
    ) -> ChallengePlan:
        """DNS-01 in Route 53 for every name (HTTP-01 on an ALB is for IAM certificates only, so far).
        Raises, before any order, a PermanentFailure for an unknown certrotate:challenge value or a name
        without a zone. The zones as rotation.py's: a kept listing unless `fresh_zones` (force) or a name
        finds no zone in it."""
        forced, unknown = planning.requested_challenge_method(tags)
        if unknown:
            raise UnknownChallengeMethod(unknown)
        zones = self._dns.zones(fresh=fresh_zones, names=dns_names)
        plan, problems = planning.plan_challenges(arn, dns_names, forced=forced, zones=zones, listeners=[])
        if problems:
            raise NoChallengeMethod(problems)
        return plan

    def _finish(self, old: AcmCertificate, tags: Mapping[str, str], result: AcmRotationResult) -> None:
        """After the import (this run's or a crashed one's): read back what ACM serves, clear the progress tag
        and any hold, and report the success once."""
        now_serving = self._acm.describe(old.arn)
        if now_serving is not None:
            result.in_use_by = list(now_serving.in_use_by)
            if now_serving.not_after is not None:
                result.expiration = now_serving.not_after.isoformat()
        # The renewal time learnt for the old certificate is not the new one's: a re-import keeps the tags,
        # and a past renewal time left on it would make every redelivery, invocation and scan order again.
        # It goes whether or not this run saw it (a scan may have written it since this run read the tags).
        leftovers = [k for k in (REIMPORT_OF_TAG, RETRY_AFTER_TAG, RENEWAL_TAG, *HOLD_TAGS) if k in tags]
        self._acm.untag(old.arn, list(dict.fromkeys([*leftovers, RENEWAL_TAG])))
        if leftovers:
            result.steps.append(f"cleared the tags {', '.join(leftovers)}")
        self._progress.delete(old.arn)  # before the event: a rerun after a crash here reports nothing twice
        drop_stashed(self._stash, old.arn)  # a run that imported may have died before it dropped it
        # The run that imported may have died before this: the success is reported once, by whoever finishes.
        self._events.publish(EventType.ROTATION_SUCCEEDED, self._detail(old, result, finished=True))

    def _record_hold(self, old: AcmCertificate, failure: PermanentFailure) -> None:
        view = old.as_certificate()
        record_hold(
            lambda tags: self._acm.tag(old.arn, tags),
            view,
            failure,
            self._clock.now(),
            inputs=self._settings.inputs_of(view),
        )

    def failure_detail(
        self, certificate_arn: str, error: BaseException, correlation_id: str
    ) -> dict[str, Any]:
        return failure_detail(("certificate_arn", certificate_arn), error, correlation_id)

    def _detail(
        self, old: AcmCertificate, result: AcmRotationResult, *, finished: bool = False
    ) -> dict[str, Any]:
        """An event's detail: names, dates and what uses the certificate, never key material."""
        return {
            "certificate_arn": old.arn,
            "dns_names": list(result.dns_names),
            "expiration": old.not_after.isoformat() if old.not_after else None,
            "new_expiration": result.expiration if finished else None,
            "serial": result.serial,
            "in_use_by": list(result.in_use_by),
            "correlation_id": result.correlation_id,
        }

    def _require_time(self, deadline: float, needed: float, what: str) -> None:
        left = deadline - self._clock.monotonic()
        if left < needed:
            raise OutOfTime(f"only {left:.0f} s left, too little to {what}: a rerun continues from here")

    def _imported_since(
        self, arn: str, tags: Mapping[str, str], leaf: x509.Certificate, result: AcmRotationResult
    ) -> str | None:
        """The serial an import by an earlier run replaced, when its own progress record proves it: the
        record names the certificate ACM serves now (its leaf's SHA-256) over another serial. The tag
        certrotate:reimport-of is only a claim: one the record does not prove is reported and ignored (the
        rotation decides as if it were absent: nothing is cleared, nothing reported as done, on its word)."""
        record = self._progress.load(arn)
        serving = acm_rules.serial_hex(leaf)
        if (
            record is not None
            and record.replacement == arn
            and record.sha256 == leaf_sha256(leaf)
            and record.replaced_id != serving
        ):
            return record.replaced_id
        claimed = tags.get(REIMPORT_OF_TAG, "").strip().lower()
        if claimed and claimed != serving:
            why = "no progress record of certrotate's proves an import over it"
            logger.warning(
                "a claim that is not proven is ignored",
                extra={"certificate_arn": arn, "claimed_reimport_of": claimed[:80], "reason": why},
            )
            result.steps.append(f"ignored the claim that serial {claimed[:80]} was re-imported over: {why}")
        return None
