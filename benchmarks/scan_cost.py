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
    aws_latency,
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
ELB_PAGE = 50  # moto's DescribeLoadBalancers page (AWS's default page holds up to 400)
SQS_BATCH = 10


def populate(world: World, n: int, lbs: int, expiring: int) -> None:
    """N certificates: `expiring` managed ones 5 days from expiry, the rest 40-400 days out, every fourth
    unmanaged; the first L are each the default certificate of an ALB's HTTPS listener."""

    def one(i: int) -> dict[str, Any]:
        days = 5 if i < expiring else 40 + (i * 37) % 360
        managed = i < expiring or i % 4 != 3
        return seed(world, f"scale-{i:05d}", [f"s{i}.example.com"], days, managed=managed, key="ec256")

    metas = parallel(one, list(range(n)))
    create_albs(world, [m["Arn"] for m in metas[:lbs]], prefix="scale")


def expected_scan_calls(n: int, expiring: int, lbs: int = 0, regions: int = 0) -> dict[tuple[str, str], int]:
    """What the first scan costs when nothing is pending retirement: the listing pages, one tag listing per
    certificate (IAM lists no tags with the certificates), the quota, and the queue batches; plus, once per
    managed certificate not yet due, reading it to learn its renewal time and keeping that in a tag; plus
    (with `regions`) its one search of every enabled region and CloudFront for the endpoint index."""
    managed = sum(1 for i in range(n) if i < expiring or i % 4 != 3)
    search: dict[tuple[str, str], int] = {}
    if regions:
        search = {
            ("ec2", "DescribeRegions"): 1,
            ("cloudfront", "ListDistributions"): 1,
            **expected_discover_calls(lbs, regions=regions),
        }
    calls = {
        **search,
        ("iam", "ListServerCertificates"): max(1, math.ceil(n / IAM_PAGE)),
        ("iam", "ListServerCertificateTags"): n,
        ("iam", "GetAccountSummary"): 1,
        ("iam", "GetServerCertificate"): managed - expiring,
        ("iam", "TagServerCertificate"): managed - expiring,
    }
    if expiring:
        calls[("sqs", "SendMessageBatch")] = math.ceil(expiring / SQS_BATCH)
    return calls


def expected_discover_calls(lbs: int, classic: int = 0, regions: int = 1) -> dict[tuple[str, str], int]:
    """A search of every region over L ALBs with one HTTPS listener each (and `classic` CLBs), all in one of
    the `regions` enabled regions; each other region costs one empty page of each API. Its DescribeRegions
    is cached by the container (not counted here)."""
    return {
        ("elbv2", "DescribeLoadBalancers"): max(1, math.ceil(lbs / ELB_PAGE)) + regions - 1,
        ("elbv2", "DescribeListeners"): lbs,
        ("elbv2", "DescribeListenerCertificates"): lbs,
        ("elb", "DescribeLoadBalancers"): max(1, math.ceil(classic / ELB_PAGE)) + regions - 1,
    }


