"""The pure parts of the ACME adapter: keys, chains, Retry-After, and the redaction of key material."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from certrotate.adapters.acme.keys import (
    DEFAULT_RATE_LIMIT_WAIT,
    aware_utc,
    generate_private_key,
    retry_at,
    split_fullchain,
)
from certrotate.errors import IssuanceFailed
from certrotate.model import KeyKind, KeySpec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devstack.fixtures import LocalCA, make_certificate


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


def response_with(header: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if header is not None:
        response.headers["Retry-After"] = header
    return response


@pytest.mark.parametrize(
    ("header", "expected_seconds"),
    [("120", 120), (None, DEFAULT_RATE_LIMIT_WAIT.total_seconds()), ("soon", 3600)],
)
def test_retry_after_seconds_or_default_is_aware_utc(header: str | None, expected_seconds: float) -> None:
    before = datetime.now(UTC)
    when = retry_at(response_with(header), DEFAULT_RATE_LIMIT_WAIT)
    assert when.tzinfo is UTC
    assert abs((when - before).total_seconds() - expected_seconds) < 5


def test_retry_after_as_an_http_date() -> None:
    when = retry_at(response_with("Mon, 23 Nov 2026 15:00:00 GMT"), DEFAULT_RATE_LIMIT_WAIT)
    assert when == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_naive_times_from_acme_are_local_times_made_aware() -> None:
    naive_now = datetime.now()  # what acme's renewal_time and retry_after build on
    assert abs((aware_utc(naive_now) - datetime.now(UTC)).total_seconds()) < 5
