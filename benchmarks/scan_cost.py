"""Scan cost at scale: N IAM server certificates and L ALBs (one HTTPS listener each) on the moto server.

Counts the AWS calls per (service, action) that one scheduled scan makes, and those of one rotation's
listener lookup (Endpoints.discover: the ALB/NLB pages, one DescribeListeners per load balancer, one
DescribeListenerCertificates per secure listener, the Classic pages), with their wall times.
The same bounds, for smaller N and L, are asserted by tests/integration/test_call_counts.py.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.common import (
    LAYER,
    World,
    create_albs,
    fmt_s,
    fresh_world,
    log,
    parallel,
    run_probe,
    seed,
    start_stack,
    stopwatch,
    table,
)
from benchmarks.esm import Container
from benchmarks.throughput import scheduled_event

IAM_PAGE = 100  # ListServerCertificates returns at most 100 per page unless MaxItems says otherwise
SQS_BATCH = 10


def populate(world: World, n: int, lbs: int, expiring: int) -> None:
    """N certificates: `expiring` managed ones 5 days from expiry, the rest 40-400 days out, every fourth
    unmanaged; the first L are each the default certificate of an ALB's HTTPS listener."""

    def one(i: int) -> dict[str, Any]:
        days = 5 if i < expiring else 40 + (i * 37) % 360
        managed = i < expiring or i % 4 != 3
        return seed(world, f"scale-{i:05d}", [f"s{i}.example.com"], days, managed=managed)

    metas = parallel(one, list(range(n)))
    create_albs(world, [m["Arn"] for m in metas[:lbs]], prefix="scale")


def expected_scan_calls(n: int, expiring: int) -> dict[tuple[str, str], int]:
    """What one scan costs when nothing is pending retirement: the listing pages, one tag listing per
    certificate (IAM lists no tags with the certificates), the quota, and the queue batches."""
    calls = {
        ("iam", "ListServerCertificates"): max(1, math.ceil(n / IAM_PAGE)),
        ("iam", "ListServerCertificateTags"): n,
        ("iam", "GetAccountSummary"): 1,
    }
    if expiring:
        calls[("sqs", "SendMessageBatch")] = math.ceil(expiring / SQS_BATCH)
    return calls


def expected_discover_calls(lbs: int, classic: int = 0) -> dict[tuple[str, str], int]:
    """One rotation's listener lookup over L ALBs with one HTTPS listener each (and `classic` CLBs)."""
    return {
        ("elbv2", "DescribeLoadBalancers"): max(1, math.ceil(lbs / 400)),
        ("elbv2", "DescribeListeners"): lbs,
        ("elbv2", "DescribeListenerCertificates"): lbs,
        ("elb", "DescribeLoadBalancers"): max(1, math.ceil(classic / 400)),
    }


def _diff(
    after: dict[tuple[str, str], int], before: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run(
    n: int = 1000, lbs: int = 100, expiring: int = 10, patches: list[str] | None = None
) -> dict[str, Any]:
    patches = patches if patches is not None else ["parallel_discovery=8"]
    stack = start_stack(with_pebble=False)
    try:
        world = fresh_world(stack)
        log(f"scan cost: seeding {n} certificates and {lbs} ALBs")
        with stopwatch() as seeding:
            populate(world, n, lbs, expiring)
        calls = stack.calls
        with Container("ScanFunction", world.env, _log_path("scan-cost")) as scanner:
            before = calls.snapshot()
            reply = scanner.call(scheduled_event())
            scan_calls = _diff(calls.snapshot(), before)
            if "error" in reply:
                raise RuntimeError(f"the scan failed: {reply['error']}")
            before = calls.snapshot()
            warm = scanner.call(scheduled_event())
            warm_calls = _diff(calls.snapshot(), before)
        env = {**world.env, "BENCH_LAYER": str(LAYER)}
        before = calls.snapshot()
        discover = run_probe("discover", env=env)
        discover_calls = _diff(calls.snapshot(), before)
        discover_calls = {k: v // 2 for k, v in discover_calls.items()}  # the probe discovers twice
        patched: dict[str, Any] | None = None
        if patches:
            patched = run_probe("discover", env={**env, "BENCH_PATCHES": ",".join(patches)})
    finally:
        stack.stop()

    result = reply["result"]
    expected_scan = expected_scan_calls(n, expiring)
    expected_discover = expected_discover_calls(lbs)
    lines = [
        f"== Scan cost: N={n} IAM certificates ({result['managed']} managed, {expiring} due), L={lbs} ALBs"
    ]
    lines.append(f"   (seeding took {fmt_s(seeding[0])})")
    rows = [
        [f"{s}:{a}", str(c), str(expected_scan.get((s, a), "?"))] for (s, a), c in sorted(scan_calls.items())
    ]
    rows.append(["total", str(sum(scan_calls.values())), str(sum(expected_scan.values()))])
    lines.append("   one scan (cold container):")
    lines.append(table(rows, ["call", "count", "expected"]))
    lines.append(
        f"   scan wall time: cold {fmt_s(reply['import_s'] + reply['seconds'])} "
        f"(import {fmt_s(reply['import_s'])}), warm {fmt_s(warm['seconds'])} "
        f"({sum(warm_calls.values())} calls); peak RSS {warm.get('maxrss_mb', 0):.0f} MB; "
        f"scanned {result['scanned']}, enqueued {len(result['enqueued'])}"
    )
    rows = [
        [f"{s}:{a}", str(c), str(expected_discover.get((s, a), "?"))]
        for (s, a), c in sorted(discover_calls.items())
    ]
    rows.append(["total", str(sum(discover_calls.values())), str(sum(expected_discover.values()))])
    lines.append("   one rotation's listener lookup (Endpoints.discover):")
    lines.append(table(rows, ["call", "count", "expected"]))
    lines.append(
        f"   lookup wall time: {fmt_s(discover['second_s'])} warm ({fmt_s(discover['first_s'])} with client "
        f"creation), {discover['endpoints']} secure listeners found"
    )
    if patched:
        gain = discover["second_s"] / patched["second_s"] if patched["second_s"] else float("nan")
        lines.append(
            f"   patched ({', '.join(patches)}): {fmt_s(patched['second_s'])} warm -> {gain:.1f}x faster, "
            "same calls"
        )
    mismatches = [
        f"{k}: {v} != {expected_scan.get(k)}" for k, v in scan_calls.items() if expected_scan.get(k) != v
    ] + [
        f"{k}: {v} != {expected_discover.get(k)}"
        for k, v in discover_calls.items()
        if expected_discover.get(k) != v
    ]
    if mismatches:
        lines.append("   CALL COUNTS DIFFER FROM THE EXPECTED: " + "; ".join(mismatches))
    text = "\n".join(lines)
    print(text, flush=True)
    return {
        "name": "scan",
        "n": n,
        "lbs": lbs,
        "scan_calls": {f"{s}:{a}": c for (s, a), c in scan_calls.items()},
        "scan_cold_s": reply["import_s"] + reply["seconds"],
        "scan_warm_s": warm["seconds"],
        "scan_maxrss_mb": warm.get("maxrss_mb"),
        "discover_calls": {f"{s}:{a}": c for (s, a), c in discover_calls.items()},
        "discover_s": discover["second_s"],
        "discover_patched_s": patched["second_s"] if patched else None,
        "text": text,
    }


def _log_path(name: str) -> Any:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="certrotate-bench-")) / f"{name}.log"
