"""Certificates as read from PEM: the names, key and validity they hold, and their ARI identity."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certrotate.errors import ValidationFailed
from certrotate.model import CertificateFacts, KeyKind, KeySpec


def load_pem_certificates(pem: str | bytes) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    if not data.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValidationFailed(f"unreadable PEM certificate: {exc}") from exc


def key_spec_of(public_key: object) -> KeySpec:
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeySpec(KeyKind.RSA, public_key.key_size)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeySpec(KeyKind.EC, public_key.curve.key_size)
    raise ValidationFailed(
        f"unsupported key type {type(public_key).__name__}: ELB accepts RSA and ECDSA only"
    )


def dns_names_of(certificate: x509.Certificate) -> tuple[str, ...]:
    """The names a certificate covers: its SAN DNS names, or its common name when it has no SAN."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = [
            str(a.value).lower() for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
    return tuple(dict.fromkeys(names))


def ip_addresses_of(certificate: x509.Certificate) -> tuple[str, ...]:
    """The IP addresses a certificate's SAN names (certrotate orders DNS names only: see the rotation)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(dict.fromkeys(str(a) for a in san.get_values_for_type(x509.IPAddress)))


def facts_of(certificate_pem: str) -> CertificateFacts:
    certs = load_pem_certificates(certificate_pem)
    if not certs:
        raise ValidationFailed("the certificate body holds no certificate")
    leaf = certs[0]
    names = dns_names_of(leaf)
    addresses = ip_addresses_of(leaf)
    if not names:
        only = f" (only IP addresses: {', '.join(addresses)})" if addresses else ""
        raise ValidationFailed(f"the certificate names no DNS name to renew{only}")
    return CertificateFacts(
        dns_names=names,
        key=key_spec_of(leaf.public_key()),
        not_after=leaf.not_valid_after_utc,
        not_before=leaf.not_valid_before_utc,
        ari_id=ari_certificate_id(leaf),
        ip_addresses=addresses,
    )


def ari_certificate_id(certificate: x509.Certificate) -> str | None:
    """The certificate's ARI id (RFC 9773 section 4.1): base64url of the AKI keyIdentifier, ".", base64url of
    the DER serial (two's complement, big endian), without padding. None without an AKI keyIdentifier."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if aki.key_identifier is None:
        return None
    serial = certificate.serial_number
    serial_der = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki.key_identifier)}.{b64(serial_der)}"


def leaf_sha256(certificate: x509.Certificate) -> str:
    """The SHA-256 of a certificate's DER encoding (hex): what a progress record names it by."""
    return certificate.fingerprint(hashes.SHA256()).hex()
