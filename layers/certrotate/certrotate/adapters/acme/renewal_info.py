"""ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a certificate.

ARI requests are unauthenticated GETs: no account key, so the scan needs no secret. The answer is parsed
with acme's public `messages.RenewalInfo` and `ClientV2.retry_after`; acme's own `renewal_time` returns only a
random time, while the scan keeps the window itself (to see it move) and the `explanationURL`.
Imported only when the scan builds it (acme costs ~150 ms of cold start).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from josepy.errors import DeserializationError

from certrotate.adapters.acme.keys import USER_AGENT, retry_at
from certrotate.ports import RenewalInfoUnavailable, RenewalWindow

DEFAULT_RETRY = timedelta(hours=6)  # RFC 9773 section 4.3.3, when the CA names no Retry-After


class AcmeRenewalInfo:
    def __init__(self, directory_url: str) -> None:
        self._directory_url = directory_url
        self._net = acme_client.ClientNetwork(None, user_agent=USER_AGENT, timeout=10)
        self._base_url: str | None = None
        self._read = False

    def offered(self) -> bool:
        """Whether the CA's directory lists renewalInfo (read once per container)."""
        if not self._read:
            directory = acme_client.ClientV2.get_directory(self._directory_url, self._net)
            self._base_url = directory.to_partial_json().get("renewalInfo")
            self._read = True
        return self._base_url is not None

    def window(self, ari_id: str) -> RenewalWindow:
        if not self.offered():
            raise RenewalInfoUnavailable("the CA offers no renewalInfo", datetime.now(UTC) + DEFAULT_RETRY)
        try:
            response = self._net.get(f"{self._base_url}/{ari_id}", content_type="application/json")
            body = response.json()
            window = messages.RenewalInfo.from_json(body).suggested_window
        except (acme_errors.Error, messages.Error, requests.RequestException, DeserializationError) as error:
            raise RenewalInfoUnavailable(
                f"the CA gave no renewal window: {error}", datetime.now(UTC) + DEFAULT_RETRY
            ) from None
        if window.start is None or window.end is None or window.end < window.start:
            raise RenewalInfoUnavailable(
                "the CA's renewal window is malformed", retry_at(response, DEFAULT_RETRY)
            )
        explanation = body.get("explanationURL") if isinstance(body, dict) else None
        return RenewalWindow(
            start=window.start.astimezone(UTC),
            end=window.end.astimezone(UTC),
            retry_after=retry_at(response, DEFAULT_RETRY),
            explanation_url=str(explanation) if explanation else None,
        )
