"""The one ACME account certrotate orders with: its key read from the secret (or created by exactly one of
the first rotations), registered once per CA, with an External Account Binding when the CA asks for one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from aws_lambda_powertools import Logger
from cryptography.hazmat.primitives.asymmetric import ec
from josepy import jwa, jwk

from certrotate.adapters.acme.keys import USER_AGENT, Network, parse_account_key
from certrotate.adapters.aws.secrets import AccountKeyStore
from certrotate.errors import ConfigurationError, IssuanceFailed

logger = Logger(child=True)


class AcmeAccount:
    """The account's client and key, kept for the invocations of a warm container."""

    def __init__(
        self,
        *,
        directory_url: str,
        accounts: AccountKeyStore,
        email: str | None,
        external_account: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        self._directory_url = directory_url
        self._accounts = accounts
        self._email = email
        self._external_account = external_account  # (kid, hmac_key) loader: read only when registering
        self._client: acme_client.ClientV2 | None = None
        self._key: jwk.JWK | None = None

    def connect(self, deadline: float) -> tuple[acme_client.ClientV2, jwk.JWK]:
        """The client and the account key, registered (once per container) on first use."""
        if self._client is not None and self._key is not None:
            return self._client, self._key
        # The secret's account, or (absent or empty) one created by exactly one of the first rotations; an
        # unreadable secret raises here, before any order, and is left as it is.
        stored = self._accounts.load()
        if stored is None:
            fresh = jwk.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
            # A CA that requires an External Account Binding we cannot give: refused before anything is
            # written (the binding is made again below, for whichever key the secret ends up holding).
            self._binding(self._directory_client(fresh), fresh)
            stored = self._accounts.create(lambda: str(fresh.json_dumps()), deadline=deadline)
        key = parse_account_key(stored.key, self._accounts.secret_id)
        client = self._directory_client(key)
        net = client.net
        url = stored.accounts.get(self._directory_url)
        if url:
            net.account = messages.RegistrationResource(body=messages.Registration(), uri=url)
        else:
            # A CA answers a registration of a key it knows with that key's account (RFC 8555 7.3.1), so
            # every rotation that registers the one stored key gets the one account.
            registration = messages.NewRegistration.from_data(
                email=self._email,
                terms_of_service_agreed=True,
                external_account_binding=self._binding(client, key),
            )
            try:
                regr = client.new_account(registration)
                url = regr.uri
                logger.info(
                    "registered an ACME account", extra={"directory": self._directory_url, "account": url}
                )
            except acme_errors.ConflictError as conflict:  # the key already has an account there
                url = conflict.location
                net.account = messages.RegistrationResource(body=messages.Registration(), uri=url)
            self._accounts.add_account_url(stored, self._directory_url, url)
        self._client = client
        self._key = key
        return client, key

    def _directory_client(self, key: jwk.JWK) -> acme_client.ClientV2:
        alg = jwa.ES256 if isinstance(key, jwk.JWKEC) else jwa.RS256
        net = Network(key, alg=alg, user_agent=USER_AGENT, timeout=30)
        return acme_client.ClientV2(acme_client.ClientV2.get_directory(self._directory_url, net), net)

    def _binding(self, client: acme_client.ClientV2, key: jwk.JWK) -> dict[str, Any] | None:
        """External Account Binding, when keys are configured (a CA that does not require it may still accept
        it), or an error before registering when the CA requires it and none are."""
        if self._external_account is None:
            if client.external_account_required():
                raise IssuanceFailed(
                    "the ACME CA requires External Account Binding: set ACME_EAB_SECRET_ID (template "
                    "parameter AcmeEabSecretName) to a secret holding the key id and HMAC key it issued"
                )
            return None
        kid, hmac_key = self._external_account()
        binding: dict[str, Any] | None = None
        try:
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(), kid=kid, hmac_key=hmac_key, directory=client.directory
            )
        except Exception:  # its message may quote the HMAC key: dropped, and ours raised outside the block
            binding = None
        if binding is None:
            raise ConfigurationError("the EAB secret's hmac_key is not a base64url-encoded key")
        return binding
