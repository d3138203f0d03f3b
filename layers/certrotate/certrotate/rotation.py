"""The rotation use case: one certificate, from decision to retirement, safe to rerun at any point.

Progress lives in AWS itself, so a rerun after a crash continues instead of starting over:
- the replacement's name is derived from the old certificate's ID (planning.replacement_name), and it is
  uploaded with a tag naming the certificate it replaces: a rerun finds it and never orders again;
- the old certificate is tagged `replaced-by` right after the upload and `replacement-served-since` once
  every endpoint serves the replacement; retirement waits for that tag plus the grace period;
- endpoint changes are planned from what the endpoints serve now, so repeating them is a no-op.
A lease (ports.Leases) keeps two runs from working on one certificate at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools import Logger
from cryptography import x509

from certrotate import planning
from certrotate.challenges import Dns01Responder, PlannedChallenges
from certrotate.config import TrustRoots
from certrotate.errors import (
    AliasesNotCovered,
    CertificateAlreadyExists,
    EndpointsRefused,
    KeyTypeUnsupported,
    ListenerUpdateFailed,
    LoadBalancerFull,
    NameConflict,
    NoChallengeMethod,
    OutOfTime,
    PermanentFailure,
    QuotaExhausted,
    RateLimited,
    UnknownCertificate,
    UnknownChallengeMethod,
    UnknownKeyType,
    UnmanagedCertificate,
)
from certrotate.model import (
    CertificateFacts,
    ChallengeMethod,
    ChallengePlan,
    ChangeKind,
    Endpoint,
    EndpointChange,
    EndpointKind,
    EndpointSurvey,
    IssuedCertificate,
    KeySpec,
    ServerCertificate,
    Unsearched,
)
from certrotate.names import (
    FAILURES_TAG,
    HELD_REASON_TAG,
    HELD_UNTIL_TAG,
    HOLD_TAGS,
    KEY_TYPE_TAG,
    MANAGED_TAG,
    OPERATOR_TAGS,
    PROFILE_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    SERVED_SINCE_TAG,
    EventType,
    name_tag_value,
)
from certrotate.ports import (
    CertificateAuthority,
    CertificateStore,
    ChallengeResponder,
    Clock,
    DnsChallenges,
    EndpointRecords,
    Endpoints,
    EventPublisher,
    Http01Listeners,
    Lease,
    Leases,
    RenewalInfoSource,
    RenewalInfoUnavailable,
)
from certrotate.validation import facts_of, load_trust_roots, validate_issued

logger = Logger(child=True)
Status = Literal["rotated", "skipped", "planned"]

# Seconds of Lambda time each step needs at least; below that the step is not started (a rerun continues).
TIME_TO_ORDER = 90.0
TIME_TO_CHANGE_ENDPOINT = 15.0


@dataclass(frozen=True, slots=True)
class RotationRequest:
    certificate_name: str
    force: bool = False
    dry_run: bool = False
    # Where the scan saw the certificate served: used instead of a search of every region while fresh.
    known_endpoints: planning.KnownEndpoints | None = None
    # Sent by the renewal-info re-check: before "not due", ask the CA's renewal window (the CA decides, not
    # the message; the re-check writes no renewal tag, so that it makes no IAM call).
    ask_ca: bool = False


@dataclass(slots=True)
class RotationResult:
    certificate_name: str
    status: Status
    new_certificate_name: str | None
    reason: str
    correlation_id: str
    dns_names: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # what was done, or with dry_run what would be done
    endpoints_changed: list[str] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)  # regions (or CloudFront) that refused the search
    retired: bool = False
    retirement: str | None = None
    held_until: str | None = None  # set when a permanent failure's hold-off (or the CA's) kept it back

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate_name": self.certificate_name,
            "status": self.status,
            "new_certificate_name": self.new_certificate_name,
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "dns_names": self.dns_names,
            "steps": self.steps,
            "endpoints_changed": self.endpoints_changed,
            "not_searched": self.not_searched,
            "old_certificate_retired": self.retired,
            "retirement": self.retirement,
            "held_until": self.held_until,
        }


@dataclass(frozen=True, slots=True)
class RotationSettings:
    renew_before_days: int | None
    lease_seconds: int
    grace_seconds: int
    trust_roots: TrustRoots  # config.choose_trust_roots: the bundle, Let's Encrypt staging's or certifi's
    # A full ALB/NLB (TooManyCertificates): remove the old SNI certificate, then add the new one. For the
    # seconds between the two calls, SNI clients asking for those names get the listener's default.
    sni_swap_when_full: bool = False


class RotationService:
    def __init__(
        self,
        *,
        store: CertificateStore,
        endpoints: Endpoints,
        dns: DnsChallenges,
        authority: Callable[[], CertificateAuthority],  # built on first order only: acme is heavy to import
        leases: Leases,
        events: EventPublisher,
        clock: Clock,
        settings: RotationSettings,
        after_repoint: Callable[[ServerCertificate, RotationResult, float], None] | None = None,
        http01: Http01Listeners | None = None,  # None: names are validated by DNS-01 only
        # The scan index's endpoint records (None: a rotation handed no endpoints always searches).
        records: EndpointRecords | None = None,
        # The CA's renewal windows (ARI), asked when a request says so (built on first use: acme is heavy).
        renewal_info: Callable[[], RenewalInfoSource] | None = None,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._dns = dns
        self._http01 = http01
        self._authority = authority
        self._leases = leases
        self._events = events
        self._clock = clock
        self._settings = settings
        self._after_repoint = after_repoint  # a report on the endpoints (never raises, never a gate)
        self._records = records
        self._renewal_info = renewal_info

    # -- entry point -----------------------------------------------------------------------------------

    def rotate(
        self, request: RotationRequest, *, deadline: float, correlation_id: str | None = None
    ) -> RotationResult:
        """Rotate one certificate. `deadline` is a Clock.monotonic() value by which the call must return."""
        correlation_id = correlation_id or str(uuid.uuid4())
        stored = self._store.get(request.certificate_name)
        if stored is None:
            raise UnknownCertificate(request.certificate_name)
        old = stored.metadata
        if not old.managed:
            raise UnmanagedCertificate(old.name, MANAGED_TAG)
        try:
            return self._rotate(request, old, stored.body_pem, deadline, correlation_id)
        except PermanentFailure as failure:
            # No retry can fix it: hold redeliveries and scans off so that they order nothing more.
            self._record_hold(old, failure)
            raise

    def _rotate(
        self,
        request: RotationRequest,
        old: ServerCertificate,
        body_pem: str,
        deadline: float,
        correlation_id: str,
    ) -> RotationResult:
        facts = facts_of(body_pem)
        existing = self._existing_replacement(old)
        now = self._clock.now()
        decision = planning.decide_rotation(
            old,
            existing,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            force=request.force,
            not_before=facts.not_before,
        )
        if request.ask_ca and decision.verdict is planning.Verdict.NOT_DUE:
            decision = self._with_window_asked(decision, facts, now)
        result = RotationResult(
            certificate_name=old.name,
            status="skipped",
            new_certificate_name=None,
            reason=decision.reason,
            correlation_id=correlation_id,
            dns_names=list(facts.dns_names),
        )
        verdict = decision.verdict
        if verdict in (planning.Verdict.HELD, planning.Verdict.RATE_LIMITED):
            hold = planning.held_now(old, now)
            result.held_until = hold.until.isoformat() if hold else None
            if old.replaced_by:
                result.new_certificate_name = old.replaced_by
        if verdict in (planning.Verdict.NOT_DUE, planning.Verdict.RATE_LIMITED, planning.Verdict.HELD):
            return result
        if verdict is planning.Verdict.RESUME:
            result.new_certificate_name = decision.replacement_name
        if request.dry_run:
            return self._dry_run(old, decision, facts, result)

        if verdict is planning.Verdict.ISSUE:
            self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
            used, quota = self._store.room()
            if used >= quota:
                raise QuotaExhausted(used, quota)

        held = _HeldLease(
            self._leases,
            self._leases.acquire(old.name, seconds=self._settings.lease_seconds),
            self._settings.lease_seconds,
        )
        try:
            return self._run(old, facts, decision, result, held, deadline, request.known_endpoints)
        finally:
            held.release()

    # -- steps -----------------------------------------------------------------------------------------

    def _run(
        self,
        old: ServerCertificate,
        facts: CertificateFacts,
        decision: planning.RotationDecision,
        result: RotationResult,
        lease: _HeldLease,
        deadline: float,
        known: planning.KnownEndpoints | None = None,
    ) -> RotationResult:
        dns_names = facts.dns_names
        # Re-read under the lease: a run that held it before us may have finished meanwhile.
        refreshed = self._store.get(old.name)
        if refreshed is None:
            raise UnknownCertificate(old.name)
        old = refreshed.metadata
        replacement_meta = self._existing_replacement(old)
        if decision.verdict is planning.Verdict.ISSUE and (old.replaced_by or replacement_meta):
            decision = planning.RotationDecision(
                planning.Verdict.RESUME,
                "replaced by a concurrent run",
                old.replaced_by or decision.replacement_name,
            )
            result.reason = decision.reason
            result.new_certificate_name = decision.replacement_name

        # Where the old certificate is served, found once (before ordering, for the key check) and handed on.
        found_serving: tuple[EndpointSurvey, list[Endpoint]] | None = None
        if decision.verdict is planning.Verdict.ISSUE:
            found_serving = self._serving(old, known, result)
            key = self._key_for_endpoints(old, facts.key, found_serving[1])
            plan = self._plan_challenges(old, dns_names, found_serving[1])
            self._events.publish(EventType.ROTATION_STARTED, self._detail(old, dns_names, result))
            replacement_meta = self._issue_and_upload(
                old, facts, key, decision.replacement_name, result, deadline, plan
            )
            result.status = "rotated"
            result.new_certificate_name = replacement_meta.name
            lease.renew()
        else:
            result.steps.append(f"resume: {decision.reason}")
            name = decision.replacement_name
            found = self._store.get(name)
            if found is None:
                # The tag names a replacement that no longer exists: never delete the old one then.
                raise NameConflict(f"{old.name} is tagged as replaced by {name!r}, which does not exist")
            replacement_meta = found.metadata

        if old.replaced_by != replacement_meta.name:
            replaced_by = {REPLACED_BY_TAG: name_tag_value(replacement_meta.name)}
            self._store.tag(old.name, replaced_by)
            old = replace(old, tags={**old.tags, **replaced_by})
            result.steps.append(f"marked {old.name} as replaced by {replacement_meta.name}")

        if found_serving is None:
            found_serving = self._serving(old, known, result)
        old, unsearched = self._repoint(old, replacement_meta, dns_names, result, deadline, found_serving)
        if self._after_repoint is not None:
            self._after_repoint(replacement_meta, result, deadline)
        if any(key in old.tags for key in HOLD_TAGS):
            # A success ends the run of failures: the next permanent one starts again at 24 hours.
            self._store.untag(old.name, list(HOLD_TAGS))
            old = replace(old, tags={k: v for k, v in old.tags.items() if k not in HOLD_TAGS})
            result.steps.append(f"cleared the hold-off tags of {old.name}")
        lease.renew()
        self._retire(old, replacement_meta, result, unsearched)
        if result.status == "rotated":
            detail = self._detail(old, dns_names, result, replacement_meta)
            self._events.publish(EventType.ROTATION_SUCCEEDED, detail)
        return result

    def _issue_and_upload(
        self,
        old: ServerCertificate,
        facts: CertificateFacts,
        key: KeySpec,
        name: str,
        result: RotationResult,
        deadline: float,
        plan: ChallengePlan,
    ) -> ServerCertificate:
        # The endpoint search before this may have used up the time: then a rerun continues.
        self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
        issued, _ = order_and_validate(
            self._authority(),
            facts.dns_names,
            PlannedChallenges(plan, self._responders()),
            key,
            tags=old.tags,
            ari_id=facts.ari_id,
            remember=lambda tags: self._store.tag(old.name, tags),
            settings=self._settings,
            clock=self._clock,
            deadline=deadline,
            steps=result.steps,
        )
        tags = {MANAGED_TAG: "true", REPLACES_TAG: name_tag_value(old.name)}
        # The operator's choices stay with the certificate across rotations.
        tags.update({key: old.tags[key] for key in OPERATOR_TAGS if old.tags.get(key)})
        try:
            uploaded = self._store.upload(
                name=name,
                path=old.path,
                body_pem=issued.certificate_pem,
                chain_pem=issued.chain_pem,
                private_key_pem=issued.private_key_pem,
                tags=tags,
            )
        except CertificateAlreadyExists:
            # A run we cannot see (e.g. its reply was lost) uploaded it: use it if it is ours.
            found = self._store.get(name)
            if found is None or found.metadata.replaces != old.name:
                raise NameConflict(f"the replacement name {name!r} is taken by another certificate") from None
            uploaded = found.metadata
        if old.retry_after is not None:
            self._store.untag(old.name, [RETRY_AFTER_TAG])
        result.steps.append(f"uploaded {uploaded.name} (path {uploaded.path})")
        return uploaded

    def _repoint(
        self,
        old: ServerCertificate,
        new: ServerCertificate,
        dns_names: Sequence[str],
        result: RotationResult,
        deadline: float,
        found: tuple[EndpointSurvey, list[Endpoint]],
    ) -> tuple[ServerCertificate, tuple[Unsearched, ...]]:
        """Repoint every endpoint `found` serving the old certificate (see `_serving`); return the old
        certificate (tagged served-since once the replacement serves everywhere) and where the search
        could not look. Each endpoint is read again right before it is changed: an earlier search is fine."""
        survey, serving = found
        failures: list[str] = []
        errors: list[Exception] = []
        for listed in serving:
            try:
                kinds = self._change_endpoint(listed, old, new, dns_names, deadline)
            except OutOfTime:
                raise
            except Exception as exc:  # one broken listener must not stop the others from being repointed
                failures.append(f"{listed.label}: {exc}")
                errors.append(exc)
                continue
            if kinds:
                result.endpoints_changed.append(listed.label)
                result.steps.append(f"{listed.label} now serves {new.name} ({', '.join(kinds)})")
            else:
                result.steps.append(f"{listed.label} no longer serves {old.name}: left as it is")
        if failures:
            unseen = "".join(f"; not searched: {u}" for u in survey.unsearched)
            message = f"{len(failures)} endpoint(s) still serve {old.name}: " + "; ".join(failures) + unseen
            permanent = [e for e in errors if isinstance(e, PermanentFailure)]
            if len(permanent) == len(errors) == 1 and not survey.unsearched:  # it names what to do already
                raise permanent[0]
            if len(permanent) == len(errors):  # a retry would only meet the same refusals again
                raise EndpointsRefused(message, fix="; ".join(dict.fromkeys(e.fix for e in permanent)))
            raise ListenerUpdateFailed(message)
        if survey.unsearched:
            # Where we cannot look, the old certificate may still serve: it does not serve "everywhere" yet.
            # No served-since tag, so the scan resumes this rotation until every region answers.
            result.not_searched = [str(u) for u in survey.unsearched]
            result.steps.append(
                f"not searched: {', '.join(result.not_searched)}: {old.name} may still be served there"
            )
            return old, survey.unsearched
        if old.replacement_served_since is None:
            served = self._clock.now().isoformat()
            self._store.tag(old.name, {SERVED_SINCE_TAG: served})
            old = replace(old, tags={**old.tags, SERVED_SINCE_TAG: served})
        return old, ()

    def _change_endpoint(
        self,
        listed: Endpoint,
        old: ServerCertificate,
        new: ServerCertificate,
        dns_names: Sequence[str],
        deadline: float,
    ) -> list[str]:
        """Repoint one endpoint from its state right now (someone may have changed it since it was listed);
        return the kinds of change made."""
        self._require_time(deadline, TIME_TO_CHANGE_ENDPOINT, f"change {listed.label}")
        endpoint = self._endpoints.read(listed)
        if endpoint is None:
            return []  # deleted meanwhile: it serves nothing any more
        if endpoint.kind is EndpointKind.CLOUDFRONT:
            # CloudFront refuses a certificate that misses an alias (InvalidViewerCertificate, as it answers
            # while IAM lags): tell the two apart before the call, and retry only the lag.
            missing = planning.uncovered_aliases(endpoint.aliases, dns_names)
            if missing:
                raise AliasesNotCovered(endpoint.resource_id, missing)
        changes = planning.plan_endpoint_changes(
            [endpoint], old_arn=old.arn, old_id=old.certificate_id, new_arn=new.arn, new_id=new.certificate_id
        )
        touched = {c.certificate for c in changes}
        if any(c.kind is ChangeKind.SET_DEFAULT for c in changes) and endpoint.default_certificate:
            touched.add(endpoint.default_certificate)  # the old default, which the swap replaces
        done: list[str] = []
        for change in changes:
            if change.kind.value in done:
                continue  # the swap below made it already
            self._require_time(deadline, TIME_TO_CHANGE_ENDPOINT, f"change {endpoint.label}")
            try:
                after = self._endpoints.apply(change, deadline=deadline)
            except LoadBalancerFull:
                if not (self._settings.sni_swap_when_full and change.kind is ChangeKind.ADD_SNI):
                    raise
                after = self._swap_when_full(endpoint, change, old, deadline)
                done.append(ChangeKind.REMOVE_SNI.value)
            if after is None:
                return []
            if not planning.change_applied(change, after):
                raise ListenerUpdateFailed(f"{change.kind.value} of {change.certificate} did not take effect")
            # Read back: every certificate the rotation did not touch is still there.
            if not planning.others_unchanged(endpoint, after, sorted(touched)):
                raise ListenerUpdateFailed(f"{change.kind.value} changed other certificates on the endpoint")
            done.append(change.kind.value)
        return done

    def _swap_when_full(
        self, endpoint: Endpoint, add: EndpointChange, old: ServerCertificate, deadline: float
    ) -> Endpoint | None:
        """The SNI list is full (opted in with SNI_SWAP_WHEN_FULL): remove the old certificate, then add the
        new one. Between the two calls SNI clients for these names get the listener's default certificate."""
        old_ref = planning.reference_for(endpoint, old.arn, old.certificate_id)
        remove = EndpointChange(endpoint, ChangeKind.REMOVE_SNI, old_ref)
        after = self._endpoints.apply(remove, deadline=deadline)
        if after is None:
            return None
        if not planning.change_applied(remove, after):
            raise ListenerUpdateFailed(f"{remove.kind.value} of {remove.certificate} did not take effect")
        try:
            return self._endpoints.apply(add, deadline=deadline)
        except Exception:
            # Put the old one back rather than leave the names to the default certificate.
            self._endpoints.apply(EndpointChange(endpoint, ChangeKind.ADD_SNI, old_ref), deadline=deadline)
            raise

    def _retire(
        self,
        old: ServerCertificate,
        new: ServerCertificate,
        result: RotationResult,
        unsearched: Sequence[Unsearched],
    ) -> None:
        """Delete the old certificate only when nothing serves it anywhere, checked right before the delete:
        every region searched, no listener or distribution on it, CloudFront's change deployed."""
        now = self._clock.now()
        grace = self._settings.grace_seconds
        decision = planning.decide_retirement(old, [], now=now, grace_seconds=grace, unsearched=unsearched)
        if decision.verdict is planning.RetirementVerdict.DELETE:
            survey = self._endpoints.discover(include_cloudfront=True)
            decision = planning.decide_retirement_after_search(old, new, survey, now=now, grace_seconds=grace)
            result.not_searched = [str(u) for u in survey.unsearched]
        result.retirement = f"{decision.verdict.value}: {decision.reason}"
        if decision.verdict is not planning.RetirementVerdict.DELETE:
            return
        if self._store.delete(old.name):
            result.retired = True
            result.steps.append(f"deleted {old.name}")
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

    # -- helpers ---------------------------------------------------------------------------------------

    def _serving(
        self, old: ServerCertificate, known: planning.KnownEndpoints | None, result: RotationResult
    ) -> tuple[EndpointSurvey, list[Endpoint]]:
        """Where the old certificate is served: from a fresh list of the scan's (`known`, in its message)
        without searching every region; else from the scan index's record of its last search, each endpoint
        read and still serving the certificate; else (no record, an old or empty one, or one a check finds
        out of date) from a search. One that started serving it after the scan's search is missed here, but
        never lost: the retirement check searches everywhere, keeps the certificate, and the scan sends a
        rotation for what it found (docs/design.md)."""
        now = self._clock.now()
        if known is not None and known.usable(now):
            result.steps.append(
                f"{len(known.endpoints)} endpoint(s) from the scan's search at {known.seen_at.isoformat()}"
            )
            return EndpointSurvey(known.endpoints), list(known.endpoints)
        record = planning.record_to_check(
            self._records.served(old.certificate_id) if self._records is not None else None, now
        )
        if record is not None:
            reads = [self._endpoints.read(endpoint) for endpoint in record.endpoints]
            confirmed = planning.confirmed_endpoints(reads, old.arn, old.certificate_id)
            if confirmed is not None:
                result.steps.append(
                    f"{len(confirmed)} endpoint(s) from the scan index (search at "
                    f"{record.seen_at.isoformat()}), each read and still serving {old.name}"
                )
                return EndpointSurvey(tuple(confirmed)), confirmed
            result.steps.append(
                f"the scan index's endpoints (search at {record.seen_at.isoformat()}) no longer all serve "
                f"{old.name}: searching every region"
            )
        survey = self._endpoints.discover(include_cloudfront=old.for_cloudfront)
        return survey, planning.endpoints_serving(survey.endpoints, old.arn, old.certificate_id)

    def _key_for_endpoints(
        self, old: ServerCertificate, old_key: KeySpec, serving: list[Endpoint]
    ) -> KeySpec:
        """The replacement's key (tag certrotate:key-type, else the old key's kind), checked against every
        endpoint serving the certificate. Raises, before any order, a PermanentFailure for an unknown tag
        value or a key an endpoint serving the certificate cannot use."""
        key = planning.requested_key(old.tags, old_key)
        if key is None:
            raise UnknownKeyType(old.tags.get(KEY_TYPE_TAG, ""), list(planning.KEY_TYPES))
        refusing = planning.endpoints_refusing(key, serving)
        if refusing:
            raise KeyTypeUnsupported(str(key), [e.where for e in refusing])
        return key

    def _plan_challenges(
        self, old: ServerCertificate, dns_names: Sequence[str], serving: Sequence[Endpoint]
    ) -> ChallengePlan:
        """How each name will be validated (planning.plan_challenges), from the zones and the port-80
        listeners of the ALBs serving the certificate. Raises, before any order, a PermanentFailure for an
        unknown certrotate:challenge value or a name that no method can answer (each such name named)."""
        forced, unknown = planning.requested_challenge_method(old.tags)
        if unknown:
            raise UnknownChallengeMethod(unknown)
        zones = self._dns.zones()
        listeners = (
            self._http01.port80_listeners(serving)
            if self._http01 is not None and planning.needs_http01(dns_names, forced, zones)
            else []
        )
        plan, problems = planning.plan_challenges(
            old.name,
            dns_names,
            forced=forced,
            zones=zones,
            listeners=listeners,
            left_by=[old.replaces] if old.replaces else [],
        )
        if problems:
            raise NoChallengeMethod(problems)
        return plan

    def _responders(self) -> dict[ChallengeMethod, ChallengeResponder]:
        responders: dict[ChallengeMethod, ChallengeResponder] = {
            ChallengeMethod.DNS_01: Dns01Responder(self._dns)
        }
        if self._http01 is not None:
            responders[ChallengeMethod.HTTP_01] = self._http01
        return responders

    def _existing_replacement(self, old: ServerCertificate) -> ServerCertificate | None:
        if old.replaced_by:
            return None
        name = planning.replacement_name(old.name, old.certificate_id)
        found = self._store.get(name)
        if found is None:
            return None
        if found.metadata.replaces != old.name:
            raise NameConflict(
                f"the replacement name {name!r} is taken by a certificate that does not replace {old.name!r}"
            )
        return found.metadata

    def _dry_run(
        self,
        old: ServerCertificate,
        decision: planning.RotationDecision,
        facts: CertificateFacts,
        result: RotationResult,
    ) -> RotationResult:
        result.status = "planned"
        dns_names = facts.dns_names
        survey = self._endpoints.discover(include_cloudfront=old.for_cloudfront)  # a dry run is never queued
        serving = planning.endpoints_serving(survey.endpoints, old.arn, old.certificate_id)
        if decision.verdict is planning.Verdict.ISSUE:
            try:
                key = self._key_for_endpoints(old, facts.key, serving)
                plan = self._plan_challenges(old, dns_names, serving)
            except (UnknownKeyType, KeyTypeUnsupported, UnknownChallengeMethod, NoChallengeMethod) as refusal:
                result.reason = str(refusal)  # reported; a dry run holds nothing
                result.steps.append(f"refuse before ordering: {refusal}")
                return result
            used, quota = self._store.room()
            result.steps.append(f"check room: {used} of {quota} server certificates used")
            result.steps.append(f"order a certificate for {', '.join(dns_names)} with an {key} key")
            for route in plan.routes:
                result.steps.append(f"answer {route.name} by {route.method.value} on {route.where}")
            result.steps.append(f"validate its chain to {self._settings.trust_roots}")
            result.steps.append(f"upload it as {decision.replacement_name} (path {old.path})")
            new_arn, new_id = "<replacement>", "<replacement>"
        else:
            result.steps.append(f"resume: {decision.reason}")
            found = self._store.get(decision.replacement_name)
            new_arn = found.metadata.arn if found else "<replacement>"
            new_id = found.metadata.certificate_id if found else "<replacement>"
        for change in planning.plan_endpoint_changes(
            serving, old_arn=old.arn, old_id=old.certificate_id, new_arn=new_arn, new_id=new_id
        ):
            result.steps.append(f"{change.kind.value} on {change.endpoint.label}")
        if survey.unsearched:
            result.not_searched = [str(u) for u in survey.unsearched]
            result.steps.append(f"not searched: {', '.join(result.not_searched)}")
        result.steps.append(
            f"retire {old.name} once nothing serves it in any region or on CloudFront and "
            f"{self._settings.grace_seconds} s have passed"
        )
        return result

    def _with_window_asked(
        self, decision: planning.RotationDecision, facts: CertificateFacts, now: datetime
    ) -> planning.RotationDecision:
        """The decision once the CA is asked for the certificate's renewal window (one unauthenticated GET):
        a message that says the window moved is a claim; the CA's answer is what counts."""
        if self._renewal_info is None or facts.ari_id is None:
            return decision
        try:
            source = self._renewal_info()
            if not source.offered():
                return decision
            window = source.window(facts.ari_id)
        except RenewalInfoUnavailable as unavailable:
            logger.info("the CA has no renewal window for it: not due", extra={"reason": str(unavailable)})
            return decision
        return planning.decide_with_window(decision, window.start, window.end, now)

    def _require_time(self, deadline: float, needed: float, what: str) -> None:
        left = deadline - self._clock.monotonic()
        if left < needed:
            raise OutOfTime(f"only {left:.0f} s left, too little to {what}: a rerun continues from here")

    def _detail(
        self,
        old: ServerCertificate,
        dns_names: Sequence[str],
        result: RotationResult,
        new: ServerCertificate | None = None,
    ) -> dict[str, Any]:
        """An event's detail: names, dates and endpoints, never key material."""
        return {
            "certificate_name": old.name,
            "certificate_arn": old.arn,
            "new_certificate_name": result.new_certificate_name,
            "new_certificate_arn": new.arn if new else None,
            "dns_names": list(dns_names),
            "expiration": old.expiration.isoformat(),
            "new_expiration": new.expiration.isoformat() if new else None,
            "endpoints_changed": list(result.endpoints_changed),
            "not_searched": list(result.not_searched),
            "retirement": result.retirement,
            "correlation_id": result.correlation_id,
        }

    def failure_detail(
        self, certificate_name: str, error: BaseException, correlation_id: str
    ) -> dict[str, Any]:
        return failure_detail(("certificate_name", certificate_name), error, correlation_id)

    def _record_hold(self, old: ServerCertificate, failure: PermanentFailure) -> None:
        record_hold(lambda tags: self._store.tag(old.name, tags), old, failure, self._clock.now())


