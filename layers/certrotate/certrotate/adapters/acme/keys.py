"""The ACME adapter's keys and network: new certificate keys, the CA's chain split, the account key read
from its secret, Retry-After, and acme's network layer with more badNonce retries and rateLimited answers
carrying their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from acme import client as acme_client
from acme import messages
from aws_lambda_powertools import Logger
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwk

from certrotate import USER_AGENT as CERTROTATE_USER_AGENT
from certrotate.errors import AccountSecretUnreadable, IssuanceFailed, RateLimited
from certrotate.model import KeyKind, KeySpec, SecretPem

logger = Logger(child=True)

USER_AGENT = f"{CERTROTATE_USER_AGENT} (+acme-python)"
# Each attempt is acme's post(), which itself retries a badNonce once: 12 attempts are 24 tries of one
# request, with no wait between them (a rejected nonce is answered at once). A real CA rejects a nonce rarely
# (it expired, a server restarted); the test that rejects 40% fails a request with probability
# 0.4**24 = 2.8e-10, so even 200 requests per rotation (about 15 are made) fail spuriously with p < 6e-8.
BAD_NONCE_ATTEMPTS = 12
DEFAULT_RATE_LIMIT_WAIT = timedelta(hours=1)


def aware_utc(moment: datetime) -> datetime:
    """acme hands out naive local times (`datetime.now()` + Retry-After); compare only aware UTC ones.
    (Its HTTP-date branch yields naive UTC: the same thing on Lambda, whose local time is UTC.)"""
    return moment.astimezone(UTC)


def retry_at(response: requests.Response, default: timedelta) -> datetime:
    """The time a response's Retry-After names (seconds or an HTTP date), else now + default."""
    return aware_utc(acme_client.ClientV2.retry_after(response, int(default.total_seconds())))


class Network(acme_client.ClientNetwork):
    """acme's network layer, plus: more badNonce retries, and rateLimited answers carry their Retry-After.

    The last response is remembered through a `requests` response hook (public API of both libraries), so
    an error can be read together with its headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_response: requests.Response | None = None
        self.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_ATTEMPTS + 1):
            try:
                return super().post(*args, **kwargs)  # which itself retries a badNonce once
            except messages.Error as error:
                if error.code == "rateLimited":
                    when = (
                        retry_at(self.last_response, DEFAULT_RATE_LIMIT_WAIT)
                        if self.last_response is not None
                        else datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT
                    )
                    raise RateLimited(describe(error), when) from None
                if error.code != "badNonce" or attempt == BAD_NONCE_ATTEMPTS:
                    raise
                logger.debug("retrying after badNonce", extra={"attempt": attempt})
        raise AssertionError("unreachable")


def generate_private_key(spec: KeySpec) -> SecretPem:
    """A new key of the given kind, in the traditional PEM forms IAM accepts (no EC PARAMETERS block)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if spec.kind is KeyKind.RSA:
        key = rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if spec.size == 384 else ec.SECP256R1())
    return SecretPem(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def split_fullchain(fullchain_pem: str) -> tuple[str, str]:
    """(leaf, intermediates) as PEM, from the CA's full chain."""
    try:
        certificates = x509.load_pem_x509_certificates(fullchain_pem.encode())
    except ValueError:
        raise IssuanceFailed("the CA returned no certificate") from None
    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates]
    return pems[0], "".join(pems[1:])


def parse_account_key(text: str, secret_id: str) -> jwk.JWK:
    """The account key the secret holds, as a private JWK certrotate can sign with (ECDSA P-256 or RSA of
    2048 bits or more). Raises AccountSecretUnreadable naming the secret and what is wrong, and never what
    a parser said: josepy quotes the whole JWK, `d` included, in some of its errors. No exception is chained
    (the raise is outside the `except` block), so no traceback carries one either."""
    key: jwk.JWK | None = None
    try:
        key = jwk.JWK.json_loads(text)
    except Exception:  # josepy, cryptography, json: whatever they say may quote the key
        key = None
    if key is None:
        raise AccountSecretUnreadable(secret_id, "an account key that is not a JWK certrotate can parse")
    usable = False
    try:
        # josepy wraps the key (ComparableKey, which delegates to it); a private JWK serialises its "d".
        is_private = "d" in key.to_partial_json()
        if isinstance(key, jwk.JWKEC):
            usable = is_private and key.key.curve.name == "secp256r1"
        elif isinstance(key, jwk.JWKRSA):
            usable = is_private and key.key.key_size >= 2048
    except Exception:
        usable = False
    if not usable:
        raise AccountSecretUnreadable(
            secret_id,
            "an account key certrotate cannot sign with (it needs a private ECDSA P-256 or RSA key)",
        )
    return key


def describe(error: BaseException) -> str:
    if isinstance(error, messages.Error):
        return f"{error.code or error.typ}: {error.detail or error.title or ''}".strip()
    return str(error) or type(error).__name__