def _diff(
    after: dict[tuple[str, str], int], before: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _calls_table(observed: dict[tuple[str, str], int], expected: dict[tuple[str, str], int] | None) -> str:
    keys = sorted(set(observed) | set(expected or {}))
    rows = [
        [f"{s}:{a}", str(observed.get((s, a), 0)), str((expected or {}).get((s, a), "-"))] for s, a in keys
    ]
    rows.append(
        ["total", str(sum(observed.values())), str(sum((expected or {}).values()) if expected else "-")]
    )
    return table(rows, ["call", "count", "expected"])


def run(
    n: int = 1000,
    lbs: int = 100,
    expiring: int = 10,
    latency_ms: float = 30.0,
    scan_patches: list[str] | None = None,
    discover_patches: list[str] | None = None,
) -> dict[str, Any]:
    """Counts and times on the local stack; then the same with `latency_ms` added to every AWS call (a model
    of real API round trips), without and with the candidate optimisations."""
    # scan_tags=relevant copies a ScanService.scan older than issue 13's (no `held`, the old tag reading):
    # no longer run by default; the layer's own tag reading is what issue 13 changes.
    scan_patches = [] if scan_patches is None else scan_patches
    discover_patches = ["parallel_discovery=8"] if discover_patches is None else discover_patches
    latency = latency_ms / 1000
    stack = start_stack(with_pebble=False)
    calls = stack.calls
    try:
        world = fresh_world(stack)
        log(f"scan cost: seeding {n} certificates and {lbs} ALBs")
        with stopwatch() as seeding:
            populate(world, n, lbs, expiring)
        env = {**world.env, "BENCH_LAYER": str(LAYER)}
        regions = len(world.client("ec2").describe_regions(AllRegions=False)["Regions"])
        log("scan cost: scans and listener lookups on the local stack")
        with Container("ScanFunction", world.env, _log_path("scan-cost")) as scanner:
            before = calls.snapshot()
            cold = scanner.call(scheduled_event())
            scan_calls = _diff(calls.snapshot(), before)
            if "error" in cold:
                raise RuntimeError(f"the scan failed: {cold['error']}")
            warm = scanner.call(scheduled_event())
            modelled: dict[str, Any] = {}
            if latency:
                log(f"scan cost: scan with {latency_ms:.0f} ms per AWS call")
                with aws_latency(stack, latency):
                    modelled = scanner.call(scheduled_event())
        before = calls.snapshot()
        discover = run_probe("discover", env=env)
        discover_calls = {  # it looks up twice; DescribeRegions is cached by the container: once
            k: v // 2 for k, v in _diff(calls.snapshot(), before).items() if k != ("ec2", "DescribeRegions")
        }
        discover_patched = (
            run_probe("discover", env={**env, "BENCH_PATCHES": ",".join(discover_patches)})
            if discover_patches
            else None
        )
        patched_scan: dict[str, Any] = {}
        patched_calls: dict[tuple[str, str], int] = {}
        if scan_patches:
            log(f"scan cost: patched scan ({', '.join(scan_patches)})")
            with Container(
                "ScanFunction", world.env, _log_path("scan-cost-patched"), scan_patches
            ) as scanner:
                scanner.call(scheduled_event())
                before = calls.snapshot()
                patched_scan = scanner.call(scheduled_event())
                patched_calls = _diff(calls.snapshot(), before)
                if latency:
                    with aws_latency(stack, latency):
                        patched_scan["modelled"] = scanner.call(scheduled_event())
        modelled_discover: dict[str, Any] = {}
        if latency:
            log(f"scan cost: listener lookups with {latency_ms:.0f} ms per AWS call")
            with aws_latency(stack, latency):
                modelled_discover["plain"] = run_probe("discover", env=env)
                if discover_patches:
                    modelled_discover["patched"] = run_probe(
                        "discover", env={**env, "BENCH_PATCHES": ",".join(discover_patches)}
                    )
    finally:
        stack.stop()

    result = cold["result"]
    expected_scan = expected_scan_calls(n, expiring, lbs, regions)
    expected_discover = expected_discover_calls(lbs, regions=regions)
    lines = [
        f"== Scan cost: N={n} IAM certificates ({result['managed']} managed, {len(result['expiring'])} due), "
        f"L={lbs} ALBs with one HTTPS listener each (seeded in {fmt_s(seeding[0])})"
    ]
    lines.append("   one scan:")
    lines.append(_calls_table(scan_calls, expected_scan))
    lines.append(
        f"   scan wall time on the local stack: cold {fmt_s(cold['import_s'] + cold['seconds'])} "
        f"(import {fmt_s(cold['import_s'])}), warm {fmt_s(warm['seconds'])}; "
        f"peak RSS {warm.get('maxrss_mb', 0):.0f} MB; scanned {result['scanned']}, "
        f"enqueued {len(result['enqueued'])}"
    )
    if modelled:
        lines.append(f"   with {latency_ms:.0f} ms per AWS call: {fmt_s(modelled['seconds'])}")
    if patched_scan:
        same = (
            patched_scan["result"]["expiring"] == result["expiring"]
            and patched_scan["result"]["enqueued"] == result["enqueued"]
            and patched_scan["result"]["pending_retirement"] == result["pending_retirement"]
        )
        lines.append(
            f"   patched ({', '.join(scan_patches)}): {sum(patched_calls.values())} calls "
            f"({patched_calls.get(('iam', 'ListServerCertificateTags'), 0)} tag listings), "
            f"warm {fmt_s(patched_scan['seconds'])}"
            + (
                f", {fmt_s(patched_scan['modelled']['seconds'])} with {latency_ms:.0f} ms per call"
                if latency
                else ""
            )
            + ("; same expiring/enqueued/pending as unpatched" if same else "; RESULTS DIFFER from unpatched")
        )
    lines.append("   one rotation's listener lookup (Endpoints.discover):")
    lines.append(_calls_table(discover_calls, expected_discover))
    lines.append(
        f"   lookup wall time on the local stack: {fmt_s(discover['second_s'])} "
        f"({fmt_s(discover['first_s'])} with client creation), {discover['endpoints']} secure listeners"
        + (
            f"; patched ({', '.join(discover_patches)}): {fmt_s(discover_patched['second_s'])}"
            if discover_patched
            else ""
        )
    )
    if modelled_discover:
        plain = modelled_discover["plain"]["second_s"]
        text = f"   with {latency_ms:.0f} ms per AWS call: {fmt_s(plain)}"
        if "patched" in modelled_discover:
            fast = modelled_discover["patched"]["second_s"]
            text += f"; patched: {fmt_s(fast)} ({plain / fast:.1f}x faster, same calls)"
        lines.append(text)
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
        "latency_ms": latency_ms,
        "scan_calls": {f"{s}:{a}": c for (s, a), c in scan_calls.items()},
        "scan_cold_s": cold["import_s"] + cold["seconds"],
        "scan_warm_s": warm["seconds"],
        "scan_modelled_s": modelled.get("seconds"),
        "scan_maxrss_mb": warm.get("maxrss_mb"),
        "scan_patched_calls": sum(patched_calls.values()) if patched_calls else None,
        "scan_patched_s": patched_scan.get("seconds"),
        "scan_patched_modelled_s": (patched_scan.get("modelled") or {}).get("seconds"),
        "discover_calls": {f"{s}:{a}": c for (s, a), c in discover_calls.items()},
        "discover_s": discover["second_s"],
        "discover_patched_s": discover_patched["second_s"] if discover_patched else None,
        "discover_modelled_s": (modelled_discover.get("plain") or {}).get("second_s"),
        "discover_patched_modelled_s": (modelled_discover.get("patched") or {}).get("second_s"),
        "text": text,
    }


def _log_path(name: str) -> Any:
    """Where a scan container's output goes (the functions' logs: 1000 metric lines per scan)."""
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"certrotate-bench-{name}.log"
