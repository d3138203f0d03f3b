"""Endpoints: the listeners and distributions that serve certificates, and the changes made to them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class EndpointKind(StrEnum):
    ELBV2_LISTENER = "elbv2-listener"  # ALB HTTPS or NLB TLS listener
    CLASSIC_LISTENER = "classic-listener"
    CLOUDFRONT = "cloudfront-distribution"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A place that serves certificates: a secure listener or a CloudFront distribution.

    Load balancers name certificates by ARN; CloudFront by the certificate's ID.
    """

    kind: EndpointKind
    region: str
    resource_id: str  # listener ARN; "<load balancer name>:<port>"; distribution ID
    load_balancer: str  # load balancer ARN or name; "" for CloudFront
    default_certificate: str | None
    sni_certificates: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # CloudFront: the distribution's alternate domain names (CNAMEs)
    # CloudFront: a change is live everywhere only once the distribution's Status is Deployed; until then
    # edge locations may still serve what it served before.
    deploying: bool = False

    def serves(self, reference: str) -> bool:
        return reference == self.default_certificate or reference in self.sni_certificates

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.resource_id}"

    @property
    def where(self) -> str:
        """The label with the region, for reports: `elbv2-listener arn:... (eu-west-1)`."""
        return self.label if self.kind is EndpointKind.CLOUDFRONT else f"{self.label} ({self.region})"


@dataclass(frozen=True, slots=True)
class Unsearched:
    """A place that could not be searched for endpoints (a region, or CloudFront), and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where} ({self.reason})"


@dataclass(frozen=True, slots=True)
class EndpointSurvey:
    """What a search of every region (and CloudFront) found, and where it could not look: an endpoint there
    may serve anything, so nothing it might serve can be deleted."""

    endpoints: tuple[Endpoint, ...]
    unsearched: tuple[Unsearched, ...] = ()


class ChangeKind(StrEnum):
    SET_DEFAULT = "set-default"  # one call swaps the default certificate: no gap
    ADD_SNI = "add-sni"  # add the replacement to the SNI list (before the old one leaves)
    REMOVE_SNI = "remove-sni"  # remove the old one from the SNI list (after the replacement is in)


@dataclass(frozen=True, slots=True)
class EndpointChange:
    endpoint: Endpoint
    kind: ChangeKind
    certificate: str  # the reference the change adds, sets or removes


def reference_for(endpoint: Endpoint, arn: str, certificate_id: str) -> str:
    """Load balancers refer to a certificate by ARN, CloudFront by its ID."""
    return certificate_id if endpoint.kind is EndpointKind.CLOUDFRONT else arn


def endpoints_serving(endpoints: Iterable[Endpoint], arn: str, certificate_id: str) -> list[Endpoint]:
    return [e for e in endpoints if e.serves(reference_for(e, arn, certificate_id))]


# How old the scan's list of endpoints serving a certificate may be when a rotation uses it instead of a
# search of every region. Older (a message that waited long on the queue): the rotation searches afresh.
ENDPOINT_INDEX_MAX_AGE = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class KnownEndpoints:
    """The endpoints a search at `seen_at` found serving a certificate (where to look, not what they hold:
    each is read afresh right before it is changed)."""

    endpoints: tuple[Endpoint, ...]
    seen_at: datetime

    def usable(self, now: datetime) -> bool:
        return timedelta(0) <= now - self.seen_at <= ENDPOINT_INDEX_MAX_AGE

    def as_message(self) -> dict[str, object]:
        return {
            "seen_at": self.seen_at.isoformat(),
            "serving": [
                {
                    "kind": e.kind.value,
                    "region": e.region,
                    "resource_id": e.resource_id,
                    "load_balancer": e.load_balancer,
                }
                for e in self.endpoints
            ],
        }


def endpoint_from_message(kind: str, region: str, resource_id: str, load_balancer: str) -> Endpoint:
    """A place to look, from a message: what it serves is unknown until it is read."""
    return Endpoint(EndpointKind(kind), region, resource_id, load_balancer, default_certificate=None)


ENDPOINT_INDEX_MAX_ENTRIES = 50


def known_endpoints(
    survey: EndpointSurvey, arn: str, certificate_id: str, seen_at: datetime
) -> KnownEndpoints | None:
    """What a rotation of this certificate may use instead of its own search, if anything: only a complete
    survey (every region answered) and not too many endpoints to carry in a message."""
    if survey.unsearched:
        return None
    serving = endpoints_serving(survey.endpoints, arn, certificate_id)
    if len(serving) > ENDPOINT_INDEX_MAX_ENTRIES:
        return None
    return KnownEndpoints(tuple(serving), seen_at)


# How old the scan index's record of where a certificate is served (the last complete search of a scan) may
# be when a rotation handed no endpoints (a direct invocation, a message without them) checks it instead of
# searching every region: a daily schedule's interval with slack (ScanMissingHours' default). Older, or
# empty: it searches (docs/design.md, "A direct rotation reads the scan's endpoints").
ENDPOINT_RECORD_MAX_AGE = timedelta(hours=26)


def record_to_check(record: KnownEndpoints | None, now: datetime) -> KnownEndpoints | None:
    """The scan index's record, when a rotation should check it rather than search: fresh enough, and naming
    at least one endpoint (a record of none confirms nothing: it may have been attached since)."""
    if record is None or not record.endpoints:
        return None
    return record if timedelta(0) <= now - record.seen_at <= ENDPOINT_RECORD_MAX_AGE else None


def confirmed_endpoints(
    reads: Sequence[Endpoint | None], arn: str, certificate_id: str
) -> list[Endpoint] | None:
    """A record's endpoints as read afresh, when every one still serves the certificate; None when one is gone
    or serves it no more: the record is out of date, and so may be what it leaves out (search instead)."""
    confirmed: list[Endpoint] = []
    for endpoint in reads:
        if endpoint is None or not endpoint.serves(reference_for(endpoint, arn, certificate_id)):
            return None
        confirmed.append(endpoint)
    return confirmed
