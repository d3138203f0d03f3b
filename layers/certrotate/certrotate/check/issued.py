"""Whether an issued certificate is fit to store: chain, validity, names, key; every failed check raises
ValidationFailed saying which check and why, and nothing is stored unless all pass."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certrotate.check.certificates import dns_names_of, key_spec_of, load_pem_certificates
from certrotate.errors import ValidationFailed
from certrotate.model import IssuedCertificate, KeyKind, KeySpec
from certrotate.model.keys import KEYS_ANY_ENDPOINT_ACCEPTS

# The NIST curves behind KeySpec(EC, 256/384) (secp256k1 is 256 bits too, and no endpoint accepts it).
EC_CURVE_NAMES = {256: "secp256r1", 384: "secp384r1"}


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
    if spec not in KEYS_ANY_ENDPOINT_ACCEPTS:
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


def _concrete(name: str) -> str:
    """A name the verifier can match: a wildcard is checked through one label under it."""
    return "certrotate-check." + name[2:] if name.startswith("*.") else name
