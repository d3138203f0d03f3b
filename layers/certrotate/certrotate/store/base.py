"""The store port: what the one rotation pipeline (rotate.pipeline) asks of a place certificates are kept.

What differs between stores is the store's business: IAM keeps a new certificate beside the old one (a new
name, endpoints moved, the old one retired), ACM re-imports in place (the ARN and its associations stay).
What is the same (deciding, ordering, checking, holding, reporting) is the pipeline's, and exists once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from cryptography import x509

from certrotate.check.verifier import Claim
from certrotate.decide.holds import inputs_fingerprint
from certrotate.errors import OutOfTime
from certrotate.model import (
    CertificateFacts,
    Endpoint,
    IssuedCertificate,
    KeySpec,
    ProgressRecord,
    ServerCertificate,
)
from certrotate.names import PROFILE_TAG
from certrotate.order.issue import StashTicket
from certrotate.order.refusals import NamePolicy
from certrotate.ports import Clock, Lease, Leases, TrustAnchors
from certrotate.report.results import RotationResult

R = TypeVar("R")  # the store's own reading: IAM's stored certificate, ACM's AcmCertificate


class Placement(StrEnum):
    BESIDE = (
        "beside"  # a new certificate beside the old one (IAM): a new name, endpoints moved, the old retired
    )
    IN_PLACE = (
        "in-place"  # the same certificate renewed where it is (ACM re-import): ARN and associations stay
    )


@dataclass(frozen=True, slots=True)
class Found(Generic[R]):
    subject: str  # IAM name | ACM ARN: what the lease, progress record, stash item and hold are keyed by
    view: ServerCertificate  # as stored, tags included (ACM: AcmCertificate.as_certificate())
    own: R


@dataclass(frozen=True, slots=True)
class Current(Generic[R]):
    """A certificate found and read: its leaf and the facts the decisions and the order read."""

    found: Found[R]
    facts: CertificateFacts
    leaf: x509.Certificate

    @property
    def subject(self) -> str:
        return self.found.subject

    @property
    def view(self) -> ServerCertificate:
        return self.found.view

    @property
    def own(self) -> R:
        return self.found.own


@dataclass(frozen=True, slots=True)
class Unproven:
    """A tag's claim the progress record does not prove: reported, never acted on."""

    claimed: str
    reason: str
    step: str  # the result's step
    log: Mapping[str, str]  # the WARNING's fields ("a claim that is not proven is ignored")


@dataclass(frozen=True, slots=True)
class Assessment:
    """What a rotation may believe about a certificate: its bookkeeping tags as far as they are proven."""

    view: ServerCertificate  # what the policies read: bookkeeping tags only as far as proven
    unproven: tuple[Unproven, ...] = ()
    proven: Claim | None = None  # BESIDE: a proven replacement: resume it
    adoptable: Claim | None = None  # BESIDE: every check but the record holds: force adopts it
    taken: Claim | None = None  # BESIDE: the replacement's name holds a certificate not proven ours
    finished: str | None = None  # IN_PLACE: an earlier run's store is proven (the serial it replaced)
    nothing_claimed: bool = False  # BESIDE: no replaced-by tag and nothing at the replacement's name


class HeldLease:
    """The lease a run holds, renewed between long steps; released with its latest version."""

    def __init__(self, leases: Leases, lease: Lease, seconds: int) -> None:
        self._leases = leases
        self._lease = lease
        self._seconds = seconds

    def renew(self) -> None:
        self._lease = self._leases.renew(self._lease, seconds=self._seconds)

    def release(self) -> None:
        self._leases.release(self._lease)


def require_time(clock: Clock, deadline: float, needed: float, what: str) -> None:
    """Raise OutOfTime when less than `needed` seconds are left before `deadline` (Clock.monotonic())."""
    left = deadline - clock.monotonic()
    if left < needed:
        raise OutOfTime(f"only {left:.0f} s left, too little to {what}: a rerun continues from here")


