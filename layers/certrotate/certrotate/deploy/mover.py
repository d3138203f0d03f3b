"""Moving one endpoint from one certificate to another, safely: read right before the change, planned from
what it serves now, each change read back, every other certificate on it left as it was. A rotation moves
endpoints from the old certificate to its replacement; a rollback moves them back."""

from __future__ import annotations

from collections.abc import Sequence

from certrotate.deploy.changes import (
    change_applied,
    others_unchanged,
    plan_endpoint_changes,
    uncovered_aliases,
)
from certrotate.errors import AliasesNotCovered, ListenerUpdateFailed, LoadBalancerFull, OutOfTime
from certrotate.model import ChangeKind, Endpoint, EndpointChange, EndpointKind, ServerCertificate
from certrotate.model.endpoints import reference_for
from certrotate.ports import Clock, Endpoints

# Seconds of Lambda time each change needs at least; below that it is not started (a rerun continues).
TIME_TO_CHANGE_ENDPOINT = 15.0


class EndpointMover:
    def __init__(self, endpoints: Endpoints, *, sni_swap_when_full: bool, clock: Clock) -> None:
        self._endpoints = endpoints
        # A full ALB/NLB (TooManyCertificates): remove the certificate leaving, then add the one arriving.
        self._sni_swap_when_full = sni_swap_when_full
        self._clock = clock

    def move(
        self,
        listed: Endpoint,
        old: ServerCertificate,
        new: ServerCertificate,
        dns_names: Sequence[str],
        deadline: float,
    ) -> list[str]:
        """Make `listed` serve `new` wherever it serves `old`, from its state right now (someone may have
        changed it since it was listed); return the kinds of change made ([] when it serves `old` nowhere
        any more, or is gone). `dns_names` are `new`'s, checked against a distribution's aliases."""
        self._require_time(deadline, f"change {listed.label}")
        endpoint = self._endpoints.read(listed)
        if endpoint is None:
            return []  # deleted meanwhile: it serves nothing any more
        if endpoint.kind is EndpointKind.CLOUDFRONT:
            # CloudFront refuses a certificate that misses an alias (InvalidViewerCertificate, as it answers
            # while IAM lags): tell the two apart before the call, and retry only the lag.
            missing = uncovered_aliases(endpoint.aliases, dns_names)
            if missing:
                raise AliasesNotCovered(endpoint.resource_id, missing)
        changes = plan_endpoint_changes(
            [endpoint], old_arn=old.arn, old_id=old.certificate_id, new_arn=new.arn, new_id=new.certificate_id
        )
        touched = {c.certificate for c in changes}
        if any(c.kind is ChangeKind.SET_DEFAULT for c in changes) and endpoint.default_certificate:
            touched.add(endpoint.default_certificate)  # the old default, which the swap replaces
        done: list[str] = []
        for change in changes:
            if change.kind.value in done:
                continue  # the swap below made it already
            self._require_time(deadline, f"change {endpoint.label}")
            try:
                after = self._endpoints.apply(change, deadline=deadline)
            except LoadBalancerFull:
                if not (self._sni_swap_when_full and change.kind is ChangeKind.ADD_SNI):
                    raise
                after = self._swap_when_full(endpoint, change, old, deadline)
                done.append(ChangeKind.REMOVE_SNI.value)
            if after is None:
                return []
            if not change_applied(change, after):
                raise ListenerUpdateFailed(f"{change.kind.value} of {change.certificate} did not take effect")
            # Read back: every certificate the change did not touch is still there.
            if not others_unchanged(endpoint, after, sorted(touched)):
                raise ListenerUpdateFailed(f"{change.kind.value} changed other certificates on the endpoint")
            done.append(change.kind.value)
        return done

    def _swap_when_full(
        self, endpoint: Endpoint, add: EndpointChange, old: ServerCertificate, deadline: float
    ) -> Endpoint | None:
        """The SNI list is full (opted in with SNI_SWAP_WHEN_FULL): remove the old certificate, then add the
        new one. Between the two calls SNI clients for these names get the listener's default certificate."""
        old_ref = reference_for(endpoint, old.arn, old.certificate_id)
        remove = EndpointChange(endpoint, ChangeKind.REMOVE_SNI, old_ref)
        after = self._endpoints.apply(remove, deadline=deadline)
        if after is None:
            return None
        if not change_applied(remove, after):
            raise ListenerUpdateFailed(f"{remove.kind.value} of {remove.certificate} did not take effect")
        try:
            return self._endpoints.apply(add, deadline=deadline)
        except Exception:
            # Put the old one back rather than leave the names to the default certificate.
            self._endpoints.apply(EndpointChange(endpoint, ChangeKind.ADD_SNI, old_ref), deadline=deadline)
            raise

    def _require_time(self, deadline: float, what: str) -> None:
        left = deadline - self._clock.monotonic()
        if left < TIME_TO_CHANGE_ENDPOINT:
            raise OutOfTime(f"only {left:.0f} s left, too little to {what}: a rerun continues from here")
