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


SEARCH_SERVICES = ("elbv2", "elb", "ec2", "cloudfront")  # the scan's endpoint search, counted apart


def expected_scan_calls(
    n: int, expiring: int, *, steady: bool = False, regions: int = 0
) -> dict[tuple[str, str], int]:
    """The scan's own calls (its endpoint search apart) when nothing is pending retirement: the listing pages,
    the quota, the scan index (one read; one write when anything in it changed), the queue batches, and the
    tags read: every certificate's on the first scan (no index yet), then the due ones' only. The first scan
    also reads each managed certificate not yet due once, ever, to learn its renewal time (kept in a tag)."""
    managed = sum(1 for i in range(n) if i < expiring or i % 4 != 3)
    calls = {
        ("iam", "ListServerCertificates"): max(1, math.ceil(n / IAM_PAGE)),
        ("iam", "GetAccountSummary"): 1,
        ("dynamodb", "GetItem"): 1,
        ("iam", "ListServerCertificateTags"): expiring if steady else n,
        ("acm", "ListCertificates"): regions,  # the ACM step: one page per region looked at
    }
    if not steady:
        calls[("iam", "GetServerCertificate")] = managed - expiring
        calls[("iam", "TagServerCertificate")] = managed - expiring
    if expiring or not steady:
        calls[("dynamodb", "PutItem")] = 1  # steady: when the due ones' tags were read
    if expiring:
        calls[("sqs", "SendMessageBatch")] = math.ceil(expiring / SQS_BATCH)
    return {k: v for k, v in calls.items() if v}


