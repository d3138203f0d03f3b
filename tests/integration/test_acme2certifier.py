"""acme2certifier as a devstack component: it starts quickly, issues through real DNS-01 against fake
Route 53, serves renewalInfo (ARI) for what it issued, refuses an unknown profile and can require EAB."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from acme import client as acme_client
from acme import crypto_util, messages
from certrotate.adapters.acme.authority import AcmeAuthority
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.adapters.aws.secrets import AccountKeyStore
from certrotate.check.certificates import ari_certificate_id
from certrotate.model import KeyKind, KeySpec
from certrotate.order.challenges import dns01_only
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy import jwa, jwk

from devstack import fixtures
from devstack.acme2certifier import PROFILES, Acme2Certifier
from devstack.stack import LocalStack, start_dns_on_port_53

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def a2c(stack: LocalStack) -> Iterator[Acme2Certifier]:
    dns = start_dns_on_port_53()
    try:
        with Acme2Certifier(dns_address=dns.address) as ca:
            yield ca
    finally:
        dns.stop()


@pytest.fixture
def ca_env(a2c: Acme2Certifier, monkeypatch: pytest.MonkeyPatch) -> Acme2Certifier:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", a2c.tls_ca_path)
    a2c.reconfigure(renewal_force=False, eab_required=False)
    return a2c


def authority(aws: LocalStack, a2c: Acme2Certifier, profile: str | None = None) -> AcmeAuthority:
    name = f"a2c-account-{time.monotonic_ns()}"
    aws.iam.deploy_central({**aws.env(), "ACME_ACCOUNT_SECRET_ID": name})  # the stack's secret, so named
    store = AccountKeyStore(aws.client_as("RotateFunction", "secretsmanager"), name)
    return AcmeAuthority(
        directory_url=a2c.directory_url, accounts=store, email="ops@example.com", profile=profile
    )


def issue(aws: LocalStack, a2c: Acme2Certifier, profile: str | None = None) -> x509.Certificate:
    fixtures.create_hosted_zone(aws.client("route53"), "example.com")
    names = ["a2c.example.com"]
    issued = authority(aws, a2c, profile).issue(
        names,
        KeySpec(KeyKind.EC, 256),
        dns01_only("a2c", names, Route53Challenges(aws.client_as("RotateFunction", "route53"))),
        deadline=time.monotonic() + 120,
    )
    return x509.load_pem_x509_certificate(issued.certificate_pem.encode())


def test_it_starts_in_a_few_seconds_and_offers_ari_and_profiles(ca_env: Acme2Certifier) -> None:
    assert ca_env.startup_seconds < 10
    directory = requests.get(ca_env.directory_url, timeout=5).json()
    assert directory["renewalInfo"].startswith("https://127.0.0.1:")
    assert set(directory["meta"]["profiles"]) == set(PROFILES)
    assert "externalAccountRequired" not in directory["meta"]


def test_it_issues_and_serves_renewal_info_for_what_it_issued(
    aws: LocalStack, ca_env: Acme2Certifier
) -> None:
    leaf = issue(aws, ca_env)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical is False
    assert leaf.subject.rfc4514_string() == "CN=a2c.example.com"  # cn_enforce: a subject, as public CAs do
    directory = requests.get(ca_env.directory_url, timeout=5).json()
    before = ca_env.renewal_info_gets()
    answer = requests.get(f"{directory['renewalInfo']}/{ari_certificate_id(leaf)}", timeout=5)
    assert answer.status_code == 200, answer.text
    window = messages.RenewalInfo.from_json(answer.json()).suggested_window
    assert leaf.not_valid_before_utc < window.start < window.end <= leaf.not_valid_after_utc
    assert int(answer.headers["Retry-After"]) == ca_env.retry_after_seconds
    assert ca_env.renewal_info_gets() == before + 1


def test_a_forced_renewal_puts_the_window_in_the_past(aws: LocalStack, ca_env: Acme2Certifier) -> None:
    leaf = issue(aws, ca_env)
    ca_env.reconfigure(renewal_force=True)
    directory = requests.get(ca_env.directory_url, timeout=5).json()
    answer = requests.get(f"{directory['renewalInfo']}/{ari_certificate_id(leaf)}", timeout=5).json()
    window = messages.RenewalInfo.from_json(answer).suggested_window
    assert window.start < leaf.not_valid_before_utc


def test_the_shortlived_profile_issues_six_day_certificates(aws: LocalStack, ca_env: Acme2Certifier) -> None:
    leaf = issue(aws, ca_env, profile="shortlived")
    assert round((leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() / 86400) == 6


def raw_client(ca: Acme2Certifier) -> acme_client.ClientV2:
    """acme's own client, to see what the CA itself says (certrotate checks profiles and EAB first)."""
    net = acme_client.ClientNetwork(jwk.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), alg=jwa.ES256)
    return acme_client.ClientV2(acme_client.ClientV2.get_directory(ca.directory_url, net), net)


def test_an_unknown_profile_is_refused_by_the_ca(ca_env: Acme2Certifier) -> None:
    client = raw_client(ca_env)
    client.new_account(
        messages.NewRegistration.from_data(email="ops@example.com", terms_of_service_agreed=True)
    )
    csr = crypto_util.make_csr(
        fixtures.key_to_pem(fixtures.generate_key("ec256")).encode(), ["a2c.example.com"]
    )
    with pytest.raises(messages.Error, match="invalidProfile"):
        client.new_order(csr, profile="no-such-profile")


def test_eab_can_be_required(ca_env: Acme2Certifier) -> None:
    ca_env.reconfigure(eab_required=True)
    client = raw_client(ca_env)
    assert client.external_account_required()
    with pytest.raises(messages.Error, match="externalAccountRequired"):
        client.new_account(
            messages.NewRegistration.from_data(email="ops@example.com", terms_of_service_agreed=True)
        )
