"""Which roots a new certificate must chain to: the shipped Let's Encrypt staging roots for the staging
directory (the template's default), certifi's otherwise, and an explicit ISSUER_TRUST_BUNDLE always."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import certifi
import pytest
from certrotate.adapters.net.trust_roots import LETS_ENCRYPT_STAGING_ROOTS, TrustRoots, TrustSource
from certrotate.check.issued import validate_issued
from certrotate.config import (
    LETS_ENCRYPT_PRODUCTION,
    LETS_ENCRYPT_STAGING,
    choose_trust_roots,
    load_settings,
)
from certrotate.errors import ValidationFailed
from certrotate.model import IssuedCertificate, KeyKind, KeySpec, SecretPem
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from devstack.fixtures import LocalCA, make_certificate

# SHA-256 of the DER files Let's Encrypt publishes for its staging roots (letsencrypt.org/certs/staging/*.der,
# linked from letsencrypt.org/docs/staging-environment/, which prints no fingerprint itself). Checked against
# letsencrypt/website at b89871ef, where the .der and the .pem of each give the same digest.
DOCUMENTED_STAGING_ROOTS = {
    "(STAGING) Pretend Pear X1": "e70570a989f8565aabdf7cae27abd1621872d6a3f811e3fef27e3dba02912198",
    "(STAGING) Bogus Broccoli X2": "9b2a339fe6a3e85585c4cd75536cb8c1cf7cd603b9a64bec2521858ae48da85d",
    "(STAGING) Yearning Yucca Root YE": "b59bfc0ba52daf849853b7324a91e82f031db3397f35644157352cde6384b56c",
    "(STAGING) Yonder Yam Root YR": "ef115fb59e040ff39d15fd8f3ef54063c704321d83cb081213272f77d3091672",
}
# The layer's package data, wherever the module reading it lives (adapters/net/trust_roots.py).
SHIPPED = Path(str(resources.files("certrotate").joinpath(*LETS_ENCRYPT_STAGING_ROOTS)))
INTERMEDIATES = Path(__file__).parent / "data" / "letsencrypt-staging-intermediates.pem"
STAGING = TrustRoots(TrustSource.LETS_ENCRYPT_STAGING)
CERTIFI = TrustRoots(TrustSource.CERTIFI)


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_the_shipped_file_holds_exactly_the_documented_staging_roots() -> None:
    shipped = x509.load_pem_x509_certificates(SHIPPED.read_bytes())
    found = {common_name(c): c.fingerprint(hashes.SHA256()).hex() for c in shipped}
    assert found == DOCUMENTED_STAGING_ROOTS
    for root in shipped:
        assert root.subject == root.issuer, "roots only, never an intermediate"
        root.verify_directly_issued_by(root)
        assert (
            x509.BasicConstraints(ca=True, path_length=None)
            == root.extensions.get_extension_for_class(x509.BasicConstraints).value
        )
    assert b"PRIVATE KEY" not in SHIPPED.read_bytes()


def test_every_current_staging_intermediate_was_issued_by_a_shipped_root() -> None:
    roots = STAGING.roots()
    intermediates = x509.load_pem_x509_certificates(INTERMEDIATES.read_bytes())
    assert len(intermediates) == 10
    for intermediate in intermediates:
        issuers = [r for r in roots if r.subject == intermediate.issuer]
        assert issuers, f"no shipped root issued {common_name(intermediate)}"
        intermediate.verify_directly_issued_by(issuers[0])


@pytest.mark.parametrize(
    "url",
    [
        LETS_ENCRYPT_STAGING,
        LETS_ENCRYPT_STAGING + "/",
        "https://ACME-STAGING-V02.api.letsencrypt.org/directory",
    ],
)
def test_the_staging_directory_gets_the_staging_roots(url: str) -> None:
    assert choose_trust_roots(url, None) == STAGING


@pytest.mark.parametrize(
    "url",
    [
        LETS_ENCRYPT_PRODUCTION,
        "https://localhost:14000/dir",
        "https://acme.zerossl.com/v2/DV90",
        "https://acme-staging-v02.api.letsencrypt.org.evil.example/directory",
    ],
)
def test_any_other_directory_gets_certifi(url: str) -> None:
    assert choose_trust_roots(url, None) == CERTIFI


def test_an_explicit_bundle_always_wins(tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    for url in (LETS_ENCRYPT_STAGING, LETS_ENCRYPT_PRODUCTION):
        assert choose_trust_roots(url, bundle) == TrustRoots(TrustSource.BUNDLE, bundle)


def test_settings_carry_the_choice(tmp_path: Path) -> None:
    base = {"AWS_REGION": "eu-west-1"}
    assert load_settings(base).issuer_trust == CERTIFI  # the code's default directory is production
    assert load_settings({**base, "ACME_DIRECTORY_URL": LETS_ENCRYPT_STAGING}).issuer_trust == STAGING
    bundle = tmp_path / "roots.pem"
    bundle.write_text(LocalCA("bundle").root_pem)
    explicit = load_settings(
        {**base, "ACME_DIRECTORY_URL": LETS_ENCRYPT_STAGING, "ISSUER_TRUST_BUNDLE": str(bundle)}
    )
    assert explicit.issuer_trust == TrustRoots(TrustSource.BUNDLE, bundle)


def test_the_loader_reads_the_chosen_roots(tmp_path: Path) -> None:
    staging = STAGING.roots()
    assert sorted(common_name(r) for r in staging) == sorted(DOCUMENTED_STAGING_ROOTS)

    from_certifi = CERTIFI.roots()
    assert len(from_certifi) == len(x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes()))
    assert not {r.fingerprint(hashes.SHA256()) for r in staging} & {
        r.fingerprint(hashes.SHA256()) for r in from_certifi
    }, "certifi does not carry the staging roots: that is why they are shipped"

    ca = LocalCA("explicit")
    bundle = tmp_path / "roots.pem"
    bundle.write_text(ca.root_pem)
    assert TrustRoots(TrustSource.BUNDLE, bundle).roots() == [ca.root]

    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(ValidationFailed, match="holds no certificate"):
        TrustRoots(TrustSource.BUNDLE, empty).roots()


def test_a_chain_to_other_roots_fails_and_names_the_roots_it_was_checked_against() -> None:
    made = make_certificate(["www.example.com"], 60, ca=LocalCA("not staging"))
    issued = IssuedCertificate(made.cert_pem, made.chain_pem, SecretPem(made.key_pem.encode()))
    with pytest.raises(ValidationFailed, match="does not verify to the built-in Let's Encrypt staging roots"):
        validate_issued(
            issued,
            required_names=["www.example.com"],
            expected_key=KeySpec(KeyKind.RSA, 2048),
            trust_roots=STAGING.roots(),
            trust_name=str(STAGING),
        )
