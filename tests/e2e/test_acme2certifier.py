"""End to end on acme2certifier: the local CA that serves ARI (renewalInfo), profiles and EAB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from devstack.acme2certifier import Acme2Certifier
from devstack.stack import LocalStack, start_dns_on_port_53
from tests.e2e.conftest import World


@pytest.fixture(scope="session")
def a2c(stack: LocalStack) -> Iterator[Acme2Certifier]:
    """acme2certifier beside the session's pebble, validating DNS-01 against the same fake Route 53."""
    dns = start_dns_on_port_53()
    try:
        with Acme2Certifier(dns_address=dns.address) as ca:
            yield ca
    finally:
        dns.stop()


@pytest.fixture
def a2c_world(world: World, a2c: Acme2Certifier) -> Iterator[World]:
    a2c.reconfigure(renewal_force=False, eab_required=False)
    world.env.update(
        ACME_DIRECTORY_URL=a2c.directory_url,
        REQUESTS_CA_BUNDLE=a2c.tls_ca_path,
        ISSUER_TRUST_BUNDLE=a2c.issuer_roots_path,
        ACME_ACCOUNT_SECRET_ID="certrotate/acme-account-a2c",
    )
    yield world


def leaf_of(world: World, name: str) -> x509.Certificate:
    body = world.iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    return x509.load_pem_x509_certificate(body["CertificateBody"].encode())


def test_a_rotation_is_issued_by_acme2certifier(a2c_world: World, a2c: Acme2Certifier) -> None:
    a2c_world.seed("site", ["site.example.com", "www.site.example.com"], days_left=5)
    result: dict[str, Any] = a2c_world.rotate("site")
    assert result["status"] == "rotated"
    leaf = leaf_of(a2c_world, result["new_certificate_name"])
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 89 <= lifetime.days <= 90  # the `classic` profile