def order_and_validate(
    authority: CertificateAuthority,
    names: Sequence[str],
    challenges: PlannedChallenges,
    key: KeySpec,
    *,
    tags: Mapping[str, str],
    ari_id: str | None,
    remember: Callable[[Mapping[str, str]], None],
    settings: RotationSettings,
    clock: Clock,
    deadline: float,
    steps: list[str],
) -> tuple[IssuedCertificate, x509.Certificate]:
    """One ACME order for the plan's names (`replaces` the old certificate's ARI id, the profile its tag asks
    for), then its chain, key, names and validity checked; returns it and its leaf. A CA's rate limit is
    remembered on the certificate (`remember` tags it) so that neither scans nor retries hammer the CA."""
    try:
        issued = authority.issue(
            names,
            key,
            challenges,
            deadline=deadline,
            replaces=ari_id,
            profile=tags.get(PROFILE_TAG) or None,
        )
    except RateLimited as exc:
        remember({RETRY_AFTER_TAG: exc.retry_at.isoformat()})
        raise
    steps.append(f"issued a certificate for {', '.join(names)} with an {key} key")
    steps.extend(f"validated {r.name} by {r.method.value} on {r.where}" for r in challenges.plan.routes)
    leaf = validate_issued(
        issued,
        required_names=names,
        expected_key=key,
        trust_roots=load_trust_roots(settings.trust_roots),
        trust_name=str(settings.trust_roots),
        now=clock.now(),
    )
    steps.append(f"validated chain (to {settings.trust_roots}), key, names and validity")
    return issued, leaf


