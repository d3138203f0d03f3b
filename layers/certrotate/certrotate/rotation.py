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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from certrotate import planning
from certrotate.errors import (
    CertificateAlreadyExists,
    ListenerUpdateFailed,
    NameConflict,
    OutOfTime,
    QuotaExhausted,
    RateLimited,
    UnknownCertificate,
    UnmanagedCertificate,
)
from certrotate.model import CertificateFacts, ChangeKind, Endpoint, ServerCertificate
from certrotate.names import (
    MANAGED_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    SERVED_SINCE_TAG,
    EventType,
)
from certrotate.ports import (
    CertificateAuthority,
    CertificateStore,
    Clock,
    DnsChallenges,
    Endpoints,
    EventPublisher,
    Lease,
    Leases,
)
from certrotate.validation import facts_of, load_trust_roots, validate_issued

Status = Literal["rotated", "skipped", "planned"]

# Seconds of Lambda time each step needs at least; below that the step is not started (a rerun continues).
TIME_TO_ORDER = 90.0
TIME_TO_CHANGE_ENDPOINT = 15.0


@dataclass(frozen=True, slots=True)
class RotationRequest:
    certificate_name: str
    force: bool = False
    dry_run: bool = False


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
    retired: bool = False
    retirement: str | None = None

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
            "old_certificate_retired": self.retired,
            "retirement": self.retirement,
        }


