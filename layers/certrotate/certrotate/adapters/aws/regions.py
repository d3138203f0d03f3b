"""Which regions are searched for load balancers: every region enabled for the account, or the ones the
operator names in LOAD_BALANCER_REGIONS.

An IAM server certificate is global: a listener in any enabled region may serve it. EC2 `DescribeRegions`
without `AllRegions` lists exactly the regions enabled for the account (opt-in regions only once opted in),
in the partition of the endpoint asked, and needs no other service or region (docs/design.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import RegionDiscoveryFailed

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


# Regions are enabled or disabled rarely (and enabling one takes minutes to hours): a warm container asks
# again after this long, so a region enabled meanwhile is searched from then on.
REGIONS_MAX_AGE = 600.0


class FixedRegions:
    """The regions LOAD_BALANCER_REGIONS names: an explicit narrowing, never widened."""

    def __init__(self, regions: Sequence[str]) -> None:
        self._regions = tuple(regions)

    def regions(self) -> tuple[str, ...]:
        return self._regions


class EnabledRegions:
    """The regions enabled for the account, from `ec2:DescribeRegions`, cached for REGIONS_MAX_AGE."""

    def __init__(
        self,
        ec2: Callable[[], EC2Client],  # built at the first DescribeRegions: a rotation given the scan's
        # endpoint index never lists the regions, and EC2's service model costs ~20 MB and ~0.1 s to load
        *,
        max_age: float = REGIONS_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ec2 = ec2
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[str, ...] = ()
        self._fetched_at: float | None = None

    def regions(self) -> tuple[str, ...]:
        with self._lock:
            now = self._monotonic()
            if self._fetched_at is None or now - self._fetched_at >= self._max_age:
                self._cached = self._describe()
                self._fetched_at = now
            return self._cached

    def _describe(self) -> tuple[str, ...]:
        try:
            response = self._ec2().describe_regions(AllRegions=False)
        except (ClientError, BotoCoreError) as exc:
            # Without the list no deletion is safe and no repointing complete: fail loudly, not narrowly.
            code = error_code(exc) or type(exc).__name__
            raise RegionDiscoveryFailed(
                f"ec2:DescribeRegions failed ({code}): the regions enabled for the account are unknown; "
                "grant ec2:DescribeRegions or name the regions in LOAD_BALANCER_REGIONS"
            ) from None
        # Without AllRegions only enabled regions are listed; the status check guards against a caller
        # that asks for all of them one day.
        regions = sorted(
            r["RegionName"]
            for r in response.get("Regions", [])
            if r.get("RegionName") and r.get("OptInStatus") != "not-opted-in"
        )
        if not regions:
            raise RegionDiscoveryFailed("ec2:DescribeRegions listed no enabled region")
        return tuple(regions)