def failure_detail(subject: tuple[str, str], error: BaseException, correlation_id: str) -> dict[str, Any]:
    """A failure event's detail: what failed (`subject`: its key and value), whether a retry can fix it, and
    if not, the hold-off and what the operator must change."""
    key, value = subject
    detail: dict[str, Any] = {
        key: value,
        "error": type(error).__name__,
        "message": str(error),
        "permanent": isinstance(error, PermanentFailure),
        "correlation_id": correlation_id,
    }
    if isinstance(error, PermanentFailure):
        held_until = error.held_until
        detail["held_until"] = held_until.isoformat() if held_until else None
        detail["failures"] = error.failures
        detail["fix"] = error.fix
    return detail


def record_hold(
    tag: Callable[[Mapping[str, str]], None],
    certificate: ServerCertificate,
    failure: PermanentFailure,
    now: datetime,
) -> None:
    """Tag the certificate (through `tag`) with the hold-off after a failure no retry fixes; never let the
    tagging hide the failure itself."""
    hold = planning.hold_after_failure(certificate, f"{type(failure).__name__}: {failure}", now)
    try:
        tag(
            {
                HELD_UNTIL_TAG: hold.until.isoformat(),
                HELD_REASON_TAG: hold.reason,
                FAILURES_TAG: str(hold.failures),
            }
        )
    except Exception as exc:  # the certificate may be gone, or AWS throttled us beyond retries
        failure.add_note(f"the hold-off could not be recorded: {type(exc).__name__}")
        return
    failure.held_until = hold.until
    failure.failures = hold.failures


class _HeldLease:
    """The lease a run holds, renewed between long steps; released with its latest version."""

    def __init__(self, leases: Leases, lease: Lease, seconds: int) -> None:
        self._leases = leases
        self._lease = lease
        self._seconds = seconds

    def renew(self) -> None:
        self._lease = self._leases.renew(self._lease, seconds=self._seconds)

    def release(self) -> None:
        self._leases.release(self._lease)
