"""The rollback use case: every endpoint that serves a replacement goes back to the certificate it replaced,
and both are held until an operator forces a rotation. For the day a new certificate breaks some clients (a
new chain, a key type an old client cannot use).

It acts only on what it can prove: the pair is the one a rotation made (the replacement sits at the name
derived from the old certificate's IAM-assigned ID and names it back, and the progress record that rotation
wrote in the lease table names the old certificate's ID, the replacement and its leaf), both are managed, and
the old one can serve in the replacement's place (not expired, same path, every name of the replacement
covered). Anything else is refused in one line before any change. A pair no record proves (a rotation started
before progress records, or an upload someone made look like one) is refused with the way to adopt it: a
forced rotation, after the same checks a resume makes.

Like a rotation it is safe to run again and converges after a crash at any point, under the old certificate's
lease (and the replacement's, so that a rotation of either cannot interleave):
1. the hold is written first (tags on both: no scan resumes, rotates or retires either from then on);
2. the old one's `replaced-by` and `replacement-served-since` go (it is no longer replaced; its grace would
   otherwise let a later scan delete it), and so does the record's served-since: the record still proves the
   pair (a forced rotation resumes onto the replacement), and the grace of that resume starts afresh;
3. every endpoint serving the replacement, in every region and on CloudFront, is moved back and read back.
A rerun finds the pair again (by the derived name) and moves what is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from certrotate.check.claims import record_kept_until
from certrotate.deploy.changes import plan_endpoint_changes
from certrotate.deploy.mover import EndpointMover
from certrotate.errors import (
    ListenerUpdateFailed,
    OutOfTime,
)
from certrotate.model import Endpoint
from certrotate.model.endpoints import endpoints_serving
from certrotate.names import (
    REPLACED_BY_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_TO_TAG,
    SERVED_SINCE_TAG,
    EventType,
    name_tag_value,
)
from certrotate.ports import (
    CertificateStore,
    Clock,
    Endpoints,
    EventPublisher,
    Leases,
    ProgressRecords,
)
from certrotate.rollback.pair import Pair, find_pair

Status = Literal["rolled-back", "incomplete", "planned"]


@dataclass(frozen=True, slots=True)
class RollbackRequest:
    certificate_name: str  # either of the two: the replaced certificate or its replacement
    dry_run: bool = False


@dataclass(slots=True)
class RollbackResult:
    certificate_name: str  # the certificate served again (the replaced one)
    rolled_back_from: str  # the replacement
    status: Status
    reason: str
    correlation_id: str
    steps: list[str] = field(default_factory=list)
    endpoints_changed: list[str] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate_name": self.certificate_name,
            "rolled_back_from": self.rolled_back_from,
            "status": self.status,
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "steps": self.steps,
            "endpoints_changed": self.endpoints_changed,
            "not_searched": self.not_searched,
        }


class RollbackService:
    def __init__(
        self,
        *,
        store: CertificateStore,
        endpoints: Endpoints,
        leases: Leases,
        progress: ProgressRecords,
        events: EventPublisher,
        clock: Clock,
        lease_seconds: int,
        sni_swap_when_full: bool = False,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._leases = leases
        self._progress = progress
        self._events = events
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._mover = EndpointMover(endpoints, sni_swap_when_full=sni_swap_when_full, clock=clock)

    def rollback(
        self, request: RollbackRequest, *, deadline: float, correlation_id: str | None = None
    ) -> RollbackResult:
        correlation_id = correlation_id or str(uuid.uuid4())
        pair = self._pair(request.certificate_name)  # refused here, before any change
        old, new = pair.old, pair.new
        result = RollbackResult(
            certificate_name=old.name,
            rolled_back_from=new.name,
            status="planned",
            reason=f"{new.name} replaced {old.name}: every endpoint serving it goes back to {old.name}",
            correlation_id=correlation_id,
        )
        if request.dry_run:
            return self._dry_run(pair, result)
        leases = [self._leases.acquire(old.name, seconds=self._lease_seconds)]
        try:
            leases.append(self._leases.acquire(new.name, seconds=self._lease_seconds))
            pair = self._pair(request.certificate_name)  # again under the leases: a rotation may have ended
            self._hold(pair, result)
            leases = [self._leases.renew(lease, seconds=self._lease_seconds) for lease in leases]
            self._move_back(pair, result, deadline)
        finally:
            for lease in leases:
                self._leases.release(lease)
        self._events.publish(EventType.ROLLED_BACK, self._detail(pair, result))
        return result

    # -- the pair, proved ----------------------------------------------------------------------------------

    def _pair(self, name: str) -> Pair:
        """The pair, proved (rollback.pair): refused in one line before any change."""
        return find_pair(self._store, self._progress, self._clock, name)

    # -- steps ---------------------------------------------------------------------------------------------

    def _hold(self, pair: Pair, result: RollbackResult) -> None:
        """The hold first, so that nothing resumes or retires while the endpoints move; then the old
        certificate is no longer "replaced"."""
        old, new = pair.old, pair.new
        if old.rolled_back_from != new.name:
            at = self._clock.now().isoformat()
            self._store.tag(
                old.name, {ROLLED_BACK_FROM_TAG: name_tag_value(new.name), ROLLED_BACK_AT_TAG: at}
            )
            result.steps.append(f"held {old.name}: rolled back from {new.name} at {at}")
        if new.rolled_back_to != old.name:
            self._store.tag(new.name, {ROLLED_BACK_TO_TAG: name_tag_value(old.name)})
            result.steps.append(f"held {new.name}: rolled back to {old.name}")
        stale = [key for key in (REPLACED_BY_TAG, SERVED_SINCE_TAG) if key in old.tags]
        if stale:
            self._store.untag(old.name, stale)
            result.steps.append(f"{old.name} is no longer marked replaced ({', '.join(stale)} removed)")
        if pair.record.served_since is not None:
            # The record still proves the pair; it no longer says the replacement serves. A forced rotation
            # resumes onto it and its grace starts then, not at the first rotation's time.
            self._progress.save(
                old.name,
                replace(pair.record, served_since=None),
                keep_until=record_kept_until(old.expiration, self._clock.now()),
            )
            result.steps.append(f"the progress record of {old.name} no longer says {new.name} serves")

    def _move_back(self, pair: Pair, result: RollbackResult, deadline: float) -> None:
        old, new = pair.old, pair.new
        survey = self._endpoints.discover(include_cloudfront=True)
        serving = endpoints_serving(survey.endpoints, new.arn, new.certificate_id)
        failures: list[str] = []
        for listed in serving:
            try:
                kinds = self._mover.move(listed, new, old, pair.old_names, deadline)
            except OutOfTime:
                raise
            except Exception as exc:  # one broken listener must not keep the others on the replacement
                failures.append(f"{listed.label}: {exc}")
                continue
            if kinds:
                result.endpoints_changed.append(listed.label)
                result.steps.append(f"{listed.where} serves {old.name} again ({', '.join(kinds)})")
        if failures:
            raise ListenerUpdateFailed(
                f"{len(failures)} endpoint(s) still serve {new.name}: " + "; ".join(failures) + "; held: run "
                "the rollback again once fixed"
            )
        result.status = "rolled-back"
        result.reason = f"every endpoint that served {new.name} serves {old.name} again"
        if not serving:
            result.steps.append(f"no endpoint serves {new.name}")
        if survey.unsearched:
            result.status = "incomplete"
            result.not_searched = [str(u) for u in survey.unsearched]
            result.reason = (
                f"{new.name} may still be served where the search could not look: "
                + ", ".join(result.not_searched)
                + "; run the rollback again once those answer"
            )

    def _dry_run(self, pair: Pair, result: RollbackResult) -> RollbackResult:
        old, new = pair.old, pair.new
        survey = self._endpoints.discover(include_cloudfront=True)
        serving: Sequence[Endpoint] = endpoints_serving(survey.endpoints, new.arn, new.certificate_id)
        result.steps.append(f"hold {old.name} and {new.name}: no scan rotates or retires them until forced")
        for change in plan_endpoint_changes(
            serving, old_arn=new.arn, old_id=new.certificate_id, new_arn=old.arn, new_id=old.certificate_id
        ):
            subject = new.name if change.kind.value == "remove-sni" else old.name
            result.steps.append(f"{change.kind.value} {subject} on {change.endpoint.where}")
        if not serving:
            result.steps.append(f"no endpoint serves {new.name}: only the hold is written")
        if survey.unsearched:
            result.not_searched = [str(u) for u in survey.unsearched]
            result.steps.append(f"not searched: {', '.join(result.not_searched)}")
        return result

    def _detail(self, pair: Pair, result: RollbackResult) -> dict[str, Any]:
        return {
            "certificate_name": pair.old.name,
            "certificate_arn": pair.old.arn,
            "rolled_back_from": pair.new.name,
            "rolled_back_from_arn": pair.new.arn,
            "status": result.status,
            "endpoints_changed": list(result.endpoints_changed),
            "not_searched": list(result.not_searched),
            "correlation_id": result.correlation_id,
        }

    def failure_detail(
        self, certificate_name: str, error: BaseException, correlation_id: str
    ) -> dict[str, Any]:
        return {
            "certificate_name": certificate_name,
            "error": type(error).__name__,
            "message": str(error),
            "correlation_id": correlation_id,
        }
