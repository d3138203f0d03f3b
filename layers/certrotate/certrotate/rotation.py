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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from certrotate import planning
from certrotate.claims import Claim, ClaimVerifier, proven
from certrotate.deploy.deployment import Deployment
from certrotate.deploy.locate import Located, Locator
from certrotate.errors import (
    CertificateAlreadyExists,
    ConfigurationError,
    KeyTypeUnsupported,
    NameConflict,
    NoChallengeMethod,
    OutOfTime,
    PermanentFailure,
    QuotaExhausted,
    UnknownCertificate,
    UnknownChallengeMethod,
    UnknownKeyType,
    UnmanagedCertificate,
    UploadRefused,
    ValidationFailed,
)
from certrotate.model import (
    CertificateFacts,
    ChallengeMethod,
    ChallengePlan,
    Endpoint,
    KeySpec,
    ProgressRecord,
    ServerCertificate,
)
from certrotate.names import (
    HOLD_TAGS,
    KEY_TYPE_TAG,
    MANAGED_TAG,
    OPERATOR_TAGS,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    ROLLBACK_TAGS,
    ROLLED_BACK_TO_TAG,
    EventType,
    name_tag_value,
)
from certrotate.order.challenges import Dns01Responder, PlannedChallenges
from certrotate.order.issue import TIME_TO_ORDER as TIME_TO_ORDER
from certrotate.order.issue import StashTicket as StashTicket
from certrotate.order.issue import drop_stashed as drop_stashed
from certrotate.order.issue import issue_or_reuse as issue_or_reuse
from certrotate.order.issue import order_and_validate as order_and_validate
from certrotate.order.issue import refuse_before_ordering as refuse_before_ordering
from certrotate.order.issue import stash_inputs as stash_inputs
from certrotate.ports import (
    CertificateAuthority,
    CertificateStore,
    ChallengeRecords,
    ChallengeResponder,
    Clock,
    DnsBatching,
    DnsChallenges,
    EndpointRecords,
    Endpoints,
    EventPublisher,
    Http01Listeners,
    IssuedStash,
    Lease,
    Leases,
    ProgressRecords,
    RenewalInfoSource,
    RenewalInfoUnavailable,
    StoredCertificate,
)
from certrotate.report.events import failure_detail as failure_detail
from certrotate.report.results import RotationResult as RotationResult
from certrotate.retire.retirement import Retirement
from certrotate.rotate.holds import record_hold as record_hold
from certrotate.rotate.request import RotationRequest as RotationRequest
from certrotate.rotate.request import RotationSettings as RotationSettings
from certrotate.validation import (
    facts_of,
    leaf_sha256,
    load_pem_certificates,
    load_trust_roots,
)

logger = Logger(child=True)

# Clocks of different containers differ: a run's read is trusted under its lease only this much inside the
# retirement grace period (see RotationService._run).
CLOCK_SKEW_MARGIN = 60.0


