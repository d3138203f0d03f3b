"""What the use cases need from the outside world. Adapters implement these; tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from certrotate import planning
from certrotate.model import (
    ChallengeAnswer,
    ChallengeMethod,
    ChallengePlan,
    DnsRecord,
    Endpoint,
    EndpointChange,
    EndpointSurvey,
    HostedZone,
    Http01Rule,
    HttpListener,
    IssuedCertificate,
    KeySpec,
    ProgressRecord,
    SecretPem,
    ServerCertificate,
)
from certrotate.names import (
    RENEWAL_TAG,
    REPLACED_BY_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_TO_TAG,
    SERVED_SINCE_TAG,
)

# Bookkeeping of a store that renews beside the old certificate (IAM): replacement and rollback. A store that
# re-imports in place never writes them, so on an ACM certificate they can only be someone else's claim;
# believed, a forged `replaced-by` made every rotation skip the certificate until it expired.
BESIDE_ONLY_TAGS = (
    REPLACED_BY_TAG,
    SERVED_SINCE_TAG,
    ROLLED_BACK_FROM_TAG,
    ROLLED_BACK_AT_TAG,
    ROLLED_BACK_TO_TAG,
)

if TYPE_CHECKING:
    from certrotate.planning import KnownEndpoints


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    metadata: ServerCertificate  # with tags
    body_pem: str
    chain_pem: str = ""  # the intermediates IAM holds with it


class CertificateReader(Protocol):
    """Reads one IAM server certificate (what proving a claim needs: claims.ClaimVerifier)."""

    def get(self, name: str) -> StoredCertificate | None: ...


class CertificateStore(Protocol):
    """IAM server certificates."""

    def list_certificates(self) -> list[ServerCertificate]: ...  # every page; tags not read
    def tags_of(self, name: str) -> dict[str, str]: ...
    def tags_of_many(self, names: Sequence[str]) -> dict[str, dict[str, str]]: ...  # {name: tags}
    def get(self, name: str) -> StoredCertificate | None: ...
    def upload(
        self,
        *,
        name: str,
        path: str,
        body_pem: str,
        chain_pem: str,
        private_key_pem: SecretPem,
        tags: Mapping[str, str],
    ) -> ServerCertificate: ...  # raises AlreadyExists when the name is taken
    def tag(self, name: str, tags: Mapping[str, str]) -> None: ...
    def untag(self, name: str, keys: Sequence[str]) -> None: ...
    def delete(self, name: str) -> bool: ...  # False: DeleteConflict (still in use)
    # (server certificates held, quota); `kept`: perhaps a reading a short time old (adapters/iam.py)
    def room(self, *, kept: bool = False) -> tuple[int, int]: ...


class Endpoints(Protocol):
    """Every place that can serve a certificate: load balancer listeners in each region, CloudFront."""

    # every endpoint found, and the regions (or CloudFront) that could not be searched
    def discover(self, *, include_cloudfront: bool) -> EndpointSurvey: ...
    def read(self, endpoint: Endpoint) -> Endpoint | None: ...  # its state now (None: it is gone)
    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None: ...

    # apply performs the change, reads the endpoint back and returns it (None: the endpoint is gone)


class DnsChallenges(Protocol):
    # The account's hosted zones, perhaps as listed a short time ago: `fresh` lists them now, and so does a
    # name of `names` that finds no zone in the kept listing (adapters/route53.py: ZONES_KEPT).
    def zones(self, *, fresh: bool = False, names: Sequence[str] = ()) -> list[HostedZone]: ...
    def publish(self, records: Sequence[DnsRecord], *, deadline: float) -> None: ...  # returns once INSYNC
    def remove(self, records: Sequence[DnsRecord]) -> None: ...


class DnsChanges(DnsChallenges, Protocol):
    """Route 53 for several certificates' values at once (dns_batching.py): one change adds some values and
    removes others, as many sets as Route 53's limits on one change allow."""

    def submit(
        self, additions: Sequence[DnsRecord], removals: Sequence[DnsRecord] = (), *, deadline: float
    ) -> list[str]: ...  # the IDs of the changes that add values

    # returns once every change is INSYNC; `polled` after each GetChange
    def wait_in_sync(
        self, change_ids: Sequence[str], *, deadline: float, polled: Callable[[], None] | None = None
    ) -> None: ...


