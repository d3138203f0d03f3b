"""AWS's API rate limits as token buckets in front of the moto server (off by default).

    stack.limits.enable_aws_rates()       # the rates below; calls beyond them get `Throttling` as from AWS
    stack.limits.throttled()              # -> {("elbv2", "DescribeLoadBalancers"): 12, ...}
    stack.limits.set(RateRule("route53", None, "all", capacity=5, refill_per_second=5, per_region=False))

The rates, and where they come from:
- ELB (each API version its own buckets, per account and region; ELB user guide, "Request throttling for the
  ELB API"): Describe* 40 tokens refilled at 10/s (documented). Mutating actions: the guide has a table of
  them that we could not read in full here; we assume 10 tokens refilled at 2/s, smaller than Describe*, so
  the benchmark is harsher than AWS, not kinder.
- Route 53: 5 requests per second per account (Route 53 quotas, "Requests to the Route 53 API"): 5 + 5/s.
- IAM: AWS publishes no rate. We assume 20 tokens refilled at 10/s per account (IAM is global), one bucket
  for reads and writes.
Services without a rule are not limited. Throttled calls are still counted by the call counter (a client
really sent them) and are answered before moto sees them, so they change nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateRule:
    """A bucket for the calls of `service` whose action starts with `action_prefix` (None: every action not
    claimed by a more specific rule), named `bucket`, kept per region or per account."""

    service: str
    action_prefix: str | None
    bucket: str
    capacity: float
    refill_per_second: float
    per_region: bool = True
    code: str = "Throttling"

    def matches(self, service: str, action: str) -> bool:
        return self.service == service and (
            self.action_prefix is None or action.startswith(self.action_prefix)
        )


def aws_rates() -> list[RateRule]:
    """The rules of the module docstring, most specific first."""
    rules: list[RateRule] = []
    for elb in ("elbv2", "elb"):
        rules.append(RateRule(elb, "Describe", "describe", capacity=40, refill_per_second=10))
        rules.append(RateRule(elb, None, "mutate", capacity=10, refill_per_second=2))
    rules.append(RateRule("route53", None, "all", capacity=5, refill_per_second=5, per_region=False))
    rules.append(RateRule("iam", None, "all", capacity=20, refill_per_second=10, per_region=False))
    return rules


class TokenBucket:
    """Starts full; each call takes one token; tokens come back continuously at the refill rate."""

    def __init__(self, capacity: float, refill_per_second: float, now: float) -> None:
        if capacity < 1 or refill_per_second <= 0:
            raise ValueError("a bucket holds at least one token and refills at a positive rate")
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self.tokens = capacity
        self.updated = now

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RateLimits:
    """Thread-safe set of rules and their buckets; the AWS middleware asks it on every call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._rules: list[RateRule] = []
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._throttled: Counter[tuple[str, str]] = Counter()

    def enable_aws_rates(self) -> None:
        self.set(*aws_rates())

    def set(self, *rules: RateRule) -> None:
        """Replaces the rules (empty buckets are forgotten: every bucket starts full again)."""
        with self._lock:
            self._rules = list(rules)
            self._buckets.clear()

    def disable(self) -> None:
        """Back to the default: no limits, no memory of throttled calls, the real clock."""
        with self._lock:
            self._rules = []
            self._buckets.clear()
            self._throttled.clear()
        self.clock = time.monotonic

    @property
    def enabled(self) -> bool:
        return bool(self._rules)

    def take(self, service: str, action: str, region: str) -> RateRule | None:
        """The rule whose bucket is empty for this call (the call must be throttled), else None."""
        with self._lock:
            rule = next((r for r in self._rules if r.matches(service, action)), None)
            if rule is None:
                return None
            key = (service, rule.bucket, region if rule.per_region else "")
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rule.capacity, rule.refill_per_second, now)
            if bucket.take(now):
                return None
            self._throttled[(service, action)] += 1
            return rule

    def throttled(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._throttled)

    def throttled_count(self, service: str | None = None, action: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (svc, act), n in self._throttled.items()
                if (service is None or svc == service) and (action is None or act == action)
            )


# The process-wide instance the local stack installs (as the fault injector and call counter).
limits = RateLimits()
