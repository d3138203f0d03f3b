"""Route 53 and CloudFront are global, but each partition has its own global endpoint: the clients are built
for the function's partition (botocore's endpoint data); CloudFront is skipped where it does not exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from certrotate import wiring
from certrotate.adapters.elb import LoadBalancerListeners
from certrotate.adapters.endpoints import AllEndpoints
from certrotate.adapters.regions import FixedRegions
from certrotate.errors import ListenerUpdateFailed
from certrotate.model import Endpoint, EndpointKind, EndpointSurvey

# (function region, partition, Route 53 signing region and host, CloudFront's or None)
PARTITIONS = [
    ("eu-west-1", "aws", "us-east-1", "route53.amazonaws.com", "cloudfront.amazonaws.com"),
    (
        "cn-north-1",
        "aws-cn",
        "cn-northwest-1",
        "route53.amazonaws.com.cn",
        "cloudfront.cn-northwest-1.amazonaws.com.cn",
    ),
    ("us-gov-east-1", "aws-us-gov", "us-gov-west-1", "route53.us-gov.amazonaws.com", None),
]


class Sent(Exception):
    """Raised instead of sending: the request was signed and addressed, nothing left the machine."""


@pytest.fixture
def function_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def configure(region: str) -> None:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        monkeypatch.setenv("AWS_REGION", region)
        wiring.reset()

    yield configure
    wiring.reset()


def first_request(client: Any, operation: str, call: Any) -> tuple[str, str]:
    """(URL, credential scope) of the request `call` would send."""
    seen: dict[str, str] = {}

    def capture(request: Any, **_: Any) -> None:
        seen["url"] = request.url
        seen["scope"] = request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]
        raise Sent

    client.meta.events.register(f"before-send.*.{operation}", capture)
    with pytest.raises(Sent):
        call()
    return seen["url"], seen["scope"]


@pytest.mark.parametrize(
    ("region", "partition", "route53_region", "route53_host", "cloudfront_host"), PARTITIONS
)
def test_global_clients_follow_the_functions_partition(
    function_in: Any,
    region: str,
    partition: str,
    route53_region: str,
    route53_host: str,
    cloudfront_host: str | None,
) -> None:
    function_in(region)
    assert wiring.partition() == partition

    route53 = wiring.global_client("route53")
    url, scope = first_request(route53, "ListHostedZones", route53.list_hosted_zones)
    assert url.startswith(f"https://{route53_host}/")
    assert scope.endswith(f"/{route53_region}/route53/aws4_request")

    if cloudfront_host is None:
        assert wiring.global_region("cloudfront") is None
        with pytest.raises(RuntimeError, match=f"cloudfront is not offered in the {partition} partition"):
            wiring.global_client("cloudfront")
        return
    cloudfront = wiring.global_client("cloudfront")
    url, scope = first_request(cloudfront, "ListDistributions", cloudfront.list_distributions)
    assert url.startswith(f"https://{cloudfront_host}/")
    assert scope.endswith(f"/{route53_region}/cloudfront/aws4_request")


def test_global_regions_come_from_botocores_endpoint_data() -> None:
    data = boto3.session.Session()._session.get_data("endpoints")
    for _, partition, region, _, cloudfront_host in PARTITIONS:
        assert wiring.global_endpoint_region("route53", partition, data) == region
        expected = region if cloudfront_host else None
        assert wiring.global_endpoint_region("cloudfront", partition, data) == expected
    assert wiring.global_endpoint_region("route53", "no-such-partition", data) is None


def test_without_cloudfront_the_search_covers_load_balancers_only(function_in: Any) -> None:
    function_in("us-gov-west-1")
    distribution = Endpoint(EndpointKind.CLOUDFRONT, "global", "E123", "", "ASCA")
    with pytest.raises(ListenerUpdateFailed, match="CloudFront is not offered in the aws-us-gov partition"):
        wiring.endpoints().read(distribution)  # no CloudFront client exists to call

    # A /cloudfront/ certificate's search: the load balancers (none here), no CloudFront call, no error.
    def no_region(region: str) -> LoadBalancerListeners:
        raise AssertionError(f"no region is searched here, not {region}")

    endpoints = AllEndpoints(FixedRegions(()), no_region, None, partition="aws-us-gov")
    assert endpoints.discover(include_cloudfront=True) == EndpointSurvey((), ())