class DnsBatching(Protocol):
    """DNS-01 values of rotations running at the same time in one hosted zone, published and removed in one
    Route 53 change (dns_batching.py); alone when nobody else is there. `owner` is the certificate whose
    `#challenges` record names the values (ChallengeRecords), written before they are published."""

    def publish(self, owner: str, records: Sequence[DnsRecord], *, deadline: float) -> None: ...  # INSYNC
    def remove(self, owner: str, records: Sequence[DnsRecord]) -> None: ...  # raises: some are left


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One DNS-01 value a member of a batch adds or removes (dns_batching.py)."""

    adding: bool
    record: DnsRecord  # one value


@dataclass(frozen=True, slots=True)
class BatchTicket:
    """A rotation's place in a hosted zone's batch of DNS-01 changes (dns_batching.py). Times are epoch
    seconds: members and the publisher run in different containers."""

    batch_id: str
    publisher: bool  # it opened the batch: it closes and publishes it
    close_at: float  # the publisher closes the batch then at the latest (it gathers until then)
    give_up_at: float  # with no word from the publisher by then, members publish their own values


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """What the publisher of a batch says of it: `publishing`, `submitted` (Route 53 took the change: removals
    are done, `change_ids` to wait for, `poller` polling them), `insync` (additions answered), `failed`; or
    `abandoned` (a member gave up waiting)."""

    state: str
    alive_at: float  # epoch seconds of the latest sign of life of the publisher (or of the poller)
    change_ids: tuple[str, ...] = ()
    poller: str | None = None
    # The members whose values the publisher publishes (what its close returned); None: not said (an
    # abandoned batch). A member not named acts alone: its values are not in the change.
    members: tuple[str, ...] | None = None


class DnsBatches(Protocol):
    """Where rotations running at the same time meet to share one Route 53 change per hosted zone: the lease
    table's items `#dns-batch:<zone id>` (the zone's open batch, and when the last one closed) and
    `#dns-batch:<zone id>:<batch id>` (a closed batch's status). Every write is conditional."""

    # the zone's open batch, joined (None: none open, full, or past its give-up time)
    def join(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, room: int
    ) -> BatchTicket | None: ...

    # a new batch opened with these entries, closing `gather` seconds after the zone's last one (at once when
    # that is past); None: another one is open
    def open(
        self, zone_id: str, member: str, entries: Sequence[BatchEntry], *, gather: float, grace: float
    ) -> BatchTicket | None: ...

    # closed by its publisher: each member's entries (None: too late, its members publish their own)
    def close(self, zone_id: str, batch_id: str) -> dict[str, list[BatchEntry]] | None: ...
    # status `publishing`, naming the members whose values it publishes (False: abandoned first)
    def begin(self, zone_id: str, batch_id: str, members: Sequence[str]) -> bool: ...
    # `submitted`, with the changes to wait for and who polls them (None: a member takes it on)
    def submitted(
        self, zone_id: str, batch_id: str, change_ids: Sequence[str], poller: str | None
    ) -> bool: ...
    def claim(self, zone_id: str, batch_id: str, member: str, seen: BatchStatus) -> bool: ...  # poll it
    def alive(self, zone_id: str, batch_id: str, poller: str) -> None: ...  # the poller's sign of life
    def advance(
        self, zone_id: str, batch_id: str, state: str, *, after: str
    ) -> bool: ...  # False: not `after`
    def status(self, zone_id: str, batch_id: str) -> BatchStatus | None: ...
    def abandon(
        self, zone_id: str, batch_id: str, seen: BatchStatus | None
    ) -> bool: ...  # False: it moved on


class ChallengeRecords(Protocol):
    """The DNS-01 values a rotation of a certificate publishes and the HTTP-01 listener rules it creates,
    written down before they are published or created (the lease table's item `#challenges:<lease key>`): a
    rerun after a crash removes exactly these (a rule only while it still has the shape certrotate gives
    it)."""

    def recorded(self, certificate: str) -> list[DnsRecord]: ...
    def record(self, certificate: str, records: Sequence[DnsRecord]) -> None: ...
    def forget(self, certificate: str, records: Sequence[DnsRecord]) -> None: ...
    def recorded_rules(self, certificate: str) -> list[Http01Rule]: ...
    def record_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None: ...
    def forget_rules(self, certificate: str, rules: Sequence[Http01Rule]) -> None: ...


class ChallengeResponder(Protocol):
    """Answers challenges by one method (DNS-01 in Route 53, HTTP-01 on ALB rules), where the plan says."""

    def publish(
        self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer], *, deadline: float
    ) -> None: ...

    # removes what publish (of this plan's certificate, or a run of it that died) left; whatever went before
    def remove(self, plan: ChallengePlan, answers: Sequence[ChallengeAnswer]) -> None: ...

    # before ordering: removes what a run of the plan's certificates (plan.owners) that died left behind,
    # exactly what it recorded; returns what it found claiming to be theirs and left in place (to report)
    def remove_left_behind(self, plan: ChallengePlan) -> list[str]: ...


