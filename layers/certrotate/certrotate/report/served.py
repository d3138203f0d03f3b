"""Pure comparison of what an endpoint serves over TLS with what IAM says it should serve.

A load balancer picks, for the name a client sends (SNI), a certificate of its list that covers the name
(the default one included); with no match, it serves the default. CloudFront and Classic listeners have one
certificate. The check asks with each name of the certificate being verified and compares the leaf (by
fingerprint: serial and expiry follow) and the chain the server sent with the certificate IAM holds.
No I/O here: certificates come in as PEM or DER.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

# The label put in place of `*` to ask for a wildcard name (any single label matches the wildcard).
WILDCARD_PROBE_LABEL = "certrotate-verify"


@dataclass(frozen=True, slots=True)
class CertificateView:
    """What identifies a certificate on the wire: fingerprint, serial, names, expiry and issuer."""

    fingerprint: str  # SHA-256 of the DER, hex
    serial: str  # hex
    not_after: datetime
    dns_names: tuple[str, ...]
    subject: str
    issuer: str

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateView:
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = tuple(san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return cls(
            fingerprint=hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
            serial=format(certificate.serial_number, "x"),
            not_after=certificate.not_valid_after_utc,
            dns_names=names,
            subject=_common_name(certificate.subject),
            issuer=_common_name(certificate.issuer),
        )


@dataclass(frozen=True, slots=True)
class ExpectedCertificate:
    """An IAM server certificate as it should appear on the wire: its leaf and its chain (no root)."""

    name: str
    reference: str  # what endpoints call it: the ARN (load balancers) or the certificate ID (CloudFront)
    leaf: CertificateView
    chain: tuple[str, ...]  # fingerprints of the intermediates, leaf's issuer first

    @classmethod
    def from_pem(cls, name: str, reference: str, body_pem: str, chain_pem: str | None) -> ExpectedCertificate:
        leaf = x509.load_pem_x509_certificate(body_pem.encode())
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem and chain_pem.strip() else []
        return cls(
            name, reference, CertificateView.of(leaf), tuple(CertificateView.of(c).fingerprint for c in chain)
        )


@dataclass(frozen=True, slots=True)
class Presented:
    """What a server sent in its handshake: the leaf, then the rest of the chain as sent."""

    leaf: CertificateView
    chain: tuple[str, ...]

    @classmethod
    def from_der(cls, certificates: Sequence[bytes]) -> Presented:
        if not certificates:
            raise ValueError("the server sent no certificate")
        views = [CertificateView.of(x509.load_der_x509_certificate(der)) for der in certificates]
        return cls(views[0], tuple(v.fingerprint for v in views[1:]))


class CheckStatus(StrEnum):
    OK = "ok"
    OTHER_MATCH = "ok-other-match"  # another certificate of the endpoint covers the name too; it was chosen
    WRONG_CERTIFICATE = "wrong-certificate"  # e.g. an SNI list or a default still serving the old one
    WRONG_CHAIN = "wrong-chain"
    UNREACHABLE = "unreachable"

    @property
    def is_mismatch(self) -> bool:
        return self in (CheckStatus.WRONG_CERTIFICATE, CheckStatus.WRONG_CHAIN)


@dataclass(frozen=True, slots=True)
class CheckResult:
    endpoint: str  # the endpoint's label
    address: str  # host:port that was asked
    server_name: str  # SNI sent
    expected: str  # IAM name of the certificate that should be served
    status: CheckStatus
    detail: str
    served_serial: str | None = None
    served_not_after: datetime | None = None
    served_name: str | None = None  # IAM name of what was served, when IAM knows it

    def as_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "address": self.address,
            "server_name": self.server_name,
            "expected": self.expected,
            "status": self.status.value,
            "detail": self.detail,
            "served_serial": self.served_serial,
            "served_not_after": self.served_not_after.isoformat() if self.served_not_after else None,
            "served_certificate": self.served_name,
        }


def server_names(dns_names: Sequence[str]) -> list[str]:
    """The names to send as SNI to check a certificate: each of its names once, wildcards as one label."""
    asked: list[str] = []
    for name in dns_names:
        name = name.rstrip(".").lower()
        if name.startswith("*."):
            name = f"{WILDCARD_PROBE_LABEL}.{name[2:]}"
        if name not in asked:
            asked.append(name)
    return asked


def covers(dns_names: Sequence[str], host: str) -> bool:
    """Whether a certificate with these names is valid for `host` (RFC 6125: `*` is one whole left label)."""
    host = host.rstrip(".").lower()
    for pattern in dns_names:
        pattern = pattern.rstrip(".").lower()
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def candidates(
    host: str, default: ExpectedCertificate | None, sni: Sequence[ExpectedCertificate]
) -> list[ExpectedCertificate]:
    """The certificates an endpoint may legitimately serve for `host`: those of its list that cover it,
    or its default when none does."""
    listed = [c for c in (default, *sni) if c is not None]
    matching = [c for c in listed if covers(c.leaf.dns_names, host)]
    return matching or ([default] if default is not None else [])


def compare(
    *,
    endpoint: str,
    address: str,
    server_name: str,
    expected: ExpectedCertificate,
    allowed: Sequence[ExpectedCertificate],
    presented: Presented | None,
    known: Sequence[ExpectedCertificate] = (),
    error: str | None = None,
) -> CheckResult:
    """Judge one handshake. `allowed` are the endpoint's certificates that may answer for `server_name`
    (see candidates); `known` are other IAM certificates, to name what was served instead."""
    leaf = presented.leaf if presented is not None else None
    by_fingerprint = {c.leaf.fingerprint: c for c in (*known, *allowed, expected)}
    match = by_fingerprint.get(leaf.fingerprint) if leaf is not None else None

    def result(status: CheckStatus, detail: str) -> CheckResult:
        return CheckResult(
            endpoint=endpoint,
            address=address,
            server_name=server_name,
            expected=expected.name,
            status=status,
            detail=detail,
            served_serial=leaf.serial if leaf else None,
            served_not_after=leaf.not_after if leaf else None,
            served_name=match.name if match else None,
        )

    if presented is None or leaf is None:
        return result(CheckStatus.UNREACHABLE, error or "no handshake")
    if leaf.fingerprint == expected.leaf.fingerprint:
        if presented.chain[: len(expected.chain)] != expected.chain:
            return result(
                CheckStatus.WRONG_CHAIN,
                f"serves {expected.name} with a chain of {len(presented.chain)} certificate(s) that "
                f"differs from the {len(expected.chain)} IAM holds",
            )
        return result(
            CheckStatus.OK,
            f"serves {expected.name} (serial {leaf.serial}, expires {leaf.not_after:%Y-%m-%d})",
        )
    if match is not None and any(c.leaf.fingerprint == leaf.fingerprint for c in allowed):
        return result(
            CheckStatus.OTHER_MATCH, f"serves {match.name}, which the endpoint also lists for {server_name}"
        )
    what = f"{match.name} " if match else f"a certificate unknown to IAM ({leaf.subject}) "
    return result(
        CheckStatus.WRONG_CERTIFICATE,
        f"serves {what}(serial {leaf.serial}, expires {leaf.not_after:%Y-%m-%d}) "
        f"where IAM says {expected.name} (serial {expected.leaf.serial})",
    )


def _common_name(name: x509.Name) -> str:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else name.rfc4514_string()
