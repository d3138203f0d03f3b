"""Key types per certificate (tag certrotate:key-type) on pebble: a type an endpoint serving the certificate
cannot use is refused before any order and held; the others are ordered, validated, uploaded and served.
Orders are counted by the CA-limit proxy in front of pebble (devstack/ca_limits.py)."""

from __future__ import annotations

import pytest
from certrotate.names import KEY_TYPE_TAG
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devstack import fixtures
from devstack.ca_limits import DuplicateCertificateLimit
from tests.e2e.conftest import World

CDN = ["cdn.example.com"]
SITE = ["site.example.com"]


def ca(world: World) -> DuplicateCertificateLimit:
    assert world.stack.ca_limits is not None
    return world.stack.ca_limits


def uploaded_key(world: World, name: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    body = world.iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"][
        "CertificateBody"
    ]
    key = x509.load_pem_x509_certificate(body.encode()).public_key()
    assert isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
    return key


def test_a_key_cloudfront_cannot_use_is_refused_before_any_order_and_held(world: World) -> None:
    old = world.seed("cdn", CDN, days_left=5, path="/cloudfront/site/", tags={KEY_TYPE_TAG: "ec384"})
    distribution = fixtures.create_cloudfront_distribution(world.cloudfront, old["ServerCertificateId"])

    planned = world.rotate("cdn", dry_run=True)
    assert planned["status"] == "planned"
    assert f"cloudfront-distribution {distribution.id}" in planned["reason"]
    assert any(step.startswith("refuse before ordering: an ECDSA P-384 key") for step in planned["steps"])
    assert "certrotate:held-until" not in world.tags("cdn"), "a dry run holds nothing"

    with pytest.raises(
        Exception, match=f"ECDSA P-384 key cannot be used by cloudfront-distribution {distribution.id}"
    ):
        world.rotate("cdn")
    assert ca(world).orders(CDN) == 0, "refused before any order"
    assert [n for n in world.certificates() if n.startswith("cdn-cr")] == [], "nothing uploaded"
    tags = world.tags("cdn")
    assert tags["certrotate:held-reason"].startswith("KeyTypeUnsupported")
    assert tags["certrotate:failures"] == "1"
    assert world.rotate("cdn")["status"] == "skipped", "held: a redelivery orders nothing"
    assert ca(world).orders(CDN) == 0
    viewer = world.cloudfront.get_distribution_config(Id=distribution.id)["DistributionConfig"][
        "ViewerCertificate"
    ]
    assert viewer["IAMCertificateId"] == old["ServerCertificateId"], "the distribution is left as it was"


def test_the_devstacks_cloudfront_refuses_a_p384_certificate_as_cloudfront_does(world: World) -> None:
    """What refusing before ordering saves: the distribution would refuse the replacement after the order."""
    p384 = world.seed("p384", CDN, days_left=30, path="/cloudfront/site/", key="ec384")
    p256 = world.seed("p256", CDN, days_left=30, path="/cloudfront/site/", key="ec256")
    with pytest.raises(world.cloudfront.exceptions.InvalidViewerCertificate):
        fixtures.create_cloudfront_distribution(world.cloudfront, p384["ServerCertificateId"])
    fixtures.create_cloudfront_distribution(world.cloudfront, p256["ServerCertificateId"])


def test_an_unknown_key_type_is_refused_naming_the_allowed_values(world: World) -> None:
    world.seed("site", SITE, days_left=5, tags={KEY_TYPE_TAG: "rsa1024"})
    with pytest.raises(
        Exception, match=r"unknown key type 'rsa1024' .*allowed: rsa2048, rsa3072, rsa4096, ec256, ec384"
    ):
        world.rotate("site")
    assert ca(world).orders(SITE) == 0
    assert world.tags("site")["certrotate:held-reason"].startswith("UnknownKeyType")


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [
        ("ec256", ec.EllipticCurvePublicKey, 256),
        ("ec384", ec.EllipticCurvePublicKey, 384),
        ("rsa4096", rsa.RSAPublicKey, 4096),
    ],
)
def test_an_alb_certificate_rotates_to_the_key_type_its_tag_names(
    world: World, key_type: str, kind: type, size: int
) -> None:
    old = world.seed("site", SITE, days_left=5, key="rsa2048", tags={KEY_TYPE_TAG: key_type})
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])

    result = world.rotate("site")
    assert result["status"] == "rotated"
    new_name = result["new_certificate_name"]
    key = uploaded_key(world, new_name)
    assert isinstance(key, kind) and key.key_size == size
    if isinstance(key, ec.EllipticCurvePublicKey):
        assert key.curve.name == {256: "secp256r1", 384: "secp384r1"}[size]
    assert world.listener_certificates(listener.listener_arn) == (world.certificates()[new_name]["Arn"], [])
    assert world.tags(new_name)[KEY_TYPE_TAG] == key_type, "the operator's choice stays with the certificate"
    assert ca(world).orders(SITE) == 1