class Http01Listeners(ChallengeResponder, Protocol):
    """HTTP-01 on Application Load Balancers: their port-80 listeners, and rules answering there."""

    # the HTTP port-80 listeners of the load balancers of these endpoints (ALB/NLB listeners; others ignored)
    def port80_listeners(self, serving: Sequence[Endpoint]) -> list[HttpListener]: ...

    # before ordering: room for the plan's rules and no rule answering first (raises a PermanentFailure)
    def check(self, plan: ChallengePlan) -> None: ...


class Challenges(Protocol):
    """What an order needs: each name's method, and answers published and removed (challenges.py)."""

    def method_for(self, name: str) -> ChallengeMethod: ...
    def publish(self, answers: Sequence[ChallengeAnswer], *, deadline: float) -> None: ...
    def remove(self, answers: Sequence[ChallengeAnswer]) -> None: ...


class CertificateAuthority(Protocol):
    def issue(
        self,
        names: Sequence[str],
        key: KeySpec,
        challenges: Challenges,
        *,
        deadline: float,
        replaces: str | None = None,  # the ARI id of the certificate this order replaces (RFC 9773)
        profile: str | None = None,  # the ACME profile; None: the stack's default (ACME_PROFILE)
    ) -> IssuedCertificate: ...


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """A CA's ARI answer (RFC 9773): aware UTC times."""

    start: datetime
    end: datetime
    retry_after: datetime
    explanation_url: str | None = None


class RenewalInfoUnavailable(Exception):
    def __init__(self, reason: str, retry_after: datetime) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RenewalInfoSource(Protocol):
    def offered(self) -> bool: ...  # whether the CA serves renewalInfo at all
    def window(self, ari_id: str) -> RenewalWindow: ...  # raises RenewalInfoUnavailable


@dataclass(frozen=True, slots=True)
class Lease:
    certificate_name: str
    owner: str
    version: str
    expires: datetime


class Leases(Protocol):
    def acquire(self, certificate_name: str, *, seconds: int) -> Lease: ...  # raises RotationInProgress
    def renew(self, lease: Lease, *, seconds: int) -> Lease: ...
    def release(self, lease: Lease) -> None: ...


class ProgressRecords(Protocol):
    """Rotations' own progress records, by lease key (the certificate's name, or an ACM ARN; the adapter
    adds the account): read by rotations and scans to prove what tags only claim."""

    def load(self, subject: str) -> ProgressRecord | None: ...  # None: none, or one it cannot read
    def save(self, subject: str, record: ProgressRecord, *, keep_until: datetime) -> None: ...
    def delete(self, subject: str) -> None: ...


