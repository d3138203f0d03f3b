"""Challenges: how the CA is shown that certrotate controls a name, and where each answer goes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One TXT record set answering DNS-01 challenges (all values of one name go in one record set)."""

    zone_id: str
    name: str
    values: tuple[str, ...]
    ttl: int = 60


@dataclass(frozen=True, slots=True)
class HostedZone:
    zone_id: str
    name: str  # without the trailing dot, lower case
    private: bool = False


class ChallengeMethod(StrEnum):
    """How the CA is shown that we control a name (RFC 8555 section 8)."""

    DNS_01 = "dns-01"  # a TXT record in the name's public Route 53 zone
    HTTP_01 = "http-01"  # a rule on the port-80 listener of an ALB serving the certificate


@dataclass(frozen=True, slots=True)
class HttpListener:
    """A plain-HTTP listener on port 80 of an Application Load Balancer: where HTTP-01 can be answered."""

    region: str
    load_balancer: str  # ARN
    listener_arn: str


@dataclass(frozen=True, slots=True)
class ChallengeRoute:
    """How one name of a certificate is validated, and where."""

    name: str  # as the certificate names it: "*.example.com" for a wildcard
    method: ChallengeMethod
    zone: HostedZone | None = None  # DNS-01
    listeners: tuple[HttpListener, ...] = ()  # HTTP-01: every port-80 listener of the ALBs serving it

    @property
    def where(self) -> str:
        if self.method is ChallengeMethod.DNS_01:
            return f"Route 53 zone {self.zone.name if self.zone else '?'}"
        return "port-80 listener(s) " + ", ".join(listener.listener_arn for listener in self.listeners)


@dataclass(frozen=True, slots=True)
class ChallengePlan:
    """The route of every name of one order, chosen before ordering (order.challenge_plan.plan_challenges)."""

    certificate: str  # the certificate being rotated: marks what its HTTP-01 rules belong to
    routes: tuple[ChallengeRoute, ...]
    # Certificates whose rotations may have left HTTP-01 rules behind (this one's predecessor): removed too.
    left_by: tuple[str, ...] = ()

    def route(self, name: str) -> ChallengeRoute:
        wanted = name.rstrip(".").lower()
        for route in self.routes:
            if route.name == wanted:
                return route
        raise KeyError(f"no challenge route was planned for {name}")

    @property
    def owners(self) -> tuple[str, ...]:
        return (self.certificate, *self.left_by)


@dataclass(frozen=True, slots=True)
class ChallengeAnswer:
    """What the CA will check for one name: the token, and the value to publish (a dns-01 TXT value or the
    http-01 key authorization, served at `path`). Public by design (the CA and anyone may read it)."""

    name: str  # as in the plan: "*.example.com" for a wildcard's authorization
    method: ChallengeMethod
    token: str  # base64url
    validation: str
    path: str = ""  # http-01: /.well-known/acme-challenge/<token>


ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"  # RFC 8555 section 8.3


@dataclass(frozen=True, slots=True)
class Http01Rule:
    """One HTTP-01 answer as the listener rule certrotate creates for it: on `listener`, exactly the
    conditions host-header = `name` and path-pattern = `path`, the one action fixed-response 200 text/plain
    `body`, the tag certrotate:challenge = `<certificate>/<token>`. Recorded in the lease table before it is
    created (ChallengeRecords): a rule is certrotate's only when it is recorded AND still has this shape; a
    tag alone proves nothing (anyone allowed elasticloadbalancing:AddTags writes one)."""

    certificate: str  # whose rotation created it (the lease key's certificate part)
    listener: HttpListener
    name: str
    token: str  # base64url: no "/" in it
    body: str  # the key authorization: public by design (the CA fetches it over plain HTTP)

    @property
    def path(self) -> str:
        return f"{ACME_CHALLENGE_PATH}{self.token}"


# Where a name's challenge is answered: pure rules on the types above, which the order's planning and the
# adapters answering the challenges (Route 53, the ALB) share.


def challenge_record_name(dns_name: str) -> str:
    """`*.example.com` and `example.com` are both validated at `_acme-challenge.example.com`."""
    base = dns_name[2:] if dns_name.startswith("*.") else dns_name
    return f"_acme-challenge.{base.rstrip('.').lower()}"


def zone_for(name: str, zones: Iterable[HostedZone], *, allow_private: bool = False) -> HostedZone | None:
    """The hosted zone whose name is the longest suffix of `name` (public zones unless asked)."""
    name = name.rstrip(".").lower()
    best: HostedZone | None = None
    for zone in zones:
        if zone.private and not allow_private:
            continue
        if (name == zone.name or name.endswith("." + zone.name)) and (
            best is None or len(zone.name) > len(best.name)
        ):
            best = zone
    return best


def challenge_zone(name: str, zones: Iterable[HostedZone]) -> HostedZone | None:
    """The zone that would hold `name`'s DNS-01 TXT record (a zone delegated for _acme-challenge.<name>
    counts), None when there is none."""
    return zone_for(challenge_record_name(name), zones)


def http01_rules(plan: ChallengePlan, answers: Iterable[ChallengeAnswer]) -> list[Http01Rule]:
    """The listener rules answering the HTTP-01 answers: one per name on each port-80 listener of its
    route."""
    return [
        Http01Rule(plan.certificate, listener, answer.name, answer.token, answer.validation)
        for answer in answers
        if (route := plan.route(answer.name)).method is ChallengeMethod.HTTP_01
        for listener in route.listeners
    ]
