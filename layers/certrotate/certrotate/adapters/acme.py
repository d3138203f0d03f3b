"""ACME (RFC 8555) issuance with DNS-01 in Route 53, on the `acme` package.

Imported only when an order is placed: `acme` and `josepy` cost ~150 ms of cold start.
The `acme` package's own polling sleeps a second per poll; here polls follow our own short schedule and
honour Retry-After. badNonce is retried more than acme's single retry. A rateLimited answer becomes
RateLimited with the time the CA names, so the caller can hold back instead of looping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from acme import client as acme_client
from acme import crypto_util, messages
from acme import errors as acme_errors
from aws_lambda_powertools import Logger
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import jwa, jwk

from certrotate import planning
from certrotate.adapters.secrets import AccountKeyStore
from certrotate.errors import CaRefused, IssuanceFailed, NoHostedZone, RateLimited
from certrotate.model import DnsRecord, IssuedCertificate, KeyKind, KeySpec, SecretPem
from certrotate.ports import DnsChallenges

logger = Logger(child=True)

USER_AGENT = "certrotate/0.1 (+acme-python)"
BAD_NONCE_ATTEMPTS = 5
DEFAULT_RATE_LIMIT_WAIT = timedelta(hours=1)
POLL_SCHEDULE = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)  # then 2 s; Retry-After wins when longer
_PROBLEM = "urn:ietf:params:acme:error:"
# Problems by which the CA refuses the names or the account (RFC 8555 6.7): ordering again cannot help. A
# challenge that fails with `caa` or `rejectedIdentifier` is such a refusal too; other validation failures
# (a TXT record not seen yet, a DNS timeout) may pass on a later try.
REFUSALS = frozenset({"rejectedIdentifier", "caa", "unauthorized", "unsupportedIdentifier", "badCSR"})
CHALLENGE_REFUSALS = frozenset({"rejectedIdentifier", "caa"})


class _Network(acme_client.ClientNetwork):  # type: ignore[misc]
    """acme's network layer, plus: more badNonce retries, and Retry-After kept on errors."""

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as error:
            error.retry_after_header = response.headers.get("Retry-After")  # type: ignore[attr-defined]
            raise

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_ATTEMPTS + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
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
        key = ec.generate_private_key(ec.SECP256R1())
    return SecretPem(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def split_fullchain(fullchain_pem: str) -> tuple[str, str]:
    marker = "-----END CERTIFICATE-----"
    blocks = [b.strip() + "\n" + marker + "\n" for b in fullchain_pem.split(marker) if b.strip()]
    if not blocks:
        raise IssuanceFailed("the CA returned no certificate")
    return blocks[0], "".join(blocks[1:])


def _retry_at(error: messages.Error, now: datetime) -> datetime:
    header = getattr(error, "retry_after_header", None)
    if header:
        try:
            return now + timedelta(seconds=int(header))
        except ValueError:
            try:
                return parsedate_to_datetime(header).astimezone(UTC)
            except (TypeError, ValueError):
                pass
    return now + DEFAULT_RATE_LIMIT_WAIT


def _describe(error: BaseException) -> str:
    if isinstance(error, messages.Error):
        return f"{error.code or error.typ}: {error.detail or error.title or ''}".strip()
    return str(error) or type(error).__name__


class AcmeAuthority:
    """One ACME account and connection, reused across the invocations of a warm container."""

    def __init__(
        self,
        *,
        directory_url: str,
        accounts: AccountKeyStore,
        email: str | None,
        profile: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory_url = directory_url
        self._accounts = accounts
        self._email = email
        self._profile = profile
        self._sleep = sleep
        self._monotonic = monotonic
        self._client: acme_client.ClientV2 | None = None
        self._account_key: jwk.JWK | None = None

    # -- account ---------------------------------------------------------------------------------------

    def _connect(self) -> acme_client.ClientV2:
        if self._client is not None:
            return self._client
        stored = self._accounts.load() or {}
        key_json = stored.get("key")
        account_urls: dict[str, str] = dict(stored.get("accounts", {}))
        if key_json:
            key = jwk.JWK.json_loads(key_json)
        else:
            key = jwk.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        alg = jwa.ES256 if isinstance(key, jwk.JWKEC) else jwa.RS256
        net = _Network(key, alg=alg, user_agent=USER_AGENT, timeout=30)
        directory = messages.Directory.from_json(net.get(self._directory_url).json())
        client = acme_client.ClientV2(directory, net)
        url = account_urls.get(self._directory_url)
        if url:
            net.account = messages.RegistrationResource(body=messages.Registration(), uri=url)
        else:
            registration = messages.NewRegistration.from_data(email=self._email, terms_of_service_agreed=True)
            try:
                regr = client.new_account(registration)
                url = regr.uri
            except acme_errors.ConflictError as conflict:  # the key already has an account there
                url = conflict.location
                net.account = messages.RegistrationResource(body=messages.Registration(), uri=url)
            account_urls[self._directory_url] = url
            self._accounts.save({"key": key.json_dumps(), "accounts": account_urls})
            logger.info(
                "registered an ACME account", extra={"directory": self._directory_url, "account": url}
            )
        self._client = client
        self._account_key = key
        return client

    # -- issuance --------------------------------------------------------------------------------------

    def issue(
        self, names: Sequence[str], key: KeySpec, dns: DnsChallenges, *, deadline: float
    ) -> IssuedCertificate:
        try:
            return self._issue(names, key, dns, deadline)
        except messages.Error as error:
            if error.code == "rateLimited":
                raise RateLimited(_describe(error), _retry_at(error, datetime.now(UTC))) from None
            if error.code in REFUSALS:
                refusal = f"the ACME CA refused the order for {', '.join(names)}: {_describe(error)}"
                raise CaRefused(refusal) from None
            raise IssuanceFailed(
                f"the ACME CA refused the order for {', '.join(names)}: {_describe(error)}"
            ) from None
        except (acme_errors.Error, requests.RequestException) as error:
            raise IssuanceFailed(f"ACME issuance for {', '.join(names)} failed: {_describe(error)}") from None

    def _issue(
        self, names: Sequence[str], spec: KeySpec, dns: DnsChallenges, deadline: float
    ) -> IssuedCertificate:
        client = self._connect()
        assert self._account_key is not None
        private_key = generate_private_key(spec)
        csr = crypto_util.make_csr(bytes(private_key), list(names))
        order = client.new_order(csr, profile=self._profile) if self._profile else client.new_order(csr)

        pending: list[tuple[messages.AuthorizationResource, messages.ChallengeBody]] = []
        values: dict[str, list[str]] = {}
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA reused an earlier validation
            challenge = next((c for c in authz.body.challenges if c.chall.typ == "dns-01"), None)
            if challenge is None:
                raise IssuanceFailed(f"the CA offers no dns-01 challenge for {authz.body.identifier.value}")
            record = planning.challenge_record_name(authz.body.identifier.value)
            values.setdefault(record, []).append(challenge.chall.validation(self._account_key))
            pending.append((authz, challenge))

        zones = dns.zones()
        records: list[DnsRecord] = []
        for record_name, record_values in values.items():
            zone = planning.zone_for(record_name, zones)
            if zone is None:
                raise NoHostedZone(record_name.removeprefix("_acme-challenge."))
            records.append(DnsRecord(zone.zone_id, record_name, tuple(dict.fromkeys(record_values))))

        try:
            if records:
                dns.publish(records, deadline=deadline)
            for _authz, challenge in pending:
                client.answer_challenge(challenge, challenge.response(self._account_key))
            self._await_authorizations(client, [a for a, _ in pending], deadline)
        finally:
            if records:
                try:
                    dns.remove(records)
                except Exception as exc:  # report, but do not hide the issuance's own outcome
                    logger.warning("DNS-01 records left behind", extra={"error": str(exc)})

        fullchain = self._finalize(client, order, deadline)
        leaf, chain = split_fullchain(fullchain)
        return IssuedCertificate(certificate_pem=leaf, chain_pem=chain, private_key_pem=private_key)

    def _await_authorizations(
        self,
        client: acme_client.ClientV2,
        authorizations: list[messages.AuthorizationResource],
        deadline: float,
    ) -> None:
        """Poll until every authorization is settled. If any failed, deactivate the ones that became valid
        (so the account holds no authorization for an order it abandoned) and name each failed name.

        Authorizations still being validated are waited for, never deactivated mid-validation: pebble
        deadlocks on that race, and a real CA gains nothing from it."""
        waiting = list(authorizations)
        valid: list[messages.AuthorizationResource] = []
        failures: list[str] = []
        refused = False
        attempt = 0
        while waiting:
            still: list[messages.AuthorizationResource] = []
            wait_at_least = 0.0
            for authz in waiting:
                updated, response = client.poll(authz)
                status = updated.body.status
                if status == messages.STATUS_VALID:
                    valid.append(updated)
                elif status == messages.STATUS_INVALID:
                    name = updated.body.identifier.value
                    failures.append(f"validation of {name} failed: {self._failure_reason(updated)}")
                    refused = refused or self._refused(updated)
                elif status in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                    still.append(updated)
                    wait_at_least = max(wait_at_least, self._retry_after_seconds(response))
                else:  # deactivated, expired or revoked by someone else
                    failures.append(f"authorization of {updated.body.identifier.value} is {status}")
            waiting = still
            if waiting:
                attempt = self._pause(attempt, wait_at_least, deadline, "authorizations to be validated")
        if failures:
            self._deactivate(client, valid)
            raise (CaRefused if refused else IssuanceFailed)("; ".join(failures))

    def _finalize(self, client: acme_client.ClientV2, order: messages.OrderResource, deadline: float) -> str:
        order = client.begin_finalization(order)
        attempt = 0
        while True:
            response = client._post_as_get(order.uri)
            body = messages.Order.from_json(response.json())
            if body.status == messages.STATUS_VALID and body.certificate:
                return str(client._post_as_get(body.certificate).text)
            if body.status == messages.STATUS_INVALID:
                raise IssuanceFailed(
                    f"the CA abandoned the order: {_describe(body.error) if body.error else 'no reason'}"
                )
            if body.status == messages.STATUS_READY:
                order = client.begin_finalization(order)
            attempt = self._pause(attempt, self._retry_after_seconds(response), deadline, "the certificate")

    def _pause(self, attempt: int, at_least: float, deadline: float, what: str) -> int:
        delay = max(POLL_SCHEDULE[min(attempt, len(POLL_SCHEDULE) - 1)], at_least)
        if self._monotonic() + delay > deadline:
            raise IssuanceFailed(f"gave up waiting for {what}: the invocation's time is running out")
        self._sleep(delay)
        return attempt + 1

    @staticmethod
    def _retry_after_seconds(response: requests.Response) -> float:
        header = response.headers.get("Retry-After")
        if not header:
            return 0.0
        try:
            return min(float(header), 30.0)
        except ValueError:
            return 0.0

    @staticmethod
    def _failure_reason(authz: messages.AuthorizationResource) -> str:
        for challenge in authz.body.challenges:
            if challenge.error is not None:
                return _describe(challenge.error)
        return "the CA gave no reason"

    @staticmethod
    def _refused(authz: messages.AuthorizationResource) -> bool:
        return any(c.error is not None and c.error.code in CHALLENGE_REFUSALS for c in authz.body.challenges)

    @staticmethod
    def _deactivate(
        client: acme_client.ClientV2, authorizations: list[messages.AuthorizationResource]
    ) -> None:
        """Deactivate the others, so no half-validated authorization lingers for this account."""
        for authz in authorizations:
            try:
                client.deactivate_authorization(authz)
            except Exception as exc:
                logger.warning("could not deactivate an authorization", extra={"error": _describe(exc)})
