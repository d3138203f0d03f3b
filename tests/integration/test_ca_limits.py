"""The devstack's model of Let's Encrypt's duplicate-certificate limit (devstack/ca_limits.py) in front of
the real pebble: five certificates per exact set of names per week; the sixth order is refused as Let's
Encrypt refuses it."""

from __future__ import annotations

import time

import pytest
from certrotate.adapters.acme.authority import AcmeAuthority
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.adapters.aws.secrets import AccountKeyStore
from certrotate.errors import RateLimited
from certrotate.model import KeyKind, KeySpec
from certrotate.order.challenges import dns01_only

from devstack import fixtures
from devstack.ca_limits import DuplicateCertificateLimit
from devstack.stack import LocalStack

EC = KeySpec(KeyKind.EC, 256)


@pytest.fixture
def authority(pebble_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> AcmeAuthority:
    pebble_stack.reset_aws()
    assert pebble_stack.ca_limits is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pebble_stack.acme_ca_bundle))
    fixtures.create_hosted_zone(pebble_stack.client("route53"), "example.com")
    pebble_stack.iam.deploy_central({**pebble_stack.env(), "ACME_ACCOUNT_SECRET_ID": "ca-limits-account"})
    return AcmeAuthority(
        directory_url=str(pebble_stack.acme_directory_url),
        accounts=AccountKeyStore(
            pebble_stack.client_as("RotateFunction", "secretsmanager"), "ca-limits-account"
        ),
        email=None,
    )


@pytest.mark.stack
def test_the_sixth_certificate_for_the_same_names_is_rate_limited(
    pebble_stack: LocalStack, authority: AcmeAuthority
) -> None:
    limits = pebble_stack.ca_limits
    assert limits is not None
    dns = Route53Challenges(pebble_stack.client_as("RotateFunction", "route53"))
    names = ["limit.example.com", "www.limit.example.com"]
    deadline = time.monotonic() + 120

    for _ in range(5):
        authority.issue(names, EC, dns01_only("limits", names, dns), deadline=deadline)
    assert limits.issued(names) == limits.orders(names) == 5

    with pytest.raises(RateLimited) as caught:
        authority.issue(
            list(reversed(names)), EC, dns01_only("limits", names, dns), deadline=deadline
        )  # the same set, in any order
    assert "rateLimited" in str(caught.value) and "exact set of identifiers" in str(caught.value)
    # Retry-After: when the oldest of the five leaves the 7-day window.
    wait = (caught.value.retry_at.timestamp() - time.time()) / 86_400
    assert 6.9 < wait <= 7.01
    assert limits.refused(names) == 1 and limits.orders(names) == 5, "refused at new-order"

    # Another set of names (a subset counts as different) is not limited.
    authority.issue(names[:1], EC, dns01_only("limits", names[:1], dns), deadline=deadline)
    assert limits.issued(names[:1]) == 1


@pytest.mark.stack
def test_the_window_slides_and_a_reset_forgets(pebble_stack: LocalStack) -> None:
    assert pebble_stack.pebble is not None
    now = [1_000_000.0]
    with DuplicateCertificateLimit.in_front_of(pebble_stack.pebble, limit=1, clock=lambda: now[0]) as limits:
        names = frozenset({"a.example.com"})
        limits._record("finalize", names)
        assert limits._retry_after(names) == 7 * 86_400
        now[0] += 7 * 86_400 - 10
        assert limits._retry_after(names) == 10
        now[0] += 10
        assert limits._retry_after(names) is None
        limits._record("finalize", names)
        limits.reset()
        assert limits._retry_after(names) is None and limits.issued(names) == 0
