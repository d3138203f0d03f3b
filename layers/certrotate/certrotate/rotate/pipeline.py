"""The rotation: one certificate of any store, from decision to retirement, safe to rerun at any line.

Progress lives in the store and in the lease table, so a rerun after a crash continues instead of starting
over. The stages are the same for every store (find, read, prove, decide, hold, order, check, store, finish,
report); what differs is the store's business (store.base.Store): IAM keeps a new certificate beside the old
one, under a name derived from the old one's ID, then moves every endpoint and retires the old one (the
beside stages); ACM re-imports in place. A lease (ports.Leases) keeps two runs from working on one
certificate at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from aws_lambda_powertools import Logger

from certrotate.decide.holds import held_now
from certrotate.decide.policies import RotationDecision, Verdict, decide_rotation, decide_with_window
from certrotate.deploy.locate import Located
from certrotate.errors import PermanentFailure
from certrotate.model import ChallengePlan, KeySpec, ProgressRecord, ServerCertificate
from certrotate.names import EventType
from certrotate.order.issue import TIME_TO_ORDER, drop_stashed, refuse_before_ordering, stash_inputs
from certrotate.order.ordering import Ordering
from certrotate.ports import (
    Clock,
    EventPublisher,
    IssuedStash,
    Leases,
    ProgressRecords,
    RenewalInfoSource,
    RenewalInfoUnavailable,
)
from certrotate.report.events import failure_detail
from certrotate.report.results import RotationResult
from certrotate.rotate.beside import BesideStages
from certrotate.rotate.dry_run import dry_run_beside, dry_run_in_place
from certrotate.rotate.holds import record_hold
from certrotate.rotate.request import RotationRequest
from certrotate.rotate.resume import admit, readmit, report_unproven, resumed
from certrotate.store.base import (
    Assessment,
    BesideStore,
    Current,
    HeldLease,
    RotationSettings,
    Store,
    require_time,
)

logger = Logger(child=True)

_STOP = (
    Verdict.NOT_DUE,
    Verdict.RATE_LIMITED,
    Verdict.HELD,
    Verdict.ROLLED_BACK,
)


class Rotation:
    def __init__(
        self,
        *,
        store: Store[Any],
        ordering: Ordering,
        beside: BesideStages | None,  # None: the store renews in place (nothing to locate, move or retire)
        leases: Leases,
        progress: ProgressRecords,  # the proof behind every bookkeeping tag (written by the stores)
        stash: IssuedStash | None,
        events: EventPublisher,
        clock: Clock,
        settings: RotationSettings,
        # The CA's renewal windows (ARI), asked when a request says so (built on first use: acme is heavy).
        renewal_info: Callable[[], RenewalInfoSource] | None = None,
    ) -> None:
        self._store = store
        self._ordering = ordering
        self._beside = beside
        self._leases = leases
        self._progress = progress
        self._stash = stash
        self._events = events
        self._clock = clock
        self._settings = settings
        self._renewal_info = renewal_info

    def rotate(
        self, request: RotationRequest, *, deadline: float, correlation_id: str | None = None
    ) -> RotationResult:
        """Rotate one certificate. `deadline` is a Clock.monotonic() value by which the call must return."""
        correlation_id = correlation_id or str(uuid.uuid4())
        found = self._store.find(request.subject)  # InvalidRequest: nothing held
        try:
            return self._rotate(request, self._store.read(found), deadline, correlation_id)
        except PermanentFailure as failure:
            # No retry can fix it: hold redeliveries and scans off so that they order nothing more.
            record_hold(
                lambda tags: self._store.tag(found.subject, tags),
                found.view,
                failure,
                self._clock.now(),
                inputs=self._settings.inputs_of(found.view),
            )
            raise

    def failure_detail(self, subject: str, error: BaseException, correlation_id: str) -> dict[str, Any]:
        return failure_detail((self._store.subject_field, subject), error, correlation_id)

    def _rotate(
        self, request: RotationRequest, current: Current[Any], deadline: float, correlation_id: str
    ) -> RotationResult:
        result = self._store.new_result(current, correlation_id)
        assessed = self._store.assess(current)
        report_unproven(assessed.unproven, result)
        if assessed.finished is not None:  # in place: an earlier run's store is proven
            return self._finished_earlier(current, assessed, result, request.dry_run)
        view = assessed.view  # the certificate as far as its claims are proven
        decision = self._decide(request, current, view, result)
        if decision.verdict in _STOP:
            return result
        if decision.verdict is Verdict.RESUME and self._beside is None:
            return result  # nothing to resume in place
        admitted = admit(assessed, decision, request.force, current.view, result)
        if admitted is None:
            return result
        decision, adopt = admitted
        result.reason = decision.reason
        if decision.verdict is Verdict.RESUME:
            result.new_certificate_name = decision.replacement_name
        if request.dry_run:
            return self._dry_run(current, view, decision, result)
        prepared: tuple[KeySpec, ChallengePlan] | None = None
        if decision.verdict is Verdict.ISSUE:
            refuse_before_ordering(current.subject, current.facts, current.view.tags, self._settings.names)
            if self._beside is None:  # nothing to locate: the key and the plan are known now
                prepared = self._prepare(current, view, None, fresh_zones=request.force)
            require_time(self._clock, deadline, TIME_TO_ORDER, "order a certificate")
            self._store.check_room()
        seconds = self._settings.lease_seconds
        lease = HeldLease(self._leases, self._leases.acquire(current.subject, seconds=seconds), seconds)
        try:
            return self._run(request, current, assessed, decision, adopt, prepared, result, lease, deadline)
        finally:
            lease.release()

    def _decide(
        self, request: RotationRequest, current: Current[Any], view: ServerCertificate, result: RotationResult
    ) -> RotationDecision:
        ask = self._renewal_info if request.ask_ca else None
        return decide(
            request.force, current, view, result, settings=self._settings, clock=self._clock, ask=ask
        )

    def _prepare(
        self, current: Current[Any], view: ServerCertificate, located: Located | None, *, fresh_zones: bool
    ) -> tuple[KeySpec, ChallengePlan]:
        """The key and how each name is validated, checked before any order (a PermanentFailure says why
        not): for a store renewing beside, against the endpoints serving the certificate."""
        serving = located.serving if located is not None else []
        key = self._store.key_for(current, view, serving)
        plan = self._ordering.prepare(
            current.subject,
            view.tags,
            current.facts.dns_names,
            serving,
            fresh_zones=fresh_zones,
            left_by=self._store.challenge_owners(view),
        )
        return key, plan

    def _run(
        self,
        request: RotationRequest,
        current: Current[Any],
        assessed: Assessment,
        decision: RotationDecision,
        adopt: bool,
        prepared: tuple[KeySpec, ChallengePlan] | None,
        result: RotationResult,
        lease: HeldLease,
        deadline: float,
    ) -> RotationResult:
        reloaded = self._store.reassess(current, assessed, result)
        if reloaded is None:
            return result  # a concurrent run finished it (said in the result)
        current, assessed = reloaded
        decision, claim, view = readmit(
            assessed, decision, adopt, current.view, result, progress=self._progress, clock=self._clock
        )
        located: Located | None = None
        stored: ServerCertificate | None
        record: ProgressRecord | None
        ordered = decision.verdict is Verdict.ISSUE
        if ordered:
            if self._beside is not None:
                located = self._beside.locator.locate(view, request.known_endpoints, result)
                prepared = self._prepare(current, view, located, fresh_zones=request.force)
            assert prepared is not None
            current = self._store.begin(current)
            self._events.publish(EventType.ROTATION_STARTED, self._store.detail(current, result))
            stored, record = self._order_and_store(current, view, decision, prepared, result, lease, deadline)
        else:
            result.steps.append(f"resume: {decision.reason}")
            drop_stashed(self._stash, current.subject)  # a run that stored may have died before it dropped it
            stored, record = resumed(claim, current.view, decision)
        unsearched: tuple[Any, ...] = ()
        if self._beside is not None and stored is not None and record is not None:
            view, unsearched = self._beside.deploy(
                current.view,
                stored,
                record,
                located,
                request.known_endpoints,
                current.facts.dns_names,
                result,
                deadline,
                lease,
                ordered=ordered,
            )
        view = self._store.finish(current, view, stored, result)
        if self._beside is not None and stored is not None:
            self._beside.retire(view, stored, result, unsearched, lease)
        if result.status == "rotated":
            self._events.publish(
                EventType.ROTATION_SUCCEEDED, self._store.detail(current, result, stored, finished=True)
            )
        return result

    def _order_and_store(
        self,
        current: Current[Any],
        view: ServerCertificate,
        decision: RotationDecision,
        prepared: tuple[KeySpec, ChallengePlan],
        result: RotationResult,
        lease: HeldLease,
        deadline: float,
    ) -> tuple[ServerCertificate | None, ProgressRecord | None]:
        # The endpoint search before this may have used up the time: then a rerun continues.
        require_time(self._clock, deadline, TIME_TO_ORDER, "order a certificate")
        key, plan = prepared
        names = current.facts.dns_names
        profile = self._settings.profile_for(view.tags)
        ticket = self._store.ticket(current, stash_inputs(names, key, profile, self._settings.hold_context))
        subject = current.subject
        issued, leaf = self._ordering.issue(
            ticket,
            names,
            key,
            plan,
            tags=view.tags,
            ari_id=current.facts.ari_id,
            remember=lambda tags: self._store.tag(subject, tags),
            deadline=deadline,
            steps=result.steps,
        )
        try:
            self._store.check_issued(current, leaf, result)
            return self._store.put(
                current,
                view,
                issued,
                leaf,
                name=decision.replacement_name,
                lease=lease,
                deadline=deadline,
                result=result,
            )
        except self._store.refusals:
            # The store refused what the certificate is: storing it again cannot help. Anything else (a
            # quota, a conflict, throttling, too little time left) keeps it for the next try.
            drop_stashed(self._stash, subject)
            raise

    def _finished_earlier(
        self, current: Current[Any], assessed: Assessment, result: RotationResult, dry_run: bool
    ) -> RotationResult:
        """An earlier run stored the certificate in place and died before reporting: this one reports it,
        once (its progress mark goes)."""
        assert assessed.finished is not None
        result.reason = assessed.finished
        if not dry_run:
            result.status = "rotated"
            self._store.finish(current, assessed.view, None, result)
            self._events.publish(
                EventType.ROTATION_SUCCEEDED, self._store.detail(current, result, None, finished=True)
            )
        return result

    def _dry_run(
        self,
        current: Current[Any],
        view: ServerCertificate,
        decision: RotationDecision,
        result: RotationResult,
    ) -> RotationResult:
        if self._beside is None:
            return dry_run_in_place(self._store, current, view, result, settings=self._settings)
        return dry_run_beside(
            cast("BesideStore[Any]", self._store),  # beside stages are given with a store renewing beside
            current,
            view,
            decision,
            result,
            locator=self._beside.locator,
            ordering=self._ordering,
            settings=self._settings,
        )


def decide(
    force: bool,
    current: Current[Any],
    view: ServerCertificate,
    result: RotationResult,
    *,
    settings: RotationSettings,
    clock: Clock,
    ask: Callable[[], RenewalInfoSource] | None,
) -> RotationDecision:
    """The decision on what is proven (`view`), the CA's renewal window asked before "not due" when `ask`
    (a message's ask_ca); a hold, a rate limit or a rollback reported in the result."""
    now = clock.now()
    inputs = settings.inputs_of(current.view)
    decision = decide_rotation(
        view,
        None,
        now=now,
        renew_before_days=settings.renew_before_days,
        force=force,
        not_before=current.facts.not_before,
        inputs=inputs,
    )
    if ask is not None and decision.verdict is Verdict.NOT_DUE:
        decision = _with_window_asked(decision, current.facts.ari_id, ask, now)
    result.reason = decision.reason
    verdict = decision.verdict
    if verdict in (Verdict.HELD, Verdict.RATE_LIMITED):
        hold = held_now(view, now, inputs)
        result.held_until = hold.until.isoformat() if hold else None
        if view.replaced_by:
            result.new_certificate_name = view.replaced_by
    if verdict is Verdict.ROLLED_BACK:
        result.new_certificate_name = view.rolled_back_from or view.replaced_by
    return decision


def _with_window_asked(
    decision: RotationDecision,
    ari_id: str | None,
    renewal_info: Callable[[], RenewalInfoSource],
    now: datetime,
) -> RotationDecision:
    """The decision once the CA is asked for the certificate's renewal window (one unauthenticated GET):
    a message that says the window moved is a claim; the CA's answer is what counts."""
    if ari_id is None:
        return decision
    try:
        source = renewal_info()
        if not source.offered():
            return decision
        window = source.window(ari_id)
    except RenewalInfoUnavailable as unavailable:
        logger.info("the CA has no renewal window for it: not due", extra={"reason": str(unavailable)})
        return decision
    return decide_with_window(decision, window.start, window.end, now)
