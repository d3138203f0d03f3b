"""The replacement's key: the key-type tag, the old key's kind, the endpoints that would refuse it."""

from __future__ import annotations

import pytest
from certrotate.model import (
    Endpoint,
    EndpointKind,
    KeyKind,
    KeySpec,
)
from certrotate.model.keys import KEY_TYPES, KEYS_ACCEPTED, KEYS_ANY_ENDPOINT_ACCEPTS
from certrotate.names import (
    KEY_TYPE_TAG,
)
from certrotate.order.keys import endpoints_refusing, replacement_key, requested_key

OLD_ARN, OLD_ID = "arn:old", "ID-OLD"

# --- keys --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (KeySpec(KeyKind.RSA, 1024), KeySpec(KeyKind.RSA, 2048)),
        (KeySpec(KeyKind.RSA, 2048), KeySpec(KeyKind.RSA, 2048)),
        (KeySpec(KeyKind.RSA, 3072), KeySpec(KeyKind.RSA, 4096)),
        (KeySpec(KeyKind.RSA, 4096), KeySpec(KeyKind.RSA, 4096)),
        (KeySpec(KeyKind.EC, 256), KeySpec(KeyKind.EC, 256)),
        (KeySpec(KeyKind.EC, 384), KeySpec(KeyKind.EC, 256)),
    ],
)
def test_replacement_key_is_same_kind_and_accepted_by_elb(old: KeySpec, new: KeySpec) -> None:
    assert replacement_key(old) == new


# --- key types (tag certrotate:key-type) -------------------------------------------------------------------

RSA2048, RSA3072, RSA4096 = (KeySpec(KeyKind.RSA, size) for size in (2048, 3072, 4096))
P256, P384 = KeySpec(KeyKind.EC, 256), KeySpec(KeyKind.EC, 384)


@pytest.mark.parametrize(
    ("value", "key"),
    [("rsa2048", RSA2048), ("rsa3072", RSA3072), ("rsa4096", RSA4096), ("ec256", P256), (" EC384 ", P384)],
)
def test_the_key_type_tag_names_the_replacements_key(value: str, key: KeySpec) -> None:
    assert requested_key({KEY_TYPE_TAG: value}, RSA2048) == key


@pytest.mark.parametrize("tags", [{}, {KEY_TYPE_TAG: ""}, {KEY_TYPE_TAG: "  "}])
def test_without_the_key_type_tag_the_old_keys_kind_is_kept(tags: dict[str, str]) -> None:
    assert requested_key(tags, P384) == replacement_key(P384) == P256
    assert requested_key(tags, RSA3072) == RSA4096


@pytest.mark.parametrize("value", ["rsa1024", "ec521", "ed25519", "rsa-2048", "RSA 2048"])
def test_an_unknown_key_type_is_none(value: str) -> None:
    assert requested_key({KEY_TYPE_TAG: value}, RSA2048) is None


ALB = Endpoint(EndpointKind.ELBV2_LISTENER, "eu-west-1", "arn:listener/1", "arn:lb/1", OLD_ARN)
CLASSIC = Endpoint(EndpointKind.CLASSIC_LISTENER, "eu-west-1", "lb:443", "lb", OLD_ARN)
DISTRIBUTION = Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", OLD_ID)


@pytest.mark.parametrize(
    ("key", "refused_by"),
    [
        (RSA2048, []),
        (RSA4096, []),
        (P256, []),
        (RSA3072, [CLASSIC]),  # the Classic Load Balancer documentation names 1024, 2048 and 4096 bits only
        (P384, [CLASSIC, DISTRIBUTION]),  # CloudFront: ECDSA P-256 only
    ],
)
def test_endpoints_refusing_a_key_are_named(key: KeySpec, refused_by: list[Endpoint]) -> None:
    assert endpoints_refusing(key, [ALB, CLASSIC, DISTRIBUTION]) == refused_by


def test_every_key_type_is_served_by_alb_and_nlb_and_passes_validation() -> None:
    for key in KEY_TYPES.values():
        assert key in KEYS_ACCEPTED[EndpointKind.ELBV2_LISTENER]
        assert key in KEYS_ANY_ENDPOINT_ACCEPTS
    assert set(KEYS_ACCEPTED) == set(EndpointKind), "every endpoint kind has a row"