@dataclass(frozen=True, slots=True)
class RotationSettings:
    renew_before_days: int
    lease_seconds: int
    grace_seconds: int
    trust_bundle: Path | None  # None: certifi's roots


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
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._dns = dns
        self._authority = authority
        self._leases = leases
        self._events = events
        self._clock = clock
        self._settings = settings
        self._after_repoint = after_repoint  # a report on the endpoints (never raises, never a gate)

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
        facts = facts_of(stored.body_pem)
        existing = self._existing_replacement(old)
        now = self._clock.now()
        decision = planning.decide_rotation(
            old, existing, now=now, renew_before_days=self._settings.renew_before_days, force=request.force
        )
        result = RotationResult(
            certificate_name=old.name,
            status="skipped",
            new_certificate_name=None,
            reason=decision.reason,
            correlation_id=correlation_id,
            dns_names=list(facts.dns_names),
        )
        verdict = decision.verdict
        if verdict in (planning.Verdict.NOT_DUE, planning.Verdict.RATE_LIMITED):
            return result
        if verdict is planning.Verdict.RESUME:
            result.new_certificate_name = decision.replacement_name
        if request.dry_run:
            return self._dry_run(old, decision, facts.dns_names, result)

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
            return self._run(old, facts, decision, result, held, deadline)
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

        if decision.verdict is planning.Verdict.ISSUE:
            self._events.publish(EventType.ROTATION_STARTED, self._detail(old, dns_names, result))
            replacement_meta = self._issue_and_upload(old, facts, decision.replacement_name, result, deadline)
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
            self._store.tag(old.name, {REPLACED_BY_TAG: replacement_meta.name})
            old = replace(old, tags={**old.tags, REPLACED_BY_TAG: replacement_meta.name})
            result.steps.append(f"marked {old.name} as replaced by {replacement_meta.name}")

        old = self._repoint(old, replacement_meta, result, deadline)
        if self._after_repoint is not None:
            self._after_repoint(replacement_meta, result, deadline)
        lease.renew()
        self._retire(old, result, users=[])
        if result.status == "rotated":
            detail = self._detail(old, dns_names, result, replacement_meta)
            self._events.publish(EventType.ROTATION_SUCCEEDED, detail)
        return result

    def _issue_and_upload(
        self,
        old: ServerCertificate,
        facts: CertificateFacts,
        name: str,
        result: RotationResult,
        deadline: float,
    ) -> ServerCertificate:
        self._require_time(deadline, TIME_TO_ORDER, "order a certificate")
        dns_names = facts.dns_names
        key = planning.replacement_key(facts.key)
        try:
            issued = self._authority().issue(dns_names, key, self._dns, deadline=deadline)
        except RateLimited as exc:
            # Remember when the CA lets us try again, so neither scans nor retries hammer it meanwhile.
            self._store.tag(old.name, {RETRY_AFTER_TAG: exc.retry_at.isoformat()})
            raise
        result.steps.append(f"issued a certificate for {', '.join(dns_names)} with an {key} key")
        validate_issued(
            issued,
            required_names=dns_names,
            expected_key=key,
            trust_roots=load_trust_roots(self._settings.trust_bundle),
            now=self._clock.now(),
        )
        result.steps.append("validated chain, key, names and validity")
        tags = {MANAGED_TAG: "true", REPLACES_TAG: old.name}
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
        self, old: ServerCertificate, new: ServerCertificate, result: RotationResult, deadline: float
    ) -> ServerCertificate:
        endpoints = self._endpoints.discover(include_cloudfront=old.for_cloudfront)
        serving = planning.endpoints_serving(endpoints, old.arn, old.certificate_id)
        failures: list[str] = []
        for listed in serving:
            try:
                kinds = self._change_endpoint(listed, old, new, deadline)
            except OutOfTime:
                raise
            except Exception as exc:  # one broken listener must not stop the others from being repointed
                failures.append(f"{listed.label}: {exc}")
                continue
            if kinds:
                result.endpoints_changed.append(listed.label)
                result.steps.append(f"{listed.label} now serves {new.name} ({', '.join(kinds)})")
            else:
                result.steps.append(f"{listed.label} no longer serves {old.name}: left as it is")
        if failures:
            raise ListenerUpdateFailed(
                f"{len(failures)} endpoint(s) still serve {old.name}: " + "; ".join(failures)
            )
        if old.replacement_served_since is None:
            served = self._clock.now().isoformat()
            self._store.tag(old.name, {SERVED_SINCE_TAG: served})
            old = replace(old, tags={**old.tags, SERVED_SINCE_TAG: served})
        return old

    def _change_endpoint(
        self, listed: Endpoint, old: ServerCertificate, new: ServerCertificate, deadline: float
    ) -> list[str]:
        """Repoint one endpoint from its state right now (someone may have changed it since it was listed);
        return the kinds of change made."""
        self._require_time(deadline, TIME_TO_CHANGE_ENDPOINT, f"change {listed.label}")
        endpoint = self._endpoints.read(listed)
        if endpoint is None:
            return []  # deleted meanwhile: it serves nothing any more
        changes = planning.plan_endpoint_changes(
            [endpoint], old_arn=old.arn, old_id=old.certificate_id, new_arn=new.arn, new_id=new.certificate_id
        )
        touched = {c.certificate for c in changes}
        if any(c.kind is ChangeKind.SET_DEFAULT for c in changes) and endpoint.default_certificate:
            touched.add(endpoint.default_certificate)  # the old default, which the swap replaces
        for change in changes:
            self._require_time(deadline, TIME_TO_CHANGE_ENDPOINT, f"change {endpoint.label}")
            after = self._endpoints.apply(change, deadline=deadline)
            if after is None:
                return []
            if not planning.change_applied(change, after):
                raise ListenerUpdateFailed(f"{change.kind.value} of {change.certificate} did not take effect")
            # Read back: every certificate the rotation did not touch is still there.
            if not planning.others_unchanged(endpoint, after, sorted(touched)):
                raise ListenerUpdateFailed(f"{change.kind.value} changed other certificates on the endpoint")
        return [c.kind.value for c in changes]

    def _retire(self, old: ServerCertificate, result: RotationResult, users: list[Endpoint] | None) -> None:
        decision = planning.decide_retirement(
            old, users, now=self._clock.now(), grace_seconds=self._settings.grace_seconds
        )
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
            result.retirement = "in-use: IAM reports the certificate is still in use (DeleteConflict)"

    # -- helpers ---------------------------------------------------------------------------------------

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
        dns_names: Sequence[str],
        result: RotationResult,
    ) -> RotationResult:
        result.status = "planned"
        if decision.verdict is planning.Verdict.ISSUE:
            used, quota = self._store.room()
            result.steps.append(f"check room: {used} of {quota} server certificates used")
            result.steps.append(f"order a certificate for {', '.join(dns_names)} (DNS-01 in Route 53)")
            result.steps.append(f"upload it as {decision.replacement_name} (path {old.path})")
            new_arn, new_id = "<replacement>", "<replacement>"
        else:
            result.steps.append(f"resume: {decision.reason}")
            found = self._store.get(decision.replacement_name)
            new_arn = found.metadata.arn if found else "<replacement>"
            new_id = found.metadata.certificate_id if found else "<replacement>"
        endpoints = self._endpoints.discover(include_cloudfront=old.for_cloudfront)
        serving = planning.endpoints_serving(endpoints, old.arn, old.certificate_id)
        for change in planning.plan_endpoint_changes(
            serving, old_arn=old.arn, old_id=old.certificate_id, new_arn=new_arn, new_id=new_id
        ):
            result.steps.append(f"{change.kind.value} on {change.endpoint.label}")
        result.steps.append(
            f"retire {old.name} once nothing serves it and {self._settings.grace_seconds} s have passed"
        )
        return result

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
            "retirement": result.retirement,
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
