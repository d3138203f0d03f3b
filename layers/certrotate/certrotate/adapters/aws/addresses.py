"""Where clients reach an endpoint: the load balancer's DNS name and the listener's port, or the
distribution's domain name. Read-only; one or two Describe calls per endpoint, cached per load balancer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from certrotate.model import Endpoint, EndpointKind


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    load_balancer_name: str  # the distribution ID for CloudFront
    kind: str  # alb | nlb | classic | cloudfront (from the load balancer's Type: ARNs may not say)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class EndpointAddresses:
    """`client(service, region)` returns a boto3 client (elbv2, elb); `cloudfront()` the CloudFront client
    built for the partition's global endpoint (wiring.global_client), needed only for a distribution."""

    def __init__(
        self, client: Callable[..., Any], cloudfront: Callable[[], Any] | None = None
    ) -> None:  # (service, region) -> a boto3 client
        self._client = client
        # Without a factory: the default region's client, which botocore resolves to the global endpoint.
        self._cloudfront = cloudfront or (lambda: client("cloudfront", None))

    def address_of(self, endpoint: Endpoint) -> Address | None:
        """None when the endpoint is gone."""
        try:
            if endpoint.kind is EndpointKind.ELBV2_LISTENER:
                listener = self._client("elbv2", endpoint.region).describe_listeners(
                    ListenerArns=[endpoint.resource_id]
                )["Listeners"][0]
                host, name, kind = self._v2_load_balancer(endpoint.region, endpoint.load_balancer)
                return Address(host, int(listener["Port"]), name, kind)
            if endpoint.kind is EndpointKind.CLASSIC_LISTENER:
                name, port = endpoint.resource_id.rsplit(":", 1)
                return Address(self._classic_load_balancer(endpoint.region, name), int(port), name, "classic")
            # cloudfront:GetDistribution (the domain name); GetDistributionConfig does not say it.
            distribution = self._cloudfront().get_distribution(Id=endpoint.resource_id)
            domain = distribution["Distribution"]["DomainName"]
            return Address(domain, 443, endpoint.resource_id, "cloudfront")
        except ClientError as exc:
            if "NotFound" in exc.response.get("Error", {}).get("Code", "") or "NoSuch" in str(exc):
                return None
            raise

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one instance per command or rotation
    def _v2_load_balancer(self, region: str, arn: str) -> tuple[str, str, str]:
        lb = self._client("elbv2", region).describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        kind = "nlb" if lb.get("Type") == "network" else "alb"
        return str(lb["DNSName"]), str(lb["LoadBalancerName"]), kind

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def _classic_load_balancer(self, region: str, name: str) -> str:
        described = self._client("elb", region).describe_load_balancers(LoadBalancerNames=[name])
        return str(described["LoadBalancerDescriptions"][0]["DNSName"])
