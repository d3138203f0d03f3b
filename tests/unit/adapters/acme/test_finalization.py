"""AcmeAuthority._await_certificate: polling a finalized order (RFC 8555 section 7.4) without acme's fixed
first second, against a scripted client (pure logic: no network)."""

from __future__ import annotations

from typing import Any

import pytest
from acme import messages
from certrotate.adapters.acme.authority import AcmeAuthority
from certrotate.errors import IssuanceFailed

ORDER_URL = "https://ca.test/order/1"
CERT_URL = "https://ca.test/cert/1"


class _Response:
    def __init__(self, body: dict[str, Any] | None = None, text: str = "", retry_after: str | None = None):
        self._body = body or {}
        self.text = text
        self.headers = {"Retry-After": retry_after} if retry_after else {}

    def json(self) -> dict[str, Any]:
        return self._body


class _Net:
    def __init__(self, answers: list[_Response]) -> None:
        self.answers = answers
        self.posts: list[tuple[str, Any]] = []

    def post(self, url: str, obj: Any, **_: Any) -> _Response:
        self.posts.append((url, obj))
        return self.answers.pop(0)


class _Client:
    def __init__(self, answers: list[_Response]) -> None:
        self.net = _Net(answers)
        self.directory = {"newNonce": "https://ca.test/nonce"}
        self.finalized = 0

    def begin_finalization(self, order: messages.OrderResource) -> messages.OrderResource:
        self.finalized += 1
        return order


def _order(status: str, certificate: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "identifiers": [{"type": "dns", "value": "a.test"}]}
    if certificate:
        body["certificate"] = certificate
    return body


def _authority(slept: list[float]) -> AcmeAuthority:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    return AcmeAuthority(
        directory_url="https://ca.test/dir",
        accounts=None,
        email=None,
        sleep=sleep,
        monotonic=lambda: clock[0],
    )


def _finalized(status: str) -> messages.OrderResource:
    return messages.OrderResource(uri=ORDER_URL, body=messages.Order.from_json(_order(status)))


def test_polls_soon_honours_retry_after_and_downloads_the_chain_by_post_as_get() -> None:
    slept: list[float] = []
    client = _Client(
        [
            _Response(_order("processing"), retry_after="3"),
            _Response(_order("valid", CERT_URL)),
            _Response(text="-----BEGIN CERTIFICATE-----"),
        ]
    )
    chain = _authority(slept)._await_certificate(client, _finalized("processing"), deadline=60)

    assert chain == "-----BEGIN CERTIFICATE-----"
    assert slept[0] < 1.0  # not acme's fixed first second
    assert slept[1] >= 2.0  # the CA's Retry-After (3 s, less the time it took to read it)
    assert client.net.posts == [(ORDER_URL, None), (ORDER_URL, None), (CERT_URL, None)]  # POST-as-GET


def test_a_ready_order_is_finalized_again() -> None:
    client = _Client([_Response(_order("valid", CERT_URL)), _Response(text="chain")])
    assert _authority([])._await_certificate(client, _finalized("ready"), deadline=60) == "chain"
    assert client.finalized == 1


def test_an_invalid_order_and_the_deadline_are_clear_failures() -> None:
    client = _Client([_Response({**_order("invalid"), "error": {"type": "urn:x", "detail": "bad CSR"}})])
    with pytest.raises(IssuanceFailed, match="did not issue"):
        _authority([])._await_certificate(client, _finalized("processing"), deadline=60)

    client = _Client([_Response(_order("processing"))] * 100)
    with pytest.raises(IssuanceFailed, match="time is running out"):
        _authority([])._await_certificate(client, _finalized("processing"), deadline=5)
