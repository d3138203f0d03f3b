"""Proving what the bookkeeping tags claim, before anything is served, resumed or retired on their word.

`certrotate:replaced-by` (and `certrotate:replacement-served-since`) are tags: anyone allowed
iam:TagServerCertificate writes them. Believed, they would let such a person point every listener of a
certificate at any other certificate and have the original deleted. So a claim that certificate X replaces
certificate O holds only when (check.claims.check_claim, fed here through the ports):
- X names O back (`certrotate:replaces`), is managed, covers every name of O and chains to the trust roots;
- the progress record the rotation of O wrote in the lease table before it uploaded X names O's certificate
  ID, X, and X's leaf (SHA-256): the lease table is certrotate's own, and its record is the proof.
A claim that fails is reported and ignored; how long the replacement has served is the record's word too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from certrotate.check.certificates import dns_names_of, leaf_sha256, load_pem_certificates
from certrotate.check.claims import (
    BOOKKEEPING_TAGS,
    Believed,
    ClaimCheck,
    Unproven,
    check_claim,
    trusted_view,
)
from certrotate.check.issued import chain_problem
from certrotate.decide.naming import replacement_name
from certrotate.errors import ValidationFailed
from certrotate.model import ProgressRecord, ServerCertificate
from certrotate.ports import CertificateReader, Clock, ProgressRecords, StoredCertificate, TrustAnchors


@dataclass(frozen=True, slots=True)
class Claim:
    check: ClaimCheck
    replacement: ServerCertificate | None  # as IAM holds it now (None: no such certificate)
    record: ProgressRecord | None  # the old certificate's progress record, whatever it says
    sha256: str  # the replacement leaf's SHA-256 as read now ("" when unreadable or absent)

    @property
    def proven(self) -> bool:
        return self.check.proven


class ClaimVerifier:
    def __init__(
        self,
        *,
        store: CertificateReader,
        progress: ProgressRecords,
        trust_roots: TrustAnchors | None,
        clock: Clock,
    ) -> None:
        self._store = store
        self._progress = progress
        self._trust = trust_roots
        self._clock = clock
        self._roots: list[x509.Certificate] | None = None

    def claims(
        self,
        old: ServerCertificate,
        old_names: Sequence[str] | None = None,
        *,
        deterministic: bool = True,
    ) -> list[Claim]:
        """Every claim about `old`'s replacement, checked: its replaced-by tag's first, then (with
        `deterministic`) whatever sits at the name certrotate gives its replacement. Empty: no claim."""
        candidates: dict[str, StoredCertificate | None] = {}
        if old.replaced_by:
            candidates[old.replaced_by] = self._store.get(old.replaced_by)
        name = replacement_name(old.name, old.certificate_id)
        if deterministic and name not in candidates:
            found = self._store.get(name)
            if found is not None:
                candidates[name] = found
        if not candidates:
            return []
        if old_names is None:
            stored_old = self._store.get(old.name)
            old_names = _names(stored_old.body_pem) if stored_old else ()
        record = self._progress.load(old.name)
        return [self._check(old, old_names, claimed, found, record) for claimed, found in candidates.items()]

    def _check(
        self,
        old: ServerCertificate,
        old_names: Sequence[str],
        claimed: str,
        found: StoredCertificate | None,
        record: ProgressRecord | None,
    ) -> Claim:
        if found is None:
            return Claim(check_claim(old, old_names, claimed, None, record=record), None, record, "")
        try:
            certificates = load_pem_certificates(found.body_pem)
            chain = load_pem_certificates(found.chain_pem)
        except ValidationFailed as unreadable:
            check = check_claim(
                old, old_names, claimed, found.metadata, chain_problem=str(unreadable), record=record
            )
            return Claim(check, found.metadata, record, "")
        leaf = certificates[0] if certificates else None
        if leaf is None:
            check = check_claim(
                old,
                old_names,
                claimed,
                found.metadata,
                chain_problem="it holds no certificate",
                record=record,
            )
            return Claim(check, found.metadata, record, "")
        names = dns_names_of(leaf)
        sha256 = leaf_sha256(leaf)
        check = check_claim(
            old,
            old_names,
            claimed,
            found.metadata,
            replacement_names=names,
            replacement_sha256=sha256,
            chain_problem=self._chain_problem(leaf, chain, (old_names or names or ("?",))[0]),
            record=record,
        )
        return Claim(check, found.metadata, record, sha256)

    def _chain_problem(
        self, leaf: x509.Certificate, chain: Sequence[x509.Certificate], name: str
    ) -> str | None:
        if self._trust is None:
            return "no trust roots are configured to check its chain"
        if self._roots is None:
            self._roots = list(self._trust.roots())
        return chain_problem(leaf, chain, self._roots, name, self._clock.now(), str(self._trust))


def proven(claims: Sequence[Claim]) -> Claim | None:
    """The first proven claim, if any."""
    return next((c for c in claims if c.proven), None)


def believe(
    verifier: ClaimVerifier | None,
    certificate: ServerCertificate,
    old_names: Sequence[str] | None = None,
    *,
    replacement_listed: bool,
) -> Believed:
    """What certrotate may believe about one certificate: its bookkeeping tags' claim and, when a certificate
    sits at the name certrotate gives its replacement (`replacement_listed`), that one's, each proven or
    reported. `verifier` None: no progress records to read (no lease table), so no claim is proven. A claim
    that cannot be checked (an error reading) is unproven."""
    tagged = any(tag in certificate.tags for tag in BOOKKEEPING_TAGS)
    if not certificate.managed or not (tagged or replacement_listed):
        return Believed(certificate)
    claims: list[Claim] = []
    problem: str | None = None
    if tagged and not certificate.replaced_by:
        problem = "certrotate:replacement-served-since without certrotate:replaced-by"
    elif verifier is None:
        problem = "no lease table (LEASE_TABLE_NAME) holds progress records to prove it"
    else:
        try:
            claims = verifier.claims(certificate, old_names, deterministic=replacement_listed)
        except Exception as error:  # unverified is unproven; a rotation verifies again
            problem = f"could not be verified ({type(error).__name__}: {error})"
    good = proven(claims)
    if good is not None:
        return Believed(trusted_view(certificate, good.check.claimed, good.record))
    reports = [Unproven(certificate.name, c.check.claimed, c.check.reason, c.check.adoptable) for c in claims]
    if problem is not None or (tagged and not reports):
        reports.append(
            Unproven(certificate.name, certificate.replaced_by or "", problem or "no claim holds", False)
        )
    return Believed(trusted_view(certificate, None), tuple(reports))


def _names(body_pem: str) -> tuple[str, ...]:
    try:
        certificates = load_pem_certificates(body_pem)
    except ValidationFailed:
        return ()
    return dns_names_of(certificates[0]) if certificates else ()
