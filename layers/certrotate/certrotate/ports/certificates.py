"""The certificate stores (IAM, ACM) and the lease table's certificate items, as the core sees them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from certrotate.model import (
    IssuedCertificate,
    ProgressRecord,
    RenewalSchedule,
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

if TYPE_CHECKING:
    from cryptography import x509

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


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    metadata: ServerCertificate  # with tags
    body_pem: str
    chain_pem: str = ""  # the intermediates IAM holds with it


class CertificateReader(Protocol):
    """Reads one IAM server certificate (what proving a claim needs: check.verifier.ClaimVerifier)."""

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
    # (server certificates held, quota); `kept`: perhaps a reading a short time old (adapters/aws/iam.py)
    def room(self, *, kept: bool = False) -> tuple[int, int]: ...


class ProgressRecords(Protocol):
    """Rotations' own progress records, by lease key (the certificate's name, or an ACM ARN; the adapter
    adds the account): read by rotations and scans to prove what tags only claim."""

    def load(self, subject: str) -> ProgressRecord | None: ...  # None: none, or one it cannot read
    def save(self, subject: str, record: ProgressRecord, *, keep_until: datetime) -> None: ...
    def delete(self, subject: str) -> None: ...


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
    # Whether ACM holds it as an imported certificate (the adapter reads `type`): the only kind renewed.
    imported: bool = False

    def as_certificate(self) -> ServerCertificate:
        """The view the renewal and hold rules (decide/) read (name = ARN; nothing is ever "replaced" nor
        rolled back: those tags are left out, see BESIDE_ONLY_TAGS). A renewal time learnt for the certificate
        this one re-imported over is left out: it is not this one's (a re-import keeps the tags; the rotation
        also removes it)."""
        assert self.not_after is not None
        tags = {k: v for k, v in (self.tags or {}).items() if k not in BESIDE_ONLY_TAGS}
        kept = RenewalSchedule.parse(tags.get(RENEWAL_TAG))
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


class TrustAnchors(Protocol):
    """The roots every new certificate must chain to, read where the settings say (a bundle, the shipped
    roots, certifi): the core holds them as a value and never reads a file itself."""

    def roots(self) -> list[x509.Certificate]: ...  # raises OSError, or ValidationFailed when unreadable
    def __str__(self) -> str: ...  # where they come from, for messages
