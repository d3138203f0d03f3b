"""Every endpoint in every region searched (and CloudFront), behind the one Endpoints port.

Regions are listed in parallel on a small thread pool (boto3 clients are thread-safe; they are built here,
in the caller's thread, because building them is not). A region that refuses the caller (an authentication,
opt-in or permission error: no retry makes it answer) is reported in the survey instead of failing the search:
repointing proceeds everywhere else, and nothing it might still serve is deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from certrotate.adapters.aws.cloudfront import CloudFrontDistributions
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.errors import error_code
from certrotate.errors import ListenerUpdateFailed
from certrotate.model import Endpoint, EndpointChange, EndpointKind, EndpointSurvey, Unsearched

# Errors that say "this caller may not look here": a region not enabled for the token (STS v1 tokens are
# valid only in regions enabled by default), not opted in, or denied by a policy (e.g. an SCP on
# aws:RequestedRegion). Anything else (throttling beyond botocore's retries, a 5xx) fails the search.
UNSEARCHABLE = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "AuthFailure",
        "OptInRequired",
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
    }
)
PARALLEL_REGIONS = 8  # ELB's Describe* bucket is per region: the limit is our threads, not AWS
CLOUDFRONT = "cloudfront"


class RegionSource(Protocol):
    def regions(self) -> tuple[str, ...]: ...


logger = Logger(child=True)


class AllEndpoints:
    def __init__(
        self,
        regions: RegionSource,
        listeners: Callable[[str], LoadBalancerListeners],  # the adapter of one region, built on first use
        # Built only when a certificate needs it; None where the partition has no CloudFront (GovCloud).
        cloudfront: Callable[[], CloudFrontDistributions] | None,
        *,
        partition: str = "aws",
    ) -> None:
        self._region_source = regions
        self._listeners_factory = listeners
        self._listeners: dict[str, LoadBalancerListeners] = {}
        self._cloudfront_factory = cloudfront
        self._cloudfront: CloudFrontDistributions | None = None
        self._lock = threading.Lock()
        self._partition = partition

    def _region(self, region: str) -> LoadBalancerListeners:
        with self._lock:
            if region not in self._listeners:
                self._listeners[region] = self._listeners_factory(region)
            return self._listeners[region]

    def _cf(self) -> CloudFrontDistributions:
        if self._cloudfront_factory is None:
            raise ListenerUpdateFailed(f"CloudFront is not offered in the {self._partition} partition")
        with self._lock:
            if self._cloudfront is None:
                self._cloudfront = self._cloudfront_factory()
            return self._cloudfront

    def discover(self, *, include_cloudfront: bool) -> EndpointSurvey:
        searches: list[tuple[str, Callable[[], list[Endpoint]]]] = [
            (region, self._region(region).discover) for region in self._region_source.regions()
        ]
        if include_cloudfront and self._cloudfront_factory is None:
            logger.info(f"CloudFront is not offered in the {self._partition} partition: not searched")
        elif include_cloudfront:
            searches.append((CLOUDFRONT, self._cf().discover))
        found: list[Endpoint] = []
        unsearched: list[Unsearched] = []
        with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_REGIONS, len(searches)))) as pool:
            futures: list[tuple[str, Future[list[Endpoint]]]] = [
                (where, pool.submit(search)) for where, search in searches
            ]
            for where, future in futures:  # in submission order: the same survey for the same state
                try:
                    found.extend(future.result())
                except ClientError as exc:
                    code = error_code(exc)
                    if code not in UNSEARCHABLE:
                        raise
                    message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
                    unsearched.append(Unsearched(where, f"{code}: {message}" if message else code))
        return EndpointSurvey(tuple(found), tuple(unsearched))

    def read(self, endpoint: Endpoint) -> Endpoint | None:
        if endpoint.kind is EndpointKind.CLOUDFRONT:
            return self._cf().read(endpoint)
        return self._region(endpoint.region).read(endpoint)

    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None:
        if change.endpoint.kind is EndpointKind.CLOUDFRONT:
            return self._cf().apply(change, deadline=deadline)
        return self._region(change.endpoint.region).apply(change, deadline=deadline)
