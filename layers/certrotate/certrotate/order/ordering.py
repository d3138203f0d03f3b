"""Preparing an order and placing it: how each name is validated (the plan, from the zones and the port-80
listeners of the ALBs serving the certificate), who answers each method, and the order itself (the stash
first: an issued certificate an earlier try could not store is stored instead of ordering again)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cryptography import x509

from certrotate.errors import NoChallengeMethod, UnknownChallengeMethod
from certrotate.model import ChallengeMethod, ChallengePlan, Endpoint, IssuedCertificate, KeySpec
from certrotate.order.challenge_plan import needs_http01, plan_challenges, requested_challenge_method
from certrotate.order.challenges import Dns01Responder, PlannedChallenges
from certrotate.order.issue import OrderSettings, StashTicket, issue_or_reuse, order_and_validate
from certrotate.ports import (
    CertificateAuthority,
    ChallengeRecords,
    ChallengeResponder,
    Clock,
    DnsBatching,
    DnsChallenges,
    Http01Listeners,
    IssuedStash,
)


class Ordering:
    def __init__(
        self,
        *,
        dns: DnsChallenges,
        authority: Callable[[], CertificateAuthority],  # built on first order only: acme is heavy to import
        clock: Clock,
        settings: OrderSettings,
        http01: Http01Listeners | None = None,  # None: names are validated by DNS-01 only
        challenge_records: ChallengeRecords | None = None,  # None: DNS-01 values are not written down
        # Rotations publishing in one zone at the same time share a change (None: each its own).
        dns_batching: DnsBatching | None = None,
        stash: IssuedStash | None = None,  # None: an issued certificate not stored is lost
    ) -> None:
        self._dns = dns
        self._authority = authority
        self._clock = clock
        self._settings = settings
        self._http01 = http01
        self._challenge_records = challenge_records
        self._dns_batching = dns_batching
        self._stash = stash

    def prepare(
        self,
        certificate: str,
        tags: Mapping[str, str],
        dns_names: Sequence[str],
        serving: Sequence[Endpoint],
        *,
        fresh_zones: bool,
        left_by: Sequence[str] = (),
    ) -> ChallengePlan:
        """How each name will be validated (challenge_plan.plan_challenges), from the zones and the port-80
        listeners of the ALBs serving the certificate (none without an HTTP-01 responder: DNS-01 only).
        Raises, before any order, a PermanentFailure for an unknown certrotate:challenge value or a name
        that no method can answer (each such name named). The zones may be a listing kept a short time
        (`fresh_zones`: listed now; a name without a zone in the kept listing lists them now too)."""
        forced, unknown = requested_challenge_method(tags)
        if unknown:
            raise UnknownChallengeMethod(unknown)
        zones = self._dns.zones(fresh=fresh_zones, names=dns_names)
        listeners = (
            self._http01.port80_listeners(serving)
            if self._http01 is not None and needs_http01(dns_names, forced, zones)
            else []
        )
        plan, problems = plan_challenges(
            certificate, dns_names, forced=forced, zones=zones, listeners=listeners, left_by=left_by
        )
        if problems:
            raise NoChallengeMethod(problems)
        if self._http01 is not None and any(r.method is ChallengeMethod.HTTP_01 for r in plan.routes):
            self._http01.check(plan)  # the ALBs' rule quota, and rules that would answer the CA first
        return plan

    def responders(self) -> dict[ChallengeMethod, ChallengeResponder]:
        responders: dict[ChallengeMethod, ChallengeResponder] = {
            ChallengeMethod.DNS_01: Dns01Responder(self._dns, self._challenge_records, self._dns_batching)
        }
        if self._http01 is not None:
            responders[ChallengeMethod.HTTP_01] = self._http01
        return responders

    def issue(
        self,
        ticket: StashTicket,
        names: Sequence[str],
        key: KeySpec,
        plan: ChallengePlan,
        *,
        tags: Mapping[str, str],
        ari_id: str | None,
        remember: Callable[[Mapping[str, str]], None],
        deadline: float,
        steps: list[str],
    ) -> tuple[IssuedCertificate, x509.Certificate]:
        """One order (order_and_validate), or the certificate an earlier try was issued and could not store
        (issue_or_reuse: the stash)."""
        return issue_or_reuse(
            self._stash,
            ticket,
            lambda: order_and_validate(
                self._authority(),
                names,
                PlannedChallenges(plan, self.responders()),
                key,
                tags=tags,
                ari_id=ari_id,
                remember=remember,
                settings=self._settings,
                clock=self._clock,
                deadline=deadline,
                steps=steps,
            ),
            names=names,
            key=key,
            settings=self._settings,
            clock=self._clock,
            steps=steps,
        )