class RotationQueue(Protocol):
    def send(self, messages: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[str]: ...

    # (certificate name = message group, deduplication id, body) -> names sent


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...  # never raises


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...


@dataclass(frozen=True, slots=True)
class AcmCertificate:
    """One ACM certificate as ListCertificates/DescribeCertificate show it, with its tags once read."""

    arn: str
    region: str
    type: str  # IMPORTED, AMAZON_ISSUED or PRIVATE: certrotate renews IMPORTED ones only
    key_algorithm: str  # ACM's name: RSA_2048, EC_prime256v1, ...
    not_after: datetime | None
    not_before: datetime | None = None
    serial: str = ""  # as ACM shows it (DescribeCertificate)
    in_use_by: tuple[str, ...] = ()  # what ACM knows uses it (DescribeCertificate)
    tags: Mapping[str, str] | None = None  # None: not read

    def as_certificate(self) -> ServerCertificate:
        """The view planning's renewal and hold rules read (name = ARN; nothing is ever "replaced" nor rolled
        back: those tags are left out, see BESIDE_ONLY_TAGS). A renewal time learnt for the certificate this
        one re-imported over is left out: it is not this one's (a re-import keeps the tags; the rotation also
        removes it)."""
        assert self.not_after is not None
        tags = {k: v for k, v in (self.tags or {}).items() if k not in BESIDE_ONLY_TAGS}
        kept = planning.RenewalSchedule.parse(tags.get(RENEWAL_TAG))
        if kept is not None and kept.learnt_for_another(self.not_after):
            del tags[RENEWAL_TAG]
        return ServerCertificate(
            name=self.arn,
            arn=self.arn,
            certificate_id=self.arn,
            path="/",
            expiration=self.not_after,
            upload_date=self.not_before,
            tags=tags,
        )

    @property
    def ignored_claims(self) -> tuple[str, ...]:
        """The BESIDE_ONLY_TAGS this certificate carries: reported by the scan, never acted on."""
        return tuple(k for k in BESIDE_ONLY_TAGS if k in (self.tags or {}))


class AcmCertificates(Protocol):
    """ACM certificates in every region the stack looks at; a re-import keeps the ARN and associations."""

    def regions(self) -> tuple[str, ...]: ...
    def list_imported(self, region: str) -> list[AcmCertificate]: ...  # every page; tags not read
    def describe(self, arn: str) -> AcmCertificate | None: ...  # with tags; None: no such certificate
    def tags_of(self, arn: str) -> dict[str, str]: ...
    def body(self, arn: str) -> str: ...  # the leaf's PEM (GetCertificate)
    def reimport(
        self,
        arn: str,
        *,
        body_pem: str,
        chain_pem: str,
        private_key_pem: SecretPem,
        deadline: float | None = None,
    ) -> None: ...
    def tag(self, arn: str, tags: Mapping[str, str]) -> None: ...
    def untag(self, arn: str, keys: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Stashed:
    """An issued certificate kept until it is stored, and what it was ordered for."""

    issued: IssuedCertificate
    replaces: str  # the certificate it replaces (IAM: its ID; ACM: ARN and serial)
    inputs: str  # what it was ordered under (names, key, profile, CA): reused only for the same


class IssuedStash(Protocol):
    """Issued certificates not stored yet (an upload or import refused or cut short), kept encrypted (the
    lease table's item `#issued:<lease key>`): the next try stores one without ordering again."""

    def keep(self, certificate: str, stashed: Stashed, *, expires: datetime) -> bool: ...  # False: not kept
    def take(self, certificate: str) -> Stashed | None: ...  # None: none (one that does not open is dropped)
    def drop(self, certificate: str) -> None: ...


class ScanIndexStore(Protocol):
    """Where a scan keeps its index between runs (scan_index): one blob, read once and written once a scan."""

    def load(self) -> bytes | None: ...  # None: there is none
    def save(self, blob: bytes) -> None: ...


class EndpointRecords(Protocol):
    """Where the scan's last complete search saw a certificate served, as its index keeps it (one read)."""

    def served(self, certificate_id: str) -> KnownEndpoints | None: ...  # None: no record, or unreadable
