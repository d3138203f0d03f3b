"""Region discovery and the search of every region, against the local stack over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from certrotate.adapters.aws.cloudfront import CloudFrontDistributions
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.endpoints import AllEndpoints
from certrotate.adapters.aws.regions import REGIONS_MAX_AGE, EnabledRegions, FixedRegions
from certrotate.errors import RegionDiscoveryFailed
from certrotate.model import Unsearched

from devstack import fixtures, moto_fixes
from devstack.stack import LocalStack

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})
REGIONS = ("eu-west-1", "us-east-1", "us-west-2")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_enabled_regions_are_asked_once_per_max_age(aws: LocalStack) -> None:
    moto_fixes.set_enabled_regions(REGIONS)
    clock = FakeClock()
    regions = EnabledRegions(lambda: aws.client_as("ScanFunction", "ec2"), monotonic=clock)

    assert regions.regions() == REGIONS
    moto_fixes.set_enabled_regions([*REGIONS, "ap-east-1"])  # someone enables an opt-in region
    clock.now += REGIONS_MAX_AGE - 1
    assert regions.regions() == REGIONS, "cached"
    assert aws.calls.count("ec2", "DescribeRegions") == 1
    clock.now += 1
    assert regions.regions() == ("ap-east-1", *REGIONS)
    assert aws.calls.count("ec2", "DescribeRegions") == 2


def test_a_refused_describe_regions_fails_clearly(aws: LocalStack) -> None:
    aws.faults.inject(service="ec2", action="DescribeRegions", code="UnauthorizedOperation", status=403)
    with pytest.raises(RegionDiscoveryFailed, match=r"ec2:DescribeRegions failed \(UnauthorizedOperation\)"):
        EnabledRegions(lambda: aws.client_as("ScanFunction", "ec2", config=NO_RETRIES)).regions()


def endpoints_of(aws: LocalStack, regions: tuple[str, ...]) -> AllEndpoints:
    return AllEndpoints(
        FixedRegions(regions),
        lambda region: LoadBalancerListeners(
            region,
            aws.client_as("RotateFunction", "elbv2", region, NO_RETRIES),
            aws.client_as("RotateFunction", "elb", region, NO_RETRIES),
        ),
        lambda: CloudFrontDistributions(aws.client_as("RotateFunction", "cloudfront", config=NO_RETRIES)),
    )


@pytest.fixture
def listeners(aws: LocalStack) -> dict[str, Any]:
    """One ALB listener serving the same certificate in each region."""
    cert = fixtures.seed_certificate(aws.client("iam"), "shop", ["shop.example.com"], 30, key="ec256")
    return {
        region: fixtures.create_alb_https_listener(
            aws.client("elbv2", region), aws.client("ec2", region), cert["Arn"]
        ).listener_arn
        for region in REGIONS
    }


def test_every_region_is_searched_in_parallel_and_reported_in_order(
    aws: LocalStack, listeners: dict[str, str]
) -> None:
    survey = endpoints_of(aws, REGIONS).discover(include_cloudfront=True)

    assert [(e.region, e.resource_id) for e in survey.endpoints] == list(listeners.items())
    assert survey.unsearched == ()


def test_a_region_that_refuses_the_caller_is_reported_and_the_others_are_searched(
    aws: LocalStack, listeners: dict[str, str]
) -> None:
    aws.faults.inject(service="elb", region="us-west-2", code="OptInRequired", status=403, times=10)
    aws.faults.inject(service="cloudfront", code="AccessDenied", status=403, times=10)

    survey = endpoints_of(aws, REGIONS).discover(include_cloudfront=True)

    assert [e.region for e in survey.endpoints] == ["eu-west-1", "us-east-1"]
    assert survey.unsearched == (
        Unsearched("us-west-2", "OptInRequired: Injected fault: OptInRequired"),
        Unsearched("cloudfront", "AccessDenied: Injected fault: AccessDenied"),
    )


def test_any_other_error_fails_the_search(aws: LocalStack, listeners: dict[str, str]) -> None:
    aws.faults.inject(service="elbv2", region="eu-west-1", code="ValidationError", times=10)
    with pytest.raises(Exception, match="ValidationError"):
        endpoints_of(aws, REGIONS).discover(include_cloudfront=False)
