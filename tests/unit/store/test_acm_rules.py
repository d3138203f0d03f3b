"""The re-import rules of ACM (certrotate.store.acm_rules), each on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from certrotate.errors import (
    InvalidRequest,
    KeyChangeRefused,
    KeyNotOrderable,
    ProfileDropsKeyUsage,
    ReimportRefused,
)
from certrotate.model import KeyKind, KeySpec
from certrotate.store.acm_rules import (
    check_reimport,
    parse_arn,
    profile_refusal,
    reimport_violations,
    replacement_key,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.fixtures import generate_key, leaf_key_usage

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0b2f7f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH


def certificate(
    names: Sequence[str] = ("www.example.com",),
    *,
    key: str = "rsa2048",
    usages: Sequence[str] | None = ("digital_signature", "key_encipherment"),
    extended: Sequence[x509.ObjectIdentifier] | None = (SERVER,),
    not_before: datetime = NOW - timedelta(hours=1),
    not_after: datetime = NOW + timedelta(days=90),
) -> x509.Certificate:
    private = generate_key(key)  # type: ignore[arg-type]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    )
    if usages is not None:
        builder = builder.add_extension(leaf_key_usage(usages), critical=True)
    if extended is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended)), critical=False)
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return builder.sign(private, hashes.SHA256())


def test_the_same_kind_of_certificate_may_be_reimported() -> None:
    assert reimport_violations(certificate(), certificate(), NOW) == []


@pytest.mark.parametrize(("old", "new"), [("rsa2048", "rsa4096"), ("rsa2048", "ec256"), ("ec256", "ec384")])
def test_another_key_type_or_size_is_a_violation(old: str, new: str) -> None:
    (violation,) = reimport_violations(
        certificate(key=old, usages=None), certificate(key=new, usages=None), NOW
    )
    assert "ACM keeps type and size" in violation


def test_a_removed_key_usage_is_a_violation() -> None:
    (violation,) = reimport_violations(certificate(), certificate(usages=("digital_signature",)), NOW)
    assert violation == "it drops the Key Usage key_encipherment"


def test_key_encipherment_may_leave_an_ecdsa_certificate() -> None:
    old = certificate(key="ec256", usages=("digital_signature", "key_encipherment"))
    assert reimport_violations(old, certificate(key="ec256", usages=("digital_signature",)), NOW) == []


def test_added_key_usages_are_fine_and_none_before_means_none_to_keep() -> None:
    assert reimport_violations(certificate(usages=None), certificate(), NOW) == []
    assert reimport_violations(certificate(extended=None), certificate(), NOW) == []


def test_client_authentication_may_be_dropped_but_no_other_extended_key_usage() -> None:
    both = certificate(extended=(SERVER, CLIENT))
    assert reimport_violations(both, certificate(extended=(SERVER,)), NOW) == []
    (violation,) = reimport_violations(both, certificate(extended=(CLIENT,)), NOW)
    assert violation == "it drops the Extended Key Usage serverAuth"


def test_every_name_of_the_old_certificate_must_be_covered() -> None:
    old = certificate(("www.example.com", "api.example.com"))
    (violation,) = reimport_violations(old, certificate(("www.example.com",)), NOW)
    assert violation == "it does not cover api.example.com"
    assert reimport_violations(old, certificate(("api.example.com", "www.example.com", "x.io")), NOW) == []


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [(NOW + timedelta(minutes=5), NOW + timedelta(days=90)), (NOW - timedelta(days=90), NOW)],
)
def test_the_new_certificate_must_be_valid_now(not_before: datetime, not_after: datetime) -> None:
    (violation,) = reimport_violations(
        certificate(), certificate(not_before=not_before, not_after=not_after), NOW
    )
    assert violation.startswith("it is not valid now")


def test_check_reimport_names_every_violation_at_once() -> None:
    with pytest.raises(ReimportRefused) as refused:
        check_reimport(ARN, certificate(), certificate(("other.example.com",), usages=()), NOW)
    assert refused.value.violations == [
        "it drops the Key Usage digital_signature, key_encipherment",
        "it does not cover www.example.com",
    ]
    assert str(refused.value).startswith(ARN + ": not re-imported: ")


def test_the_replacement_key_is_the_old_keys_exact_type_and_size() -> None:
    rsa3072 = KeySpec(KeyKind.RSA, 3072)
    assert replacement_key(ARN, rsa3072, {}) == rsa3072  # IAM's rule would order 4096
    assert replacement_key(ARN, rsa3072, {"certrotate:key-type": "rsa3072"}) == rsa3072


def test_a_tag_asking_for_another_key_is_refused_before_ordering() -> None:
    with pytest.raises(KeyChangeRefused, match="nothing was ordered"):
        replacement_key(ARN, KeySpec(KeyKind.RSA, 2048), {"certrotate:key-type": "ec256"})
    with pytest.raises(KeyChangeRefused):
        replacement_key(ARN, KeySpec(KeyKind.RSA, 2048), {"certrotate:key-type": "rsa8192"})


def test_an_old_key_certrotate_does_not_order_is_refused_before_ordering() -> None:
    with pytest.raises(KeyNotOrderable):
        replacement_key(ARN, KeySpec(KeyKind.RSA, 1024), {})


@pytest.mark.parametrize(
    "arn",
    [
        ARN,
        "arn:aws-cn:acm:cn-north-1:123456789012:certificate/0b2f7f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/0b2f7f8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    ],
)
def test_acm_arns_are_accepted(arn: str) -> None:
    assert parse_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:server-certificate/www",
        "arn:aws:acm:eu-west-1:12345:certificate/abc",
        "www.example.com",
        "",
    ],
)
def test_anything_else_is_one_clear_line(arn: str) -> None:
    with pytest.raises(InvalidRequest, match="certificate_arn must be an ACM certificate ARN"):
        parse_arn(arn)


@pytest.mark.parametrize("profile", ["tlsserver", "shortlived", " TLSServer "])
def test_an_rsa_certificate_with_key_encipherment_is_refused_under_a_profile_that_drops_it(
    profile: str,
) -> None:
    old = certificate(usages=("digital_signature", "key_encipherment"))
    refusal = profile_refusal(ARN, old, KeySpec(KeyKind.RSA, 2048), profile)
    assert isinstance(refusal, ProfileDropsKeyUsage)
    assert "without keyEncipherment" in str(refusal) and "nothing was ordered" in str(refusal)


@pytest.mark.parametrize(
    ("key", "usages", "profile"),
    [
        ("ec256", ("digital_signature", "key_encipherment"), "tlsserver"),  # ACM lets ECDSA drop it
        ("rsa2048", ("digital_signature",), "tlsserver"),  # nothing to lose
        ("rsa2048", ("digital_signature", "key_encipherment"), "classic"),
        ("rsa2048", ("digital_signature", "key_encipherment"), None),  # the CA's default: checked after
    ],
)
def test_other_keys_usages_and_profiles_are_ordered(
    key: str, usages: Sequence[str], profile: str | None
) -> None:
    old = certificate(key=key, usages=usages)
    spec = KeySpec(KeyKind.EC, 256) if key == "ec256" else KeySpec(KeyKind.RSA, 2048)
    assert profile_refusal(ARN, old, spec, profile) is None
