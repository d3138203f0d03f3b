"""Checks on certificates: what an old one is made of, and whether a new one is fit to upload.

Every check that fails raises ValidationFailed with a message that says which check and why;
nothing is uploaded unless all pass.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certrotate import planning
from certrotate.config import TrustRoots, TrustSource
from certrotate.errors import ValidationFailed
from certrotate.model import CertificateFacts, IssuedCertificate, KeyKind, KeySpec

# The NIST curves behind KeySpec(EC, 256/384) (secp256k1 is 256 bits too, and no endpoint accepts it).
EC_CURVE_NAMES = {256: "secp256r1", 384: "secp384r1"}
# Shipped in the layer (package data): Let's Encrypt's published staging roots.
LETS_ENCRYPT_STAGING_ROOTS = ("roots", "letsencrypt-staging.pem")


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


def load_trust_roots(trust: TrustRoots) -> list[x509.Certificate]:
    """The roots a new certificate must chain to, as config.choose_trust_roots chose them."""
    if trust.source is TrustSource.BUNDLE:
        assert trust.bundle is not None
        data, where = trust.bundle.read_bytes(), str(trust.bundle)
    elif trust.source is TrustSource.LETS_ENCRYPT_STAGING:
        shipped = resources.files("certrotate").joinpath(*LETS_ENCRYPT_STAGING_ROOTS)
        data, where = shipped.read_bytes(), "/".join(LETS_ENCRYPT_STAGING_ROOTS)
    else:
        import certifi  # only where needed: it is a dependency of requests, which acme needs anyway

        data, where = Path(certifi.where()).read_bytes(), certifi.where()
    roots = load_pem_certificates(data)
    if not roots:
        raise ValidationFailed(f"the trust bundle {where} holds no certificate")
    return roots


def _covers(names: Sequence[str], wanted: str) -> bool:
    return wanted.lower() in names


def validate_issued(
    issued: IssuedCertificate,
    *,
    required_names: Sequence[str],
    expected_key: KeySpec,
    trust_roots: Sequence[x509.Certificate],
    trust_name: str = "the issuer trust bundle",
    now: datetime | None = None,
) -> x509.Certificate:
    """Check a new certificate before upload; return the parsed leaf.

    Chain: the intermediates in order, each certifying the one before, no leaf repeated; the whole path
    verifies (signatures, validity, serverAuth) to one of `trust_roots` (called `trust_name` in errors).
    Key: the private key matches the leaf and is of a kind and size ELB accepts. Names: every name of the
    old certificate is covered.
    """
    now = now or datetime.now(UTC)
    leaves = load_pem_certificates(issued.certificate_pem)
    if len(leaves) != 1:
        raise ValidationFailed(f"the certificate body must hold exactly one certificate, not {len(leaves)}")
    leaf = leaves[0]
    chain = load_pem_certificates(issued.chain_pem)
    if not chain:
        raise ValidationFailed("the chain is empty: IAM and ELB need the intermediates")

    previous = leaf
    for position, intermediate in enumerate(chain, start=1):
        if intermediate == leaf:
            raise ValidationFailed("the chain repeats the leaf certificate")
        try:
            previous.verify_directly_issued_by(intermediate)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ValidationFailed(
                f"chain out of order: chain certificate {position} did not issue the one before it ({exc})"
            ) from exc
        previous = intermediate

    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        raise ValidationFailed(
            f"the certificate is not valid now ({leaf.not_valid_before_utc} to {leaf.not_valid_after_utc})"
        )

    names = dns_names_of(leaf)
    missing = [n for n in required_names if not _covers(names, n)]
    if missing:
        raise ValidationFailed("the certificate does not cover " + ", ".join(missing))

    problem = chain_problem(
        leaf, chain, trust_roots, required_names[0] if required_names else names[0], now, trust_name
    )
    if problem:
        raise ValidationFailed(problem)

    try:
        private_key = serialization.load_pem_private_key(bytes(issued.private_key_pem), password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("the private key is unreadable or encrypted") from exc  # never echo key text
    if private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValidationFailed("the private key does not match the certificate")

    spec = key_spec_of(leaf.public_key())
    if spec != expected_key:
        raise ValidationFailed(f"the key is {spec}, expected {expected_key}")
    # The same table that refused, before ordering, a key an endpoint serving the certificate cannot use.
    if spec not in planning.KEYS_ANY_ENDPOINT_ACCEPTS:
        raise ValidationFailed(f"no load balancer or CloudFront distribution accepts {spec} keys")
    if spec.kind is KeyKind.EC:
        public = leaf.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        if public.curve.name != EC_CURVE_NAMES.get(spec.size):
            raise ValidationFailed(f"no endpoint accepts ECDSA keys on {public.curve.name}")
    return leaf


def chain_problem(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    trust_roots: Sequence[x509.Certificate],
    name: str,
    now: datetime,
    trust_name: str = "the issuer trust bundle",
) -> str | None:
    """Why `leaf` (with its intermediates) does not verify as a server certificate for `name` to one of
    `trust_roots` at `now` (signatures, validity, serverAuth), or None when it does."""
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust_roots)))
        .time(now)
        .build_server_verifier(x509.DNSName(_concrete(name)))
    )
    try:
        verifier.verify(leaf, list(chain))
    except VerificationError as exc:
        return f"the chain does not verify to {trust_name}: {exc}"
    return None


def leaf_sha256(certificate: x509.Certificate) -> str:
    """The SHA-256 of a certificate's DER encoding (hex): what a progress record names it by."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _concrete(name: str) -> str:
    """A name the verifier can match: a wildcard is checked through one label under it."""
    return "certrotate-check." + name[2:] if name.startswith("*.") else name
