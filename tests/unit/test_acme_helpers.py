"""The pure parts of the ACME adapter: keys, chains, Retry-After, and the redaction of key material."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from acme import messages
from certrotate.adapters.acme import DEFAULT_RATE_LIMIT_WAIT, _retry_at, generate_private_key, split_fullchain
from certrotate.errors import IssuanceFailed
from certrotate.model import KeyKind, KeySpec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devstack.fixtures import LocalCA, make_certificate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "kind", "size"),
    [
        (KeySpec(KeyKind.RSA, 2048), rsa.RSAPrivateKey, 2048),
        (KeySpec(KeyKind.EC, 256), ec.EllipticCurvePrivateKey, 256),
    ],
)
def test_generated_keys_are_of_the_asked_kind_in_a_form_iam_accepts(
    spec: KeySpec, kind: type, size: int
) -> None:
    pem = generate_private_key(spec)
    assert b"EC PARAMETERS" not in pem and b"ENCRYPTED" not in pem
    key = serialization.load_pem_private_key(bytes(pem), password=None)
    assert isinstance(key, kind) and key.key_size == size
    assert "PRIVATE" not in repr(pem)


def test_fullchain_splits_into_leaf_and_intermediates() -> None:
    made = make_certificate(["a.example.com"], 30, ca=LocalCA("split"))
    leaf, chain = split_fullchain(made.cert_pem + made.chain_pem)
    assert leaf.strip() == made.cert_pem.strip()
    assert chain.strip() == made.chain_pem.strip()


def test_an_empty_fullchain_is_an_issuance_failure() -> None:
    with pytest.raises(IssuanceFailed):
        split_fullchain("\n")


def rate_limited(header: str | None) -> messages.Error:
    error = messages.Error.with_code("rateLimited", detail="too many certificates")
    error.retry_after_header = header  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        ("Mon, 23 Nov 2026 15:00:00 GMT", datetime(2026, 11, 23, 15, 0, tzinfo=UTC)),
        (None, NOW + DEFAULT_RATE_LIMIT_WAIT),
        ("soon", NOW + DEFAULT_RATE_LIMIT_WAIT),
    ],
)
def test_retry_after_is_read_from_seconds_or_a_date(header: str | None, expected: datetime) -> None:
    assert _retry_at(rate_limited(header), NOW) == expected
