"""Plain data: what certrotate reads from AWS and decides about. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from certrotate.names import (
    FAILURES_TAG,
    HELD_INPUTS_TAG,
    HELD_REASON_TAG,
    HELD_UNTIL_TAG,
    MANAGED_TAG,
    REPLACED_BY_TAG,
    REPLACES_TAG,
    RETRY_AFTER_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_TO_TAG,
    SERVED_SINCE_TAG,
    name_from_tag_value,
)

# A tag value is anyone's to write (iam:TagServerCertificate, acm:AddTagsToCertificate): every one is parsed
# here or in planning, defensively, and an unreadable one reads as absent. Python's `\d` and str.isdigit()
# accept Unicode digits ("²" passes isdigit() and fails int()), so only ASCII patterns are used.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
# Years a timestamp of ours can hold: enough room either side that adding a grace period or a hold (at
# most a year) never overflows datetime (year 9999 would).
_YEARS = range(1970, 9000)
_COUNT = re.compile(r"[0-9]{1,6}")


def is_managed_value(value: str | None) -> bool:
    """The managed tag's rule for IAM and ACM certificates alike (the policies: StringEqualsIgnoreCase)."""
    return value is not None and value.isascii() and value.lower() == "true"


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 tag value with its offset (as certrotate writes them), in UTC; None when absent or
    unreadable: a hand-edited or forged tag must not crash a scan, nor stop any other certificate."""
    if not value or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30, 25:00 and the like: the shape of a date, not a date
        return None
    if parsed.tzinfo is None or parsed.year not in _YEARS:
        return None
    return parsed.astimezone(UTC)


def parse_count(value: str | None) -> int:
    """A small whole number of ASCII digits; 0 when absent or unreadable (never an exception)."""
    raw = (value or "").strip()
    return int(raw) if _COUNT.fullmatch(raw) else 0


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """One IAM server certificate's metadata, with its tags once they have been read."""

    name: str
    arn: str
    certificate_id: str
    path: str
    expiration: datetime
    upload_date: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        """`certrotate:managed` = `true` in any letter case (`True`, `TRUE`: what operators have written),
        nothing else (no spaces, no `yes`): what the shipped policies' StringEqualsIgnoreCase also allows."""
        return is_managed_value(self.tags.get(MANAGED_TAG))

    @property
    def replaced_by(self) -> str | None:
        value = self.tags.get(REPLACED_BY_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def replaces(self) -> str | None:
        value = self.tags.get(REPLACES_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def replacement_served_since(self) -> datetime | None:
        return parse_timestamp(self.tags.get(SERVED_SINCE_TAG))

    @property
    def retry_after(self) -> datetime | None:
        return parse_timestamp(self.tags.get(RETRY_AFTER_TAG))

    @property
    def held_until(self) -> datetime | None:
        """End of the hold-off after a permanent failure (None: not held, or an unreadable tag)."""
        return parse_timestamp(self.tags.get(HELD_UNTIL_TAG))

    @property
    def held_inputs(self) -> str | None:
        """The fingerprint of the inputs a deterministic refusal was held for (None: a hold that ends in
        time, or no hold)."""
        return self.tags.get(HELD_INPUTS_TAG, "").strip() or None

    @property
    def held_reason(self) -> str:
        return self.tags.get(HELD_REASON_TAG, "")

    @property
    def failures(self) -> int:
        """Permanent failures in a row (0 when the tag is absent or unreadable)."""
        return parse_count(self.tags.get(FAILURES_TAG))

    @property
    def rolled_back_from(self) -> str | None:
        """On a replaced certificate served again after a rollback: the replacement rolled back from."""
        value = self.tags.get(ROLLED_BACK_FROM_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def rolled_back_at(self) -> datetime | None:
        return parse_timestamp(self.tags.get(ROLLED_BACK_AT_TAG))

    @property
    def rolled_back_to(self) -> str | None:
        """On a replacement that was rolled back: the certificate served in its place again."""
        value = self.tags.get(ROLLED_BACK_TO_TAG)
        return name_from_tag_value(value) if value else None

    @property
    def for_cloudfront(self) -> bool:
        return self.path.startswith("/cloudfront/")


class KeyKind(StrEnum):
    RSA = "RSA"
    EC = "EC"


@dataclass(frozen=True, slots=True)
class KeySpec:
    kind: KeyKind
    size: int  # RSA modulus bits, or the EC curve's bits

    def __str__(self) -> str:
        return f"RSA {self.size}" if self.kind is KeyKind.RSA else f"ECDSA P-{self.size}"


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the old certificate's body says: the names to cover again and the key to match."""

    dns_names: tuple[str, ...]
    key: KeySpec
    not_after: datetime
    not_before: datetime | None = None
    ari_id: str | None = None  # RFC 9773 certificate id (None: the certificate has no AKI keyIdentifier)
    ip_addresses: tuple[str, ...] = ()  # IP address SANs: never renewed, never silently dropped


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
    """The route of every name of one order, chosen before ordering (planning.plan_challenges)."""

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


class SecretPem(bytes):
    """PEM bytes of a private key: never printed, logged or serialised by accident."""

    def __repr__(self) -> str:
        return "SecretPem(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate_pem: str  # the leaf only
    chain_pem: str  # intermediates, leaf's issuer first, no root
    private_key_pem: SecretPem = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """What a rotation wrote down itself about its work, in the lease table (item `#progress:<lease key>`),
    which no one allowed only to tag or upload certificates can write: the proof behind the bookkeeping
    tags. Written before the upload (or import) and updated as the rotation goes."""

    replaced_id: str  # IAM: the replaced certificate's ServerCertificateId; ACM: its serial (lower-case hex)
    replacement: str  # IAM: the replacement's name; ACM: the certificate's ARN (re-imported in place)
    sha256: str = ""  # the replacement leaf's SHA-256 (DER, hex), once issued: what was uploaded or imported
    served_since: datetime | None = None  # IAM: since when the replacement serves everywhere
