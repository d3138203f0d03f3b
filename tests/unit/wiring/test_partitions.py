"""Route 53 and CloudFront are global, but each partition has its own global endpoint: the clients are built
in the function's own region and botocore's endpoint rules send them to their partition's global endpoint,
signed for the region that serves it; certrotate only knows where CloudFront does not exist, and skips it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from certrotate import wiring
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.endpoints import AllEndpoints
from certrotate.adapters.aws.regions import FixedRegions
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
        assert not wiring.offers_cloudfront(partition)
        with pytest.raises(RuntimeError, match=f"cloudfront is not offered in the {partition} partition"):
            wiring.global_client("cloudfront")
        return
    cloudfront = wiring.global_client("cloudfront")
    url, scope = first_request(cloudfront, "ListDistributions", cloudfront.list_distributions)
    assert url.startswith(f"https://{cloudfront_host}/")
    assert scope.endswith(f"/{route53_region}/cloudfront/aws4_request")


def _regions_of_every_partition() -> list[tuple[str, str]]:
    """(partition, region) for two regions of each partition botocore knows (one when it has one)."""
    session = boto3.session.Session()
    found = []
    for partition in session.get_available_partitions():
        regions = sorted(session.get_available_regions("ec2", partition_name=partition))
        found.extend((partition, region) for region in regions[:1] + regions[-1:][: len(regions) - 1])
    return found


@pytest.mark.parametrize(("partition", "region"), _regions_of_every_partition())
def test_botocore_resolves_the_global_endpoint_from_any_region_of_the_partition(
    function_in: Any, partition: str, region: str
) -> None:
    """No endpoint data of certrotate's own: the client is built in the function's region, and the request
    leaves for the same host, signed for the same region, whichever region of the partition it is in."""
    function_in(region)
    assert wiring.partition() == partition
    route53 = wiring.global_client("route53")
    url, scope = first_request(route53, "ListHostedZones", route53.list_hosted_zones)
    host, signed_for = url.split("/")[2], scope.split("/")[2]
    known = {p: (host_, r53) for _, p, r53, host_, _ in PARTITIONS}
    if partition in known:
        assert (host, signed_for) == known[partition]
    else:  # a partition botocore knows and certrotate does not: still one global endpoint of that partition
        first = boto3.session.Session().get_available_regions("ec2", partition_name=partition)[0]
        function_in(first)
        again = wiring.global_client("route53")
        assert first_request(again, "ListHostedZones", again.list_hosted_zones)[0].split("/")[2] == host
    assert wiring.offers_cloudfront(partition) is (partition in ("aws", "aws-cn"))


def test_no_private_endpoint_data_is_read(function_in: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's endpoint data through the private session (`session._session.get_data("endpoints")`) is
    botocore's business: certrotate's clients for global services ask botocore nothing of the kind."""
    real = botocore.session.Session.get_data

    def refuse_endpoints(self: botocore.session.Session, data_path: str) -> Any:
        assert data_path != "endpoints", "certrotate read botocore's endpoint data itself"
        return real(self, data_path)

    monkeypatch.setattr(botocore.session.Session, "get_data", refuse_endpoints)
    for region in ("eu-west-1", "cn-north-1", "us-gov-east-1"):
        function_in(region)
        wiring.global_client("route53")
        wiring.endpoints()
        if wiring.offers_cloudfront(wiring.partition()):
            wiring.global_client("cloudfront")


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
