"""Checks a new certificate passes before upload: each failure is caught and named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from certrotate.check.certificates import facts_of, load_pem_certificates
from certrotate.check.issued import validate_issued
from certrotate.errors import ValidationFailed
from certrotate.model import IssuedCertificate, KeyKind, KeySpec, SecretPem
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devstack.fixtures import LocalCA, make_certificate

RSA2048 = KeySpec(KeyKind.RSA, 2048)
NAMES = ["example.com", "*.example.com", "www.example.com"]


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA("validation test")


def issued(
    ca: LocalCA, names: list[str] = NAMES, days: float = 60, key: str = "rsa2048"
) -> IssuedCertificate:
    made = make_certificate(names, days, key=key, ca=ca)  # type: ignore[arg-type]
    return IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode()))


def check(
    ca: LocalCA,
    certificate: IssuedCertificate,
    names: list[str] = NAMES,
    key: KeySpec = RSA2048,
    now: datetime | None = None,
) -> None:
    validate_issued(certificate, required_names=names, expected_key=key, trust_roots=[ca.root], now=now)


def test_a_good_certificate_passes(ca: LocalCA) -> None:
    check(ca, issued(ca))


def test_ecdsa_p256_passes_when_expected(ca: LocalCA) -> None:
    check(ca, issued(ca, key="ec256"), key=KeySpec(KeyKind.EC, 256))


def test_wrong_key_kind_is_rejected(ca: LocalCA) -> None:
    with pytest.raises(ValidationFailed, match="expected ECDSA P-256"):
        check(ca, issued(ca), key=KeySpec(KeyKind.EC, 256))


def test_a_missing_name_is_named(ca: LocalCA) -> None:
    with pytest.raises(ValidationFailed, match=r"does not cover api\.example\.com"):
        check(ca, issued(ca), names=[*NAMES, "api.example.com"])


def test_a_foreign_key_is_rejected_without_quoting_it(ca: LocalCA) -> None:
    good = issued(ca)
    other = issued(ca)
    with pytest.raises(ValidationFailed, match="does not match") as caught:
        check(ca, IssuedCertificate(good.certificate_pem, good.chain_pem, other.private_key_pem))
    assert "PRIVATE KEY" not in str(caught.value)


def test_an_untrusted_root_is_rejected(ca: LocalCA) -> None:
    stranger = LocalCA("stranger")
    with pytest.raises(ValidationFailed, match="does not verify"):
        validate_issued(issued(ca), required_names=NAMES, expected_key=RSA2048, trust_roots=[stranger.root])


def test_an_empty_chain_is_rejected(ca: LocalCA) -> None:
    good = issued(ca)
    with pytest.raises(ValidationFailed, match="chain is empty"):
        check(ca, IssuedCertificate(good.certificate_pem, "", good.private_key_pem))


def test_a_chain_in_the_wrong_order_is_rejected(ca: LocalCA) -> None:
    good = issued(ca)
    with pytest.raises(ValidationFailed, match="out of order"):
        check(ca, IssuedCertificate(good.certificate_pem, ca.root_pem + good.chain_pem, good.private_key_pem))


def test_a_chain_that_repeats_the_leaf_is_rejected(ca: LocalCA) -> None:
    good = issued(ca)
    with pytest.raises(ValidationFailed, match="repeats the leaf"):
        check(
            ca,
            IssuedCertificate(
                good.certificate_pem, good.certificate_pem + good.chain_pem, good.private_key_pem
            ),
        )


def test_a_body_with_two_certificates_is_rejected(ca: LocalCA) -> None:
    good = issued(ca)
    with pytest.raises(ValidationFailed, match="exactly one"):
        check(
            ca, IssuedCertificate(good.certificate_pem + good.chain_pem, good.chain_pem, good.private_key_pem)
        )


def test_an_expired_certificate_is_rejected(ca: LocalCA) -> None:
    with pytest.raises(ValidationFailed, match="not valid now"):
        check(ca, issued(ca), now=datetime.now(UTC) + timedelta(days=61))


def test_garbage_pem_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed, match="unreadable"):
        load_pem_certificates("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")


def test_facts_of_reads_names_and_key(ca: LocalCA) -> None:
    facts = facts_of(issued(ca, key="ec256").certificate_pem)
    assert facts.dns_names == tuple(NAMES)
    assert facts.key == KeySpec(KeyKind.EC, 256)


def test_secret_pem_never_prints_its_content() -> None:
    secret = SecretPem(b"-----BEGIN PRIVATE KEY-----\nMII...\n")
    assert "MII" not in repr(secret) and "MII" not in str(secret) and "MII" not in f"{secret}"
    assert "MII" not in repr(IssuedCertificate("c", "ch", secret))


@pytest.mark.parametrize(
    ("curve", "key"),
    [(ec.SECP256R1(), KeySpec(KeyKind.EC, 256)), (ec.SECP384R1(), KeySpec(KeyKind.EC, 384))],
)
def test_the_ecdsa_key_types_pass_when_expected(ca: LocalCA, curve: ec.EllipticCurve, key: KeySpec) -> None:
    made = make_certificate(NAMES, 60, key=ec.generate_private_key(curve), ca=ca)
    check(ca, IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode())), key=key)


def test_rsa3072_passes_when_expected(ca: LocalCA) -> None:
    made = make_certificate(
        NAMES, 60, key=rsa.generate_private_key(public_exponent=65537, key_size=3072), ca=ca
    )
    rsa3072 = KeySpec(KeyKind.RSA, 3072)
    check(ca, IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode())), key=rsa3072)


@pytest.mark.parametrize(
    ("curve", "key", "message"),
    [
        (ec.SECP521R1(), KeySpec(KeyKind.EC, 521), "no load balancer or CloudFront distribution accepts"),
        (ec.SECP256K1(), KeySpec(KeyKind.EC, 256), "no endpoint accepts ECDSA keys on secp256k1"),
    ],
)
def test_a_key_no_endpoint_serves_is_rejected(
    ca: LocalCA, curve: ec.EllipticCurve, key: KeySpec, message: str
) -> None:
    made = make_certificate(NAMES, 60, key=ec.generate_private_key(curve), ca=ca)
    with pytest.raises(ValidationFailed, match=message):
        check(ca, IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode())), key=key)