class Store(Protocol[R]):
    placement: Placement
    subject_field: str  # "certificate_name" | "certificate_arn": results, events, messages
    refusals: tuple[type[Exception], ...]  # the store refused what the certificate is: the stash is dropped

    def find(self, subject: str) -> Found[R]: ...  # InvalidRequest before anything
    def read(self, found: Found[R]) -> Current[R]: ...  # the leaf and its facts (ValidationFailed: held)
    def new_result(self, current: Current[R], correlation_id: str) -> RotationResult: ...
    def assess(self, current: Current[R]) -> Assessment: ...
    def reassess(
        self, current: Current[R], assessed: Assessment, result: RotationResult
    ) -> tuple[Current[R], Assessment] | None: ...  # under the lease; None: a concurrent run finished it
    def check_room(self) -> None: ...  # IAM QuotaExhausted; ACM nothing
    def key_for(
        self, current: Current[R], view: ServerCertificate, serving: Sequence[Endpoint]
    ) -> KeySpec: ...  # the key to order, checked before any order (a PermanentFailure says why not)
    def challenge_owners(self, view: ServerCertificate) -> tuple[str, ...]: ...  # whose left answers go
    def begin(self, current: Current[R]) -> Current[R]: ...  # progress on the certificate before ordering
    def ticket(self, current: Current[R], inputs: str) -> StashTicket: ...
    def check_issued(self, current: Current[R], leaf: x509.Certificate, result: RotationResult) -> None: ...
    def put(
        self,
        current: Current[R],
        view: ServerCertificate,
        issued: IssuedCertificate,
        leaf: x509.Certificate,
        *,
        name: str,
        lease: HeldLease,
        deadline: float,
        result: RotationResult,
    ) -> tuple[ServerCertificate | None, ProgressRecord | None]: ...
    def finish(
        self,
        current: Current[R],
        view: ServerCertificate,
        stored: ServerCertificate | None,
        result: RotationResult,
    ) -> ServerCertificate: ...
    def detail(
        self,
        current: Current[R],
        result: RotationResult,
        stored: ServerCertificate | None = None,
        *,
        finished: bool = False,
    ) -> dict[str, Any]: ...  # event details: the contract's two shapes
    def tag(self, subject: str, tags: Mapping[str, str]) -> None: ...  # holds, Retry-After


class BesideStore(Store[R], Protocol[R]):
    """A store that renews beside the old certificate: what its dry run reads besides the port."""

    def room(self) -> tuple[int, int]: ...  # (certificates held, quota), read now
    def replacement(self, name: str) -> ServerCertificate | None: ...  # the certificate at `name`, if any


@dataclass(frozen=True, slots=True)
class RotationSettings:
    renew_before_days: int | None
    lease_seconds: int
    grace_seconds: int
    trust_roots: TrustAnchors  # config.choose_trust_roots: the bundle, Let's Encrypt staging's or certifi's
    # A full ALB/NLB (TooManyCertificates): remove the old SNI certificate, then add the new one. For the
    # seconds between the two calls, SNI clients asking for those names get the listener's default.
    sni_swap_when_full: bool = False
    # The names the account of the certificates rotated may have renewed (ACCOUNT_DOMAINS, DNS_ACCOUNTS).
    names: NamePolicy = field(default_factory=NamePolicy)
    acme_profile: str | None = None  # ACME_PROFILE: the profile of an order whose certificate names none
    hold_context: str = ""  # Settings.hold_context: a deterministic refusal's inputs besides the certificate

    def inputs_of(self, certificate: ServerCertificate) -> str:
        """The certificate's inputs_fingerprint now: what a deterministic refusal's hold was recorded for."""
        return inputs_fingerprint(certificate, self.hold_context)

    def profile_for(self, tags: Mapping[str, str]) -> str | None:
        """The ACME profile an order for a certificate with these tags is placed under (None: the CA's
        default): the tag certrotate:profile, else ACME_PROFILE."""
        return tags.get(PROFILE_TAG, "").strip() or self.acme_profile
