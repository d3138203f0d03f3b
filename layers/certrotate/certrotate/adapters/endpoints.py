"""Every endpoint in every configured region, behind the one Endpoints port."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_lambda_powertools import Logger

from certrotate.adapters.cloudfront import CloudFrontDistributions
from certrotate.adapters.elb import LoadBalancerListeners
from certrotate.errors import ListenerUpdateFailed
from certrotate.model import Endpoint, EndpointChange, EndpointKind

logger = Logger(child=True)


class AllEndpoints:
    def __init__(
        self,
        regions: Sequence[LoadBalancerListeners],
        # Built only when a /cloudfront/ certificate needs it; None where the partition has no CloudFront.
        cloudfront: Callable[[], CloudFrontDistributions] | None,
        *,
        partition: str = "aws",
    ) -> None:
        self._regions = {r.region: r for r in regions}
        self._cloudfront_factory = cloudfront
        self._cloudfront: CloudFrontDistributions | None = None
        self._partition = partition

    def _cf(self) -> CloudFrontDistributions:
        if self._cloudfront_factory is None:
            raise ListenerUpdateFailed(f"CloudFront is not offered in the {self._partition} partition")
        if self._cloudfront is None:
            self._cloudfront = self._cloudfront_factory()
        return self._cloudfront

    def discover(self, *, include_cloudfront: bool) -> list[Endpoint]:
        found: list[Endpoint] = []
        for region in self._regions.values():
            found.extend(region.discover())
        if include_cloudfront and self._cloudfront_factory is None:
            logger.warning(
                f"CloudFront is not offered in the {self._partition} partition: "
                "a /cloudfront/ certificate is searched for on load balancers only"
            )
        elif include_cloudfront:
            found.extend(self._cf().discover())
        return found

    def read(self, endpoint: Endpoint) -> Endpoint | None:
        if endpoint.kind is EndpointKind.CLOUDFRONT:
            return self._cf().read(endpoint)
        return self._regions[endpoint.region].read(endpoint)

    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None:
        if change.endpoint.kind is EndpointKind.CLOUDFRONT:
            return self._cf().apply(change, deadline=deadline)
        return self._regions[change.endpoint.region].apply(change, deadline=deadline)