def split_search(calls: dict[tuple[str, str], int]) -> tuple[dict[tuple[str, str], int], int]:
    """The scan's own calls, and how many its endpoint search made (only when it sends rotations)."""
    own = {k: v for k, v in calls.items() if k[0] not in SEARCH_SERVICES}
    return own, sum(v for k, v in calls.items() if k[0] in SEARCH_SERVICES)


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
    aws_rates: bool = True,
) -> dict[str, Any]:
    """Counts and times on the local stack; then the same with `latency_ms` added to every AWS call (a model
    of real API round trips), without and with the candidate optimisations. With `aws_rates`, the devstack's
    token buckets at AWS's rates (devstack.ratelimits; IAM 20 + 10/s as assumed there) from the first scan on.

    Scans: the first (no scan index yet), a steady one with the `expiring` certificates due, and (in a fresh
    container whose RENEW_BEFORE_DAYS=1 makes none due) a steady one with nothing due. Each container is a
    fresh process: its VmHWM after the first scan is that scan's peak memory."""
    # The scan_tags=relevant proposal is in the layer now (the scan index): nothing left to patch by default.
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
        if aws_rates:
            stack.limits.enable_aws_rates()
        regions = len(world.client("ec2").describe_regions(AllRegions=False)["Regions"])
        log("scan cost: scans and listener lookups on the local stack")
        with Container("ScanFunction", world.env, _log_path("scan-cost")) as scanner:
            before = calls.snapshot()
            cold = scanner.call(scheduled_event())
            scan_calls = _diff(calls.snapshot(), before)
            if "error" in cold:
                raise RuntimeError(f"the scan failed: {cold['error']}")
            before = calls.snapshot()
            warm = scanner.call(scheduled_event())
            steady_calls = _diff(calls.snapshot(), before)
            modelled: dict[str, Any] = {}
            if latency:
                log(f"scan cost: scan with {latency_ms:.0f} ms per AWS call")
                with aws_latency(stack, latency):
                    modelled = scanner.call(scheduled_event())
        log("scan cost: steady scans with nothing due (a fresh container, RENEW_BEFORE_DAYS=1)")
        with Container(
            "ScanFunction", {**world.env, "RENEW_BEFORE_DAYS": "1"}, _log_path("scan-cost-quiet")
        ) as quiet:
            learning = quiet.call(scheduled_event())  # the due ones' renewal times are learnt, once
            before = calls.snapshot()
            idle = quiet.call(scheduled_event())
            idle_calls = _diff(calls.snapshot(), before)
            if "error" in learning or "error" in idle:
                raise RuntimeError(f"the scan failed: {learning.get('error') or idle.get('error')}")
        throttled = stack.limits.throttled() if aws_rates else {}
        log(f"scan cost: first {scan_calls}; steady {steady_calls}; nothing due {idle_calls}")
        log(f"scan cost: throttled {throttled}")
        log(
            "scan cost: seconds first/steady/idle "
            f"{cold['import_s'] + cold['seconds']:.2f}/{warm['seconds']:.2f}/{idle['seconds']:.2f}; VmHWM MB "
            f"{cold.get('maxrss_mb')}/{warm.get('maxrss_mb')}/{idle.get('maxrss_mb')}"
        )
        stack.limits.disable()
        before = calls.snapshot()
        discover = run_probe("discover", env=env)
        discover_calls = {  # it looks up twice; DescribeRegions is cached by the container: once
            k: v // 2 for k, v in _diff(calls.snapshot(), before).items() if k != ("ec2", "DescribeRegions")
        }
        discover_patched = None
        if discover_patches:
            try:
                discover_patched = run_probe(
                    "discover", env={**env, "BENCH_PATCHES": ",".join(discover_patches)}
                )
            except RuntimeError as error:  # a proposal written against older code: reported, not fatal
                log(f"scan cost: the patched lookup failed: {str(error)[-300:]}")
                discover_patches = []
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
    expected_scan = expected_scan_calls(n, expiring, regions=regions)
    expected_steady = expected_scan_calls(n, expiring, steady=True, regions=regions)
    expected_idle = expected_scan_calls(n, 0, steady=True, regions=regions)
    expected_discover = expected_discover_calls(lbs, regions=regions)
    first_own, first_search = split_search(scan_calls)
    steady_own, steady_search = split_search(steady_calls)
    idle_own, idle_search = split_search(idle_calls)
    bound = math.ceil(n / IAM_PAGE) + 5
    lines = [
        f"== Scan cost: N={n} IAM certificates ({result['managed']} managed, {len(result['expiring'])} due), "
        f"L={lbs} ALBs with one HTTPS listener each (seeded in {fmt_s(seeding[0])})"
        + ("; AWS rates on (devstack.ratelimits)" if aws_rates else "")
    ]
    lines.append(f"   first scan (no scan index yet); its endpoint search: {first_search} calls")
    lines.append(_calls_table(first_own, expected_scan))
    lines.append(
        f"   steady scan, {expiring} due; bound ceil(N/100) + due + 5 = {bound + expiring}; "
        f"its endpoint search: {steady_search} calls"
    )
    lines.append(_calls_table(steady_own, expected_steady))
    lines.append(f"   steady scan, nothing due; bound {bound}; endpoint search: {idle_search} calls")
    lines.append(_calls_table(idle_own, expected_idle))
    lines.append(
        f"   scan wall time on the local stack: first {fmt_s(cold['import_s'] + cold['seconds'])} "
        f"(import {fmt_s(cold['import_s'])}), steady {fmt_s(warm['seconds'])}, nothing due "
        f"{fmt_s(idle['seconds'])}; peak memory (VmHWM of a fresh process) after the first scan "
        f"{cold.get('maxrss_mb', 0):.0f} MB, after both {warm.get('maxrss_mb', 0):.0f} MB, nothing-due "
        f"container {idle.get('maxrss_mb', 0):.0f} MB (Lambda: 128 MB); scanned {result['scanned']}, "
        f"enqueued {len(result['enqueued'])}"
    )
    if throttled:
        lines.append(
            "   throttled by the token buckets (retried): "
            + ", ".join(f"{s}:{a} {c}" for (s, a), c in sorted(throttled.items()))
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
        f"{k}: {v} != {expected.get(k)}"
        for observed, expected in (
            (first_own, expected_scan),
            (steady_own, expected_steady),
            (idle_own, expected_idle),
        )
        for k in set(observed) | set(expected)
        for v in [observed.get(k, 0)]
        if expected.get(k, 0) != v
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
        "scan_calls": {f"{s}:{a}": c for (s, a), c in first_own.items()},
        "scan_steady_calls": {f"{s}:{a}": c for (s, a), c in steady_own.items()},
        "scan_idle_calls": {f"{s}:{a}": c for (s, a), c in idle_own.items()},
        "scan_search_calls": {"first": first_search, "steady": steady_search, "idle": idle_search},
        "scan_bound": {"steady": bound + expiring, "idle": bound},
        "scan_first_maxrss_mb": cold.get("maxrss_mb"),
        "scan_idle_s": idle["seconds"],
        "throttled": {f"{s}:{a}": c for (s, a), c in throttled.items()},
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
