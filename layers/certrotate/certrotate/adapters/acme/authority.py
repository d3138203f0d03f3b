"""ACME (RFC 8555) issuance, each name answered by the method the plan chose (DNS-01 in Route 53, HTTP-01
on an ALB's port-80 listener: ports.Challenges), on the public API of the `acme` package (5.x).

Imported only when an order is placed: `acme` and `josepy` cost ~150 ms of cold start.
What the library does not do, and this module adds: authorizations polled on a short schedule (acme's
`poll_authorizations` sleeps a second per poll and treats `processing` as settled) that honours Retry-After
and the Lambda deadline; after a failed validation, the other authorizations waited for and the valid ones
deactivated; more badNonce retries than acme's one; a rateLimited answer turned into RateLimited with the
time the CA names, so the caller holds back instead of looping; `replaces` (RFC 9773) on new orders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from acme import challenges as acme_challenges
from acme import client as acme_client
from acme import crypto_util, messages
from acme import errors as acme_errors
from aws_lambda_powertools import Logger
from cryptography import x509
from josepy import jwk
from josepy.json_util import field

from certrotate.adapters.acme.account import AcmeAccount
from certrotate.adapters.acme.keys import describe, generate_private_key, retry_at, split_fullchain
from certrotate.adapters.aws.secrets import AccountKeyStore
from certrotate.errors import (
    CaRefused,
    Http01NotReached,
    IssuanceFailed,
    UnknownProfile,
)
from certrotate.model import ChallengeAnswer, IssuedCertificate, KeySpec
from certrotate.ports import Challenges

logger = Logger(child=True)

POLL_SCHEDULE = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)  # then 2 s; Retry-After wins when longer
REPLACES_REFUSALS = ("alreadyReplaced", "unauthorized", "malformed")  # RFC 9773 section 5, Let's Encrypt
MAX_POLL_WAIT = 30.0  # a Retry-After longer than this while polling is the CA's guess, not a promise
# Problems by which the CA refuses the names or the account (RFC 8555 6.7): ordering again cannot help. A
# challenge that fails with `caa` or `rejectedIdentifier` is such a refusal too; other validation failures
# (a TXT record not seen yet, a DNS timeout) may pass on a later try.
# `malformed` too: the CA found the request itself wrong (RFC 8555 6.7), and a retry would send it again
# (a `replaces` refused as malformed is retried without it in `_order`, before this applies).
REFUSALS = frozenset(
    {"rejectedIdentifier", "caa", "unauthorized", "unsupportedIdentifier", "badCSR", "malformed"}
)
CHALLENGE_REFUSALS = frozenset({"rejectedIdentifier", "caa"})
# An HTTP-01 fetch that reached something other than our rule (a wrong body, a 404, a closed port): the name's
# DNS or the network says so, which a retry minutes later will not change (a `dns` lookup failure may pass).
HTTP01_NOT_REACHED = frozenset({"unauthorized", "incorrectResponse", "connection", "tls"})


# Private names of `acme`: none. What the library lacks is built on its public API here (`replaces` through
# NewOrderReplacing and the public network layer) or on `cryptography` (the ARI certificate id is
# check.certificates.ari_certificate_id). tests/unit/adapters/acme/test_public_api.py keeps it that way.


class NewOrderReplacing(messages.NewOrder):
    """A newOrder payload that may name the certificate it replaces (RFC 9773 section 5), which acme's
    `new_order` cannot send."""

    replaces: str = field("replaces", omitempty=True)


class AcmeAuthority:
    """One ACME account and connection, reused across the invocations of a warm container."""

    def __init__(
        self,
        *,
        directory_url: str,
        accounts: AccountKeyStore,
        email: str | None,
        profile: str | None = None,
        external_account: Callable[[], tuple[str, str]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._account = AcmeAccount(
            directory_url=directory_url, accounts=accounts, email=email, external_account=external_account
        )
        self._profile = profile
        self._sleep = sleep
        self._monotonic = monotonic
        self._account_key: jwk.JWK | None = None

    def _connect(self, deadline: float) -> acme_client.ClientV2:
        client, self._account_key = self._account.connect(deadline)
        return client

    # -- issuance --------------------------------------------------------------------------------------

    def issue(
        self,
        names: Sequence[str],
        key: KeySpec,
        challenges: Challenges,
        *,
        deadline: float,
        replaces: str | None = None,
        profile: str | None = None,
    ) -> IssuedCertificate:
        try:
            return self._issue(names, key, challenges, deadline, replaces, profile or self._profile)
        except messages.Error as error:
            # rateLimited never gets here: the network layer raises RateLimited with the CA's Retry-After.
            if error.code in REFUSALS:
                refusal = f"the ACME CA refused the order for {', '.join(names)}: {describe(error)}"
                raise CaRefused(refusal) from None
            raise IssuanceFailed(
                f"the ACME CA refused the order for {', '.join(names)}: {describe(error)}"
            ) from None
        except acme_errors.TimeoutError:
            raise IssuanceFailed(
                "gave up waiting for the certificate: the invocation's time is running out"
            ) from None
        except acme_errors.IssuanceError as error:
            raise IssuanceFailed(f"the CA abandoned the order: {describe(error.error)}") from None
        except (acme_errors.Error, requests.RequestException) as error:
            raise IssuanceFailed(f"ACME issuance for {', '.join(names)} failed: {describe(error)}") from None

    def _issue(
        self,
        names: Sequence[str],
        spec: KeySpec,
        challenges: Challenges,
        deadline: float,
        replaces: str | None,
        profile: str | None,
    ) -> IssuedCertificate:
        client = self._connect(deadline)
        assert self._account_key is not None
        if profile:
            offered = dict(client.directory.meta.profiles or {})
            if profile not in offered:  # before any order: the CA would refuse it (invalidProfile)
                raise UnknownProfile(profile, list(offered))
        private_key = generate_private_key(spec)
        csr = crypto_util.make_csr(bytes(private_key), list(names))
        order = self._order(client, csr, replaces, profile)

        pending: list[tuple[messages.AuthorizationResource, messages.ChallengeBody, Any]] = []
        answers: list[ChallengeAnswer] = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA reused an earlier validation
            identifier = authz.body.identifier.value
            # A wildcard's authorization names the base domain, flagged `wildcard` (RFC 8555 section 7.1.4).
            name = f"*.{identifier}" if authz.body.wildcard else identifier
            method = challenges.method_for(name)
            challenge = next((c for c in authz.body.challenges if c.chall.typ == method.value), None)
            if challenge is None:
                raise IssuanceFailed(f"the CA offers no {method.value} challenge for {name}")
            response, validation = challenge.chall.response_and_validation(self._account_key)
            is_http = isinstance(challenge.chall, acme_challenges.HTTP01)
            answers.append(
                ChallengeAnswer(
                    name=name,
                    method=method,
                    token=challenge.chall.encode("token"),
                    validation=validation,
                    path=challenge.chall.path if is_http else "",
                )
            )
            pending.append((authz, challenge, response))

        try:
            if answers:
                challenges.publish(answers, deadline=deadline)
            for _authz, challenge, response in pending:
                client.answer_challenge(challenge, response)
            self._await_authorizations(client, [a for a, _, _ in pending], deadline)
        finally:
            if answers:
                try:
                    challenges.remove(answers)
                except Exception as exc:  # report, but do not hide the issuance's own outcome
                    logger.warning("challenge answers left behind", extra={"error": str(exc)})

        fullchain = self._await_certificate(client, client.begin_finalization(order), deadline)
        leaf, chain = split_fullchain(fullchain)
        return IssuedCertificate(certificate_pem=leaf, chain_pem=chain, private_key_pem=private_key)

    def _order(
        self, client: acme_client.ClientV2, csr: bytes, replaces: str | None, profile: str | None
    ) -> messages.OrderResource:
        """A new order, naming the certificate it replaces when the CA speaks ARI. A CA may refuse that
        (another account ordered the old one, it was already replaced): then order again without it."""
        if replaces and "renewalInfo" in client.directory.to_partial_json():
            try:
                return self._new_order(client, csr, profile=profile, replaces=replaces)
            except messages.Error as error:
                if (
                    error.code not in REPLACES_REFUSALS
                    and error.typ.rsplit(":", 1)[-1] not in REPLACES_REFUSALS
                ):
                    raise
                reason = describe(error)
            except acme_errors.ConflictError:  # acme reads any 409 as ConflictError: alreadyReplaced is one
                reason = "409 Conflict (already replaced)"
            logger.warning(
                "the CA refused `replaces`: ordering without it",
                extra={"replaces": replaces, "error": reason},
            )
        return self._new_order(client, csr, profile=profile, replaces=None)

    @staticmethod
    def _new_order(
        client: acme_client.ClientV2, csr_pem: bytes, *, profile: str | None, replaces: str | None
    ) -> messages.OrderResource:
        """acme's `new_order`, with `replaces`: the payload is posted through the public network layer and
        the authorizations are read with the public `poll`."""
        csr = x509.load_pem_x509_csr(csr_pem)
        dns_names, ip_addresses = crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
        identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n) for n in dns_names]
        identifiers += [messages.Identifier(typ=messages.IDENTIFIER_IP, value=str(a)) for a in ip_addresses]
        payload = NewOrderReplacing(identifiers=identifiers, profile=profile or "", replaces=replaces or "")
        response = client.net.post(
            client.directory["newOrder"], payload, new_nonce_url=client.directory["newNonce"]
        )
        body = messages.Order.from_json(response.json())
        authorizations = [
            client.poll(messages.AuthorizationResource(uri=url, body=messages.Authorization()))[0]
            for url in body.authorizations
        ]
        return messages.OrderResource(
            body=body, uri=response.headers.get("Location"), authorizations=authorizations, csr_pem=csr_pem
        )

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
        refused = not_reached = False
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
                    not_reached = not_reached or self._http01_not_reached(updated)
                elif status in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                    still.append(updated)
                    wait_at_least = max(wait_at_least, _seconds_until(retry_at(response, timedelta(0))))
                else:  # deactivated, expired or revoked by someone else
                    failures.append(f"authorization of {updated.body.identifier.value} is {status}")
            waiting = still
            if waiting:
                attempt = self._pause(attempt, wait_at_least, deadline, "authorizations to be validated")
        if failures:
            self._deactivate(client, valid)
            kind = CaRefused if refused else Http01NotReached if not_reached else IssuanceFailed
            raise kind("; ".join(failures))

    def _await_certificate(
        self, client: acme_client.ClientV2, order: messages.OrderResource, deadline: float
    ) -> str:
        """Poll a finalized order until the certificate is issued; return its full chain (PEM).

        acme's ClientV2.poll_finalization sleeps a whole second before its first look, however quickly the CA
        issues: about 1 s of every rotation (docs/performance.md, 4c). This polls on POLL_SCHEDULE instead,
        honours Retry-After (RFC 8555 section 7.4), finalizes again an order found `ready` (as acme does)
        and stops at the deadline. A POST-as-GET is a POST of no payload (RFC 8555 section 6.3), sent
        through the client's public network object."""

        def post_as_get(url: str) -> requests.Response:
            return client.net.post(url, None, new_nonce_url=client.directory["newNonce"])

        body, attempt, wait_at_least = order.body, 0, 0.0
        while True:
            if body.status == messages.STATUS_VALID and body.certificate is not None:
                return str(post_as_get(body.certificate).text)
            if body.status == messages.STATUS_INVALID:
                reason = describe(body.error) if body.error is not None else "no reason given"
                raise IssuanceFailed(f"the CA did not issue the certificate: {reason}")
            if body.status == messages.STATUS_READY:  # finalized too early for the CA: finalize again
                client.begin_finalization(order.update(body=body))
            attempt = self._pause(attempt, wait_at_least, deadline, "the certificate to be issued")
            response = post_as_get(order.uri)
            body = messages.Order.from_json(response.json())
            wait_at_least = _seconds_until(retry_at(response, timedelta(0)))

    def _pause(self, attempt: int, at_least: float, deadline: float, what: str) -> int:
        delay = max(POLL_SCHEDULE[min(attempt, len(POLL_SCHEDULE) - 1)], min(at_least, MAX_POLL_WAIT))
        if self._monotonic() + delay > deadline:
            raise IssuanceFailed(f"gave up waiting for {what}: the invocation's time is running out")
        self._sleep(delay)
        return attempt + 1

    @staticmethod
    def _failure_reason(authz: messages.AuthorizationResource) -> str:
        for challenge in authz.body.challenges:
            if challenge.error is not None:
                return describe(challenge.error)
        return "the CA gave no reason"

    @staticmethod
    def _refused(authz: messages.AuthorizationResource) -> bool:
        return any(c.error is not None and c.error.code in CHALLENGE_REFUSALS for c in authz.body.challenges)

    @staticmethod
    def _http01_not_reached(authz: messages.AuthorizationResource) -> bool:
        return any(
            c.chall.typ == "http-01" and c.error is not None and c.error.code in HTTP01_NOT_REACHED
            for c in authz.body.challenges
        )

    @staticmethod
    def _deactivate(
        client: acme_client.ClientV2, authorizations: list[messages.AuthorizationResource]
    ) -> None:
        """Deactivate the others, so no half-validated authorization lingers for this account."""
        for authz in authorizations:
            try:
                client.deactivate_authorization(authz)
            except Exception as exc:
                logger.warning("could not deactivate an authorization", extra={"error": describe(exc)})


def _seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