class RotationService:
    def __init__(
        self,
        *,
        store: CertificateStore,
        endpoints: Endpoints,
        dns: DnsChallenges,
        authority: Callable[[], CertificateAuthority],  # built on first order only: acme is heavy to import
        leases: Leases,
        progress: ProgressRecords,
        events: EventPublisher,
        clock: Clock,
        settings: RotationSettings,
        after_repoint: Callable[[ServerCertificate, RotationResult, float], None] | None = None,
        http01: Http01Listeners | None = None,  # None: names are validated by DNS-01 only
        challenge_records: ChallengeRecords | None = None,  # None: DNS-01 values are not written down
        # Rotations publishing in one zone at the same time share a change (None: each its own).
        dns_batching: DnsBatching | None = None,
        stash: IssuedStash | None = None,  # None: an issued certificate not stored is lost
        # The scan index's endpoint records (None: a rotation handed no endpoints always searches).
        records: EndpointRecords | None = None,
        # The CA's renewal windows (ARI), asked when a request says so (built on first use: acme is heavy).
        renewal_info: Callable[[], RenewalInfoSource] | None = None,
    ) -> None:
        self._store = store
        self._stash = stash
        self._endpoints = endpoints
        self._dns = dns
        self._http01 = http01
        self._challenge_records = challenge_records
        self._dns_batching = dns_batching
        self._authority = authority
        self._leases = leases
        self._progress = progress
        self._claims = ClaimVerifier(
            store=store, progress=progress, trust_roots=settings.trust_roots, clock=clock
        )
        self._events = events
        self._clock = clock
        self._settings = settings
        self._renewal_info = renewal_info
        # Adapters are held as objects, never as bound methods: tests patch adapter classes after wiring
        # built (and cached) this service.
        self._locator = Locator(endpoints, records, clock)
        self._deployment = Deployment(
            store=store,
            endpoints=endpoints,
            progress=progress,
            locator=self._locator,
            clock=clock,
            sni_swap_when_full=settings.sni_swap_when_full,
            after_repoint=after_repoint,
        )
        self._retirement = Retirement(
            endpoints=endpoints,
            store=store,
            events=events,
            clock=clock,
            grace_seconds=settings.grace_seconds,
            forget=progress,
        )

    # -- entry point -----------------------------------------------------------------------------------

    def rotate(
        self, request: RotationRequest, *, deadline: float, correlation_id: str | None = None
    ) -> RotationResult:
        """Rotate one certificate. `deadline` is a Clock.monotonic() value by which the call must return."""
        correlation_id = correlation_id or str(uuid.uuid4())
        read_at = self._clock.monotonic()  # before what IAM says is read
        stored = self._store.get(request.certificate_name)
        if stored is None:
            raise UnknownCertificate(request.certificate_name)
        old = stored.metadata
        if not old.managed:
            raise UnmanagedCertificate(old.name, MANAGED_TAG)
        try:
            return self._rotate(request, old, stored.body_pem, deadline, correlation_id, read_at)
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
        read_at: float | None = None,
    ) -> RotationResult:
        facts = facts_of(body_pem)
        assessed = self._assess(old, facts.dns_names)
        view = assessed.view  # the certificate as far as its claims are proven
        now = self._clock.now()
        inputs = self._settings.inputs_of(old)
        decision = planning.decide_rotation(
            view,
            None,
            now=now,
            renew_before_days=self._settings.renew_before_days,
            force=request.force,
            not_before=facts.not_before,
            inputs=inputs,
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
        for claim in assessed.unproven:
            self._report_unproven(old, claim, result)
        verdict = decision.verdict
        if verdict in (planning.Verdict.HELD, planning.Verdict.RATE_LIMITED):
            hold = planning.held_now(view, now, inputs)
            result.held_until = hold.until.isoformat() if hold else None
            if view.replaced_by:
                result.new_certificate_name = view.replaced_by
        if verdict is planning.Verdict.ROLLED_BACK:
            result.new_certificate_name = view.rolled_back_from or view.replaced_by
        if verdict in (
            planning.Verdict.NOT_DUE,
            planning.Verdict.RATE_LIMITED,
            planning.Verdict.HELD,
            planning.Verdict.ROLLED_BACK,
        ):
            return result
        adopt = False
        if verdict is planning.Verdict.ISSUE and assessed.adoptable is not None:
            claimed = assessed.adoptable.check.claimed
            if not request.force:
                # It looks like the work of a rotation started before progress records: an operator
                # checks it and adopts it with force; no tag and no scan does.
                result.reason = (
                    f"{claimed} claims to replace {old.name} and is not proven "
                    f"({assessed.adoptable.check.reason}): nothing is moved or deleted on its word; if it is "
                    "the replacement a rotation started before this version uploaded, force=true adopts it "
                    "after these checks, else delete it"
                )
                return result
            adopt = True
            decision = planning.RotationDecision(
                planning.Verdict.RESUME,
                f"adopting {claimed} (forced): every check but the record holds",
                claimed,
            )
            verdict = decision.verdict
        if verdict is planning.Verdict.ISSUE and assessed.taken is not None:
            raise _name_taken(old, assessed.taken)
        result.reason = decision.reason
        if verdict is planning.Verdict.RESUME:
            result.new_certificate_name = decision.replacement_name
        if request.dry_run:
            return self._dry_run(view, decision, facts, result)

        if verdict is planning.Verdict.ISSUE:
            refuse_before_ordering(old.name, facts, old.tags, self._settings.names)
            self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
            # A reading a minute old will do while there is plenty of room: the upload is the real check,
            # and a refused one keeps the issued certificate (issue_or_reuse) for a later try.
            used, quota = self._store.room(kept=True)
            if used >= quota:
                raise QuotaExhausted(used, quota)

        held = _HeldLease(
            self._leases,
            self._leases.acquire(old.name, seconds=self._settings.lease_seconds),
            self._settings.lease_seconds,
        )
        try:
            return self._run(
                old,
                facts,
                decision,
                result,
                held,
                deadline,
                request.known_endpoints,
                adopt,
                assessed,
                read_at,
                fresh_zones=request.force,
            )
        finally:
            held.release()

    # -- claims ----------------------------------------------------------------------------------------

    def _assess(self, old: ServerCertificate, names: Sequence[str]) -> _Assessment:
        """What the bookkeeping tags (and the replacement's name) claim about `old`, and what is proven."""
        claims = self._claims.claims(old, names)
        good = proven(claims)
        unproven = [c for c in claims if not c.proven]
        view = planning.trusted_view(old, good.check.claimed if good else None, good.record if good else None)
        deterministic = planning.replacement_name(old.name, old.certificate_id)
        return _Assessment(
            view=view,
            claim=good,
            unproven=unproven,
            adoptable=None if good else next((c for c in unproven if c.check.adoptable), None),
            taken=(
                None
                if good
                else next(
                    (c for c in unproven if c.check.claimed == deterministic and c.replacement is not None),
                    None,
                )
            ),
        )

    def _report_unproven(self, old: ServerCertificate, claim: Claim, result: RotationResult) -> None:
        """A claim that fails its proof is reported and ignored: nothing served, resumed or retired on it."""
        check = claim.check
        logger.warning(
            "a claim that is not proven is ignored",
            extra={
                "certificate_name": old.name,
                "claimed_replacement": check.claimed,
                "reason": check.reason,
            },
        )
        result.steps.append(f"ignored the claim that {check.claimed} replaces {old.name}: {check.reason}")

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
        adopt: bool = False,
        before: _Assessment | None = None,
        read_at: float | None = None,  # Clock.monotonic() before `before` was read
        *,
        fresh_zones: bool = False,  # an operator's rotation (force) lists the hosted zones now
    ) -> RotationResult:
        dns_names = facts.dns_names
        # Under the lease, read again what a run that held it before us may have changed: it may have
        # uploaded the replacement, tagged the certificate, even retired it. IAM's rate is shared by every
        # rotation of the fleet, so the two reads are saved when they cannot tell anything new: nothing was
        # claimed before the lease (no replaced-by tag, the replacement's name free), and no progress record
        # exists now (one consistent DynamoDB read). A run that puts anything at the replacement's name or
        # tags the certificate writes that record first, and deletes it only when it deletes the certificate,
        # which happens at least the grace period after the replacement served everywhere, so after our read:
        # when less than the grace period (less a margin for clocks) has passed since our read, no run can
        # have retired it meanwhile either. Else the certificate and its claims are read again.
        trusted = (
            before is not None
            and read_at is not None
            and before.nothing_claimed
            and self._clock.monotonic() - read_at < self._settings.grace_seconds - CLOCK_SKEW_MARGIN
            and self._progress.load(old.name) is None
        )
        if trusted and before is not None:
            assessed = before
        else:
            refreshed = self._store.get(old.name)
            if refreshed is None:
                raise UnknownCertificate(old.name)
            old = refreshed.metadata
            assessed = self._assess(old, dns_names)
        view, claim = assessed.view, assessed.claim
        if adopt and claim is None:
            claim = self._adopt(old, assessed, decision.replacement_name, result)
            view = planning.trusted_view(old, claim.check.claimed, claim.record)
        if decision.verdict is planning.Verdict.ISSUE and claim is not None:
            decision = planning.RotationDecision(
                planning.Verdict.RESUME, "replaced by a concurrent run", claim.check.claimed
            )
            result.reason = decision.reason
            result.new_certificate_name = decision.replacement_name
        elif decision.verdict is planning.Verdict.ISSUE and assessed.taken is not None:
            raise _name_taken(old, assessed.taken)

        # Where the old certificate is served, found once (before ordering, for the key check) and handed on.
        located: Located | None = None
        record: ProgressRecord
        if decision.verdict is planning.Verdict.ISSUE:
            located = self._locator.locate(view, known, result)
            key = self._key_for_endpoints(view, facts.key, located.serving)
            plan = self._plan_challenges(view, dns_names, located.serving, fresh_zones=fresh_zones)
            self._events.publish(EventType.ROTATION_STARTED, self._detail(view, dns_names, result))
            replacement_meta, record = self._issue_and_upload(
                view, facts, key, decision.replacement_name, result, deadline, plan
            )
            result.status = "rotated"
            result.new_certificate_name = replacement_meta.name
            lease.renew()
        else:
            result.steps.append(f"resume: {decision.reason}")
            drop_stashed(self._stash, old.name)  # a run that uploaded may have died before it dropped it
            if claim is None or claim.replacement is None or claim.record is None:
                # Only a proven claim resumes; its replacement may have gone since (never delete then).
                raise NameConflict(
                    f"{old.name} is tagged as replaced by {decision.replacement_name!r}, which is not a "
                    "proven replacement any more"
                )
            replacement_meta, record = claim.replacement, claim.record

        view, unsearched = self._deployment.run(
            old, replacement_meta, record, located, known, dns_names, result, deadline
        )
        if any(key in view.tags for key in HOLD_TAGS):
            # A success ends the run of failures: the next permanent one starts again at 24 hours.
            self._store.untag(old.name, list(HOLD_TAGS))
            view = replace(view, tags={k: v for k, v in view.tags.items() if k not in HOLD_TAGS})
            result.steps.append(f"cleared the hold-off tags of {old.name}")
        if old.rolled_back_from or replacement_meta.rolled_back_to:
            # A forced rotation after a rollback: every endpoint serves the replacement again, the hold ends.
            self._clear_rollback(old, replacement_meta, result)
            old = replace(old, tags={k: v for k, v in old.tags.items() if k not in ROLLBACK_TAGS})
            view = replace(view, tags={k: v for k, v in view.tags.items() if k not in ROLLBACK_TAGS})
        lease.renew()
        self._retirement.retire_now(view, replacement_meta, result, unsearched)
        if result.status == "rotated":
            detail = self._detail(view, dns_names, result, replacement_meta)
            self._events.publish(EventType.ROTATION_SUCCEEDED, detail)
        return result

    def _adopt(
        self, old: ServerCertificate, assessed: _Assessment, claimed: str, result: RotationResult
    ) -> Claim:
        """An operator forced the rotation of a certificate whose replacement a rotation started before
        progress records left (every check holds but the record): record it now, under the lease."""
        candidate = assessed.adoptable
        if candidate is None or candidate.check.claimed != claimed or candidate.replacement is None:
            raise NameConflict(f"{claimed!r} can no longer be adopted as the replacement of {old.name!r}")
        record = ProgressRecord(old.certificate_id, claimed, candidate.sha256)
        self._progress.save(
            old.name, record, keep_until=planning.record_kept_until(old.expiration, self._clock.now())
        )
        logger.warning(
            "adopted a replacement uploaded before progress records (forced)",
            extra={"certificate_name": old.name, "replacement": claimed},
        )
        result.steps.append(
            f"adopted {claimed} as the replacement of {old.name} (forced): it names {old.name} back, is "
            "managed, covers every name and chains to the trust roots; recorded now"
        )
        return Claim(
            planning.ClaimCheck(old.name, claimed, (), None, True),
            candidate.replacement,
            record,
            candidate.sha256,
        )

    def _issue_and_upload(
        self,
        old: ServerCertificate,
        facts: CertificateFacts,
        key: KeySpec,
        name: str,
        result: RotationResult,
        deadline: float,
        plan: ChallengePlan,
    ) -> tuple[ServerCertificate, ProgressRecord]:
        # The endpoint search before this may have used up the time: then a rerun continues.
        self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
        profile = self._settings.profile_for(old.tags)
        ticket = StashTicket(
            old.name,
            old.certificate_id,
            stash_inputs(facts.dns_names, key, profile, self._settings.hold_context),
        )
        issued, leaf = issue_or_reuse(
            self._stash,
            ticket,
            lambda: order_and_validate(
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
            ),
            names=facts.dns_names,
            key=key,
            settings=self._settings,
            clock=self._clock,
            steps=result.steps,
        )
        # The proof comes first: what this rotation uploads, written where no tag writer reaches.
        record = ProgressRecord(old.certificate_id, name, leaf_sha256(leaf))
        self._progress.save(
            old.name, record, keep_until=planning.record_kept_until(old.expiration, self._clock.now())
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
            # A run we cannot see (e.g. its reply was lost) uploaded it: use it if it is this very one.
            found = self._store.get(name)
            if found is None or found.metadata.replaces != old.name or not _same_leaf(found, record):
                raise NameConflict(f"the replacement name {name!r} is taken by another certificate") from None
            uploaded = found.metadata
        except UploadRefused:
            # IAM refuses what the certificate is: storing it again cannot help. Anything else (throttling,
            # a quota, a timeout) keeps it for the next try.
            drop_stashed(self._stash, old.name)
            raise
        drop_stashed(self._stash, old.name)
        if old.retry_after is not None:
            self._store.untag(old.name, [RETRY_AFTER_TAG])
        result.steps.append(f"uploaded {uploaded.name} (path {uploaded.path})")
        return uploaded, record

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
        self,
        old: ServerCertificate,
        dns_names: Sequence[str],
        serving: Sequence[Endpoint],
        *,
        fresh_zones: bool,
    ) -> ChallengePlan:
        """How each name will be validated (planning.plan_challenges), from the zones and the port-80
        listeners of the ALBs serving the certificate. Raises, before any order, a PermanentFailure for an
        unknown certrotate:challenge value or a name that no method can answer (each such name named).
        The zones may be a listing kept a short time (`fresh_zones`: listed now; a name without a zone in
        the kept listing lists them now too)."""
        forced, unknown = planning.requested_challenge_method(old.tags)
        if unknown:
            raise UnknownChallengeMethod(unknown)
        zones = self._dns.zones(fresh=fresh_zones, names=dns_names)
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
        if self._http01 is not None and any(r.method is ChallengeMethod.HTTP_01 for r in plan.routes):
            self._http01.check(plan)  # the ALBs' rule quota, and rules that would answer the CA first
        return plan

    def _responders(self) -> dict[ChallengeMethod, ChallengeResponder]:
        responders: dict[ChallengeMethod, ChallengeResponder] = {
            ChallengeMethod.DNS_01: Dns01Responder(self._dns, self._challenge_records, self._dns_batching)
        }
        if self._http01 is not None:
            responders[ChallengeMethod.HTTP_01] = self._http01
        return responders

    def _dry_run(
        self,
        old: ServerCertificate,
        decision: planning.RotationDecision,
        facts: CertificateFacts,
        result: RotationResult,
    ) -> RotationResult:
        result.status = "planned"
        dns_names = facts.dns_names
        located = self._locator.search(old)  # a dry run is never queued
        survey, serving = located.survey, located.serving
        if decision.verdict is planning.Verdict.ISSUE:
            try:
                refuse_before_ordering(old.name, facts, old.tags, self._settings.names)
                key = self._key_for_endpoints(old, facts.key, serving)
                plan = self._plan_challenges(old, dns_names, serving, fresh_zones=True)
            except PermanentFailure as refusal:
                result.reason = str(refusal)  # reported; a dry run holds nothing
                result.steps.append(f"refuse before ordering: {refusal}")
                return result
            used, quota = self._store.room()
            result.steps.append(f"check room: {used} of {quota} server certificates used")
            result.steps.append(f"order a certificate for {', '.join(dns_names)} with an {key} key")
            for route in plan.routes:
                result.steps.append(f"answer {route.name} by {route.method.value} on {route.where}")
            self._trust_roots_readable()  # what the real run would need: a missing file fails now
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

    def _trust_roots_readable(self) -> None:
        try:
            load_trust_roots(self._settings.trust_roots)
        except OSError as exc:
            raise ConfigurationError(
                f"the trust roots ({self._settings.trust_roots}) cannot be read: {exc.strerror or exc}; an "
                "installed package without its data files? (certrotate/roots/*.pem)"
            ) from None

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

    def _clear_rollback(self, old: ServerCertificate, new: ServerCertificate, result: RotationResult) -> None:
        if old.rolled_back_from:
            self._store.untag(old.name, list(ROLLBACK_TAGS))
        if new.rolled_back_to:
            self._store.untag(new.name, [ROLLED_BACK_TO_TAG])
        result.steps.append(f"ended the rollback hold of {old.name} (forced): {new.name} serves again")

    def _record_hold(self, old: ServerCertificate, failure: PermanentFailure) -> None:
        record_hold(
            lambda tags: self._store.tag(old.name, tags),
            old,
            failure,
            self._clock.now(),
            inputs=self._settings.inputs_of(old),
        )


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


@dataclass(frozen=True, slots=True)
class _Assessment:
    """What a rotation may believe about a certificate's replacement (claims.ClaimVerifier)."""

    view: ServerCertificate  # the certificate with only its proven bookkeeping tags
    claim: Claim | None  # the proven claim: resume it
    unproven: list[Claim]  # reported and ignored
    adoptable: Claim | None  # unproven, yet every check but the record holds: `force` may adopt it
    taken: Claim | None  # the replacement's name holds a certificate that is not a proven replacement

    @property
    def nothing_claimed(self) -> bool:
        """No replaced-by tag and nothing at the replacement's name: no claim at all."""
        return self.claim is None and not self.unproven


def _name_taken(old: ServerCertificate, taken: Claim) -> NameConflict:
    return NameConflict(
        f"the replacement name {taken.check.claimed!r} is taken by a certificate that is not a proven "
        f"replacement of {old.name!r} ({taken.check.reason})"
    )


def _same_leaf(found: StoredCertificate, record: ProgressRecord) -> bool:
    try:
        certificates = load_pem_certificates(found.body_pem)
    except ValidationFailed:
        return False
    return bool(certificates) and leaf_sha256(certificates[0]) == record.sha256
