"""When the scan cannot learn a certificate's renewal time, it still renews it in time and asks again soon.

With the template's defaults (no RENEW_BEFORE_DAYS floor) the renewal time the scan learns is the only rule:
a certificate whose body cannot be read, or a CA that cannot be reached, must not leave a certificate without
any rule (it would expire) nor postpone the next question to the CA for weeks (a revocation that moves the
CA's windows into the past would be missed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from certrotate import wiring
from certrotate.adapters.clock import SystemClock
from certrotate.model.certificates import RenewalSchedule
from certrotate.names import RENEWAL_TAG
from certrotate.wiring import services as wiring_services

from devstack import fixtures, lambda_runner
from devstack.stack import LocalStack
from tests.integration.conftest import functions_env

DAYS_LEFT = 5


@pytest.fixture
def scan_env(aws: LocalStack) -> Iterator[dict[str, Any]]:
    """One managed certificate with DAYS_LEFT days left, uploaded now; a queue; no RENEW_BEFORE_DAYS."""
    iam = aws.client("iam")
    seeded = fixtures.seed_certificate(iam, "fallback-cert", ["fallback.example.com"], DAYS_LEFT)
    # No RENEW_BEFORE_DAYS, the template's default: the learnt renewal time decides alone.
    env = functions_env(aws, RENEW_BEFORE_DAYS=None)
    with lambda_runner.lambda_environment(env):
        yield {"env": env, "iam": iam, "name": seeded["ServerCertificateName"]}


class _Later(SystemClock):
    """The clock `days` ahead: the certificate seeded now has lived that long."""

    def __init__(self, days: float) -> None:
        self._ahead = timedelta(days=days)

    def now(self) -> datetime:
        return super().now() + self._ahead


def test_a_certificate_whose_body_cannot_be_read_is_renewed_by_its_upload_date(
    aws: LocalStack, scan_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No renewal time learnt (every read of the body refused) and no floor: the lifetime rule from the
    upload date decides (never earlier than from the notBefore), so the certificate is rotated, not left
    to expire."""
    aws.faults.inject(service="iam", action="GetServerCertificate", code="AccessDenied", times=100)
    # past 2/3 of its lifetime (the services read SystemClock where they are built)
    monkeypatch.setattr(wiring_services, "SystemClock", lambda: _Later(DAYS_LEFT * 0.8))
    wiring.reset()

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, scan_env["env"])

    assert any("renewal time not learnt" in note for note in result["notes"])
    assert result["enqueued"] == [scan_env["name"]]


def test_a_certificate_whose_body_cannot_be_read_is_not_rotated_early(
    aws: LocalStack, scan_env: dict[str, Any]
) -> None:
    """The same certificate today: a third of its lifetime has not passed since its upload."""
    aws.faults.inject(service="iam", action="GetServerCertificate", code="AccessDenied", times=100)

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, scan_env["env"])

    assert result["enqueued"] == []


def test_a_scan_that_cannot_read_the_ca_asks_it_again_within_the_hour(scan_env: dict[str, Any]) -> None:
    env = {**scan_env["env"], "ACME_DIRECTORY_URL": "https://127.0.0.1:9/directory"}  # nothing listens
    started = datetime.now(UTC)

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)

    assert any("could not read the ACME directory" in note for note in result["notes"])
    tags = scan_env["iam"].list_server_certificate_tags(ServerCertificateName=scan_env["name"])["Tags"]
    schedule = RenewalSchedule.parse({t["Key"]: t["Value"] for t in tags}[RENEWAL_TAG])
    assert schedule is not None and schedule.source == "lifetime"
    # The lifetime rule decides meanwhile (renew in days), but the CA is asked again in an hour, not then.
    assert schedule.renew_at > started + timedelta(days=1)
    assert schedule.next_ask <= started + timedelta(hours=1, minutes=5)
