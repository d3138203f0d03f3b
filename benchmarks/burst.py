"""Many expiring at once: C managed certificates that expire the same day, each served by its own ALB.
One scheduled scan enqueues C messages; two rotate containers (the queue's MaximumConcurrency) drain them.
With `regions`, the ALBs are spread over those regions in turn (the functions search every enabled region,
and AWS's ELB buckets are per account and region).

Route 53 allows 5 requests per second per account and the moto server does not throttle, so a token bucket
(5 tokens, 5 per second) answers Route 53 calls beyond that rate with `Throttling` (HTTP 400, as Route 53
does), through the stack's fault-injection hook; botocore's retry mode has to ride it out. Reported: total
time, failures, throttling errors served, and the Route 53 request rate (asked for and let through).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from benchmarks.common import (
    aws_hook,
    create_albs,
    fmt_s,
    fresh_world,
    log,
    median,
    parallel,
    percentile,
    seed,
    start_stack,
    stopwatch,
)
from benchmarks.esm import Container, EventSourceMapping
from benchmarks.throughput import scheduled_event, served_by_new
from devstack.faults import Fault


class TokenBucket:
    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class Route53Meter:
    """The hook: records every Route 53 call (time, action, let through or throttled). With `elb_rate`, the
    ELB Describe* calls also go through a bucket per API version, sized as AWS documents it for
    non-mutating actions (40 tokens, refilled at 10 per second: elb_rate=10)."""

    def __init__(self, rate: float, elb_rate: float = 0.0) -> None:
        self.bucket = TokenBucket(rate) if rate > 0 else None
        self.elb_buckets = (
            {"elbv2": TokenBucket(elb_rate, 4 * elb_rate), "elb": TokenBucket(elb_rate, 4 * elb_rate)}
            if elb_rate > 0
            else {}
        )
        self.elb_throttled = 0
        self.calls: list[tuple[float, str, bool]] = []
        self.elb_by_region: Counter[tuple[str, bool]] = Counter()  # (region, Describe*?) -> calls sent
        self._lock = threading.Lock()

    def __call__(self, service: str, action: str | None, region: str = "") -> Fault | None:
        if service in ("elbv2", "elb"):
            with self._lock:
                self.elb_by_region[(region, (action or "").startswith("Describe"))] += 1
        if service in self.elb_buckets and (action or "").startswith("Describe"):
            if self.elb_buckets[service].take():
                return None
            with self._lock:
                self.elb_throttled += 1
            return Fault(
                service=service,
                action=action,
                code="Throttling",
                status=400,
                message="Rate exceeded",
                times=1,
            )
        if service != "route53":
            return None
        allowed = self.bucket.take() if self.bucket else True
        with self._lock:
            self.calls.append((time.monotonic(), action or "?", allowed))
        if allowed:
            return None
        return Fault(
            service="route53", action=action, code="Throttling", status=400, message="Rate exceeded", times=1
        )

    @staticmethod
    def max_per_second(times: list[float]) -> int:
        """The most calls in any one-second window."""
        times = sorted(times)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


def run(
    count: int = 100,
    lbs: int | None = None,
    concurrency: int = 2,
    route53_rate: float = 5.0,
    patches: list[str] | None = None,
    elb_rate: float = 0.0,
    aws_rates: bool = False,
    regions: list[str] | None = None,
    tracemalloc: bool = False,
) -> dict[str, Any]:
    """With `aws_rates`, the devstack's token buckets at AWS's rates (devstack.ratelimits: ELB Describe* 40 +
    10/s per region, ELB mutations, Route 53 5/s, IAM) replace this module's own, from the scan on (the
    seeding is not limited). With `regions`, the ALBs are spread over them in turn. With `tracemalloc`,
    the containers trace Python allocations (slower: the times are not comparable)."""
    lbs = count if lbs is None else lbs
    regions = regions or []
    if aws_rates:
        route53_rate, elb_rate = 0.0, 0.0  # the stack's buckets limit; the meter only records
    stack = start_stack()
    try:
        world = fresh_world(stack)
        log(f"burst: seeding {count} certificates expiring the same day, {lbs} ALBs")
        metas = parallel(
            lambda i: seed(world, f"burst-{i:04d}", [f"b{i}.example.com"], 5), list(range(count))
        )
        listeners = create_albs(world, [m["Arn"] for m in metas[:lbs]], prefix="burst", regions=regions)
        enabled = [r["RegionName"] for r in world.client("ec2").describe_regions(AllRegions=False)["Regions"]]
        meter = Route53Meter(route53_rate, elb_rate)
        extra_env = {"BENCH_TRACEMALLOC": "1"} if tracemalloc else {}
        if aws_rates:
            stack.limits.enable_aws_rates()
        log(f"burst: scan, then {concurrency} containers drain the queue")
        before = stack.calls.snapshot()
        with (
            aws_hook(stack, meter),
            EventSourceMapping(world, concurrency=concurrency, patches=patches, env=extra_env) as esm,
            Container(
                "ScanFunction", {**world.env, **extra_env}, esm.containers[0].log_path.with_name("scan.log")
            ) as scanner,
            stopwatch() as total,
        ):
            reply = scanner.call(scheduled_event())
            if "error" in reply:
                raise RuntimeError(f"the scan failed: {reply['error']}")
            enqueued = len(reply["result"]["enqueued"])
            drain = esm.drain()
        after = stack.calls.snapshot()
        limited = stack.limits.throttled()
        stack.limits.disable()
        repointed = served_by_new(
            world, [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=False)]
        )
    finally:
        stack.stop()

    calls = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    rotations = [i for i in drain.invocations if not i.failed]
    route53_times = [t for t, _a, _ok in meter.calls]
    allowed_times = [t for t, _a, ok in meter.calls if ok]
    throttled = sum(1 for _t, _a, ok in meter.calls if not ok)
    if aws_rates:  # the stack's buckets answered them, not the meter's
        throttled = sum(v for (svc, _a), v in limited.items() if svc == "route53")
    span = (max(route53_times) - min(route53_times)) if route53_times else 0.0
    elb_calls = sum(v for (service, _a), v in calls.items() if service in ("elbv2", "elb"))
    per_rotation = {
        service: sum(v for (s, _a), v in calls.items() if s == service) / max(1, len(rotations))
        for service in ("iam", "elbv2", "route53", "dynamodb", "events")
    }
    describe_calls = sum(
        v for (svc, a), v in calls.items() if svc in ("elbv2", "elb") and a.startswith("Describe")
    )
    route53_sent = sum(v for (svc, _a), v in calls.items() if svc == "route53")
    route53_needed = route53_sent - sum(v for (svc, _a), v in limited.items() if svc == "route53")
    route53_floor = route53_needed / 5.0  # the calls the rotations had to make, at Route 53's 5 per second
    limit = f"{route53_rate:g}/s token bucket" if route53_rate > 0 else "no limit"
    if aws_rates:
        limit = "5/s, ELB Describe* 40 + 10/s per region and the other AWS rates (devstack.ratelimits)"
    if elb_rate > 0:
        limit += f", ELB Describe* {4 * elb_rate:g} tokens + {elb_rate:g}/s"
    lines = [
        f"== Many expiring at once: {count} certificates due the same day, {lbs} ALBs, "
        f"{concurrency} containers, Route 53 {limit}"
        + (f"; patched: {', '.join(patches)}" if patches else ""),
        f"   scan enqueued {enqueued}; {len(rotations)} rotations succeeded, {len(drain.failures)} "
        f"invocations failed, {drain.dead_letters} messages dead-lettered; {repointed}/{lbs} listeners "
        "repointed",
        f"   total {fmt_s(total[0])} (scan {fmt_s(reply['import_s'] + reply['seconds'])}, queue drained in "
        f"{fmt_s(drain.wall)}): {len(rotations) / total[0] * 60:.0f} rotations per minute; per rotation "
        f"median {fmt_s(median(i.seconds for i in rotations))}, p90 "
        f"{fmt_s(percentile((i.seconds for i in rotations), 0.9))}",
        f"   Route 53: {len(meter.calls)} requests, {throttled} answered Throttling; max "
        f"{Route53Meter.max_per_second(route53_times)} requests in any second (asked), "
        f"{Route53Meter.max_per_second(allowed_times)} let through; mean "
        f"{len(meter.calls) / span if span else 0:.1f}/s over {fmt_s(span)}",
        "   AWS calls per rotation: "
        + ", ".join(f"{service} {n:.1f}" for service, n in per_rotation.items())
        + f"; load balancer API calls in all: {elb_calls}"
        + (f", {meter.elb_throttled} answered Throttling" if elb_rate > 0 else ""),
    ]
    if aws_rates:
        lines.append(
            f"   at AWS's rates: throttled {sum(limited.values())} calls "
            f"({', '.join(f'{s}:{a} {n}' for (s, a), n in sorted(limited.items())) or 'none'}); "
            f"ELB Describe* calls {describe_calls} (bound 2L + 10K = {2 * lbs + 10 * enqueued}); "
            f"Route 53 floor {fmt_s(route53_floor)} ({route53_needed} calls let through / 5 per s), "
            f"total {total[0] / route53_floor if route53_floor else 0:.2f}x the floor"
        )
    by_region = {
        region: (meter.elb_by_region[(region, True)], meter.elb_by_region[(region, False)])
        for region in sorted({r for r, _d in meter.elb_by_region})
    }
    served = regions or [world.stack.region]
    empty = [r for r in by_region if r not in served]
    lines.append(
        f"   regions: ALBs in {', '.join(served)}; {len(enabled)} enabled; "
        "ELB calls sent (Describe*, other): "
        + ", ".join(f"{r} {by_region.get(r, (0, 0))[0]}, {by_region.get(r, (0, 0))[1]}" for r in served)
        + f"; the {len(empty)} other regions {sum(by_region[r][0] for r in empty)}, "
        f"{sum(by_region[r][1] for r in empty)}"
    )
    rotate_rss = max((float(i.reply.get("maxrss_mb", 0.0)) for i in drain.invocations), default=0.0)
    first_rss = [float(i.reply.get("maxrss_mb", 0.0)) for i in drain.invocations if i.cold]
    rotate_traced = max(
        (float(i.reply.get("tracemalloc_peak_mb", 0.0)) for i in drain.invocations), default=0.0
    )
    memory = {
        "rotate_peak_rss_mb": rotate_rss,
        "scan_peak_rss_mb": float(reply.get("maxrss_mb", 0.0)),
        "rotate_tracemalloc_peak_mb": rotate_traced if tracemalloc else None,
        "scan_tracemalloc_peak_mb": float(reply.get("tracemalloc_peak_mb", 0.0)) if tracemalloc else None,
    }
    lines.append(
        f"   memory (VmHWM): rotate containers peak {rotate_rss:.0f} MB after {len(drain.invocations)} "
        f"invocations (after their first: {', '.join(f'{m:.0f}' for m in first_rss)} MB), "
        f"scan {memory['scan_peak_rss_mb']:.0f} MB"
        + (
            f"; tracemalloc peak: rotate {rotate_traced:.1f} MB, "
            f"scan {memory['scan_tracemalloc_peak_mb']:.1f} MB"
            " (traced: times not comparable)"
            if tracemalloc
            else ""
        )
    )
    text = "\n".join(lines)
    print(text, flush=True)
    return {
        "name": "burst",
        "regions": regions,
        "enabled_regions": len(enabled),
        "elb_calls_by_region": by_region,
        "memory": memory,
        "scan_s": reply["import_s"] + reply["seconds"],
        "drain_s": drain.wall,
        "patches": patches or [],
        "count": count,
        "total_s": total[0],
        "rotated": len(rotations),
        "failures": len(drain.failures),
        "dead_letters": drain.dead_letters,
        "repointed": repointed,
        "route53_requests": len(meter.calls),
        "route53_throttled": throttled,
        "route53_max_per_s_asked": Route53Meter.max_per_second(route53_times),
        "route53_max_per_s_allowed": Route53Meter.max_per_second(allowed_times),
        "elb_calls": elb_calls,
        "elb_throttled": meter.elb_throttled,
        "aws_rates": aws_rates,
        "throttled": {f"{s}:{a}": n for (s, a), n in limited.items()},
        "elb_describe_calls": describe_calls,
        "route53_floor_s": route53_floor,
        "text": text,
    }
