"""A certificate deleted between the scan's listing and its reads (a retirement, another team's tooling) is
one certificate, not the scan: the others are still reported and sent (CONTRACT: one odd certificate never
stops the others)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack import fixtures, lambda_runner
from devstack.stack import LocalStack
from tests.integration.conftest import functions_env


@pytest.fixture
def scan_env(aws: LocalStack) -> Iterator[dict[str, Any]]:
    env = functions_env(aws, RENEW_BEFORE_DAYS="30")
    with lambda_runner.lambda_environment(env):
        yield env


def test_an_iam_certificate_gone_before_its_tags_are_read_leaves_the_scan_intact(
    aws: LocalStack, scan_env: dict[str, Any]
) -> None:
    iam = aws.client("iam")
    for name in ("first", "second"):
        fixtures.seed_certificate(iam, name, [f"{name}.example.com"], 5)
    aws.faults.inject(service="iam", action="ListServerCertificateTags", code="NoSuchEntity", status=404)

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, scan_env)

    assert result["scanned"] == 2 and len(result["enqueued"]) == 1, result  # the gone one: no tags, no action


def test_an_acm_certificate_gone_before_its_tags_are_read_leaves_the_scan_intact(
    aws: LocalStack, scan_env: dict[str, Any]
) -> None:
    acm = aws.client("acm")
    arns = [fixtures.import_acm_certificate(acm, [f"{n}.example.com"], 5)[0] for n in ("first", "second")]
    aws.faults.inject(
        service="acm", action="ListTagsForCertificate", code="ResourceNotFoundException", status=400
    )

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, scan_env)

    assert len(result["enqueued"]) == 1 and result["enqueued"][0] in arns, result
    assert any("tags not read" in note for note in result["notes"])
