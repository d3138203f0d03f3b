"""The scan at N certificates under AWS's rate limits (the devstack's token buckets, devstack.ratelimits).

N IAM server certificates (as scan_cost.populate: a few due, every fourth unmanaged) and L ALBs spread over
`regions`. One new scan container scans twice: the first scan of an account also reads every managed
certificate that is not due and tags it with its renewal time; the second reads tags only. Reported per
scan: wall time (against ScanFunction's timeout in template.yaml), AWS calls by action, the calls answered
`Throttling`, and the issue-13 target for the scan's calls: ceil(N/100) + due + 5.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.common import create_albs, fmt_s, fresh_world, log, parallel, seed, start_stack, table
from benchmarks.esm import Container
from benchmarks.scan_cost import _diff, _log_path
from benchmarks.throughput import scheduled_event

SCAN_TIMEOUT_S = 300  # template.yaml ScanFunction Timeout


def run(
    n: int = 1000, lbs: int = 100, expiring: int = 10, regions: list[str] | None = None
) -> dict[str, Any]:
    regions = regions or []
    stack = start_stack(with_pebble=False)
    scans: list[dict[str, Any]] = []
    try:
        world = fresh_world(stack)
        log(f"scan at AWS's rates: seeding {n} certificates and {lbs} ALBs")

        def one(i: int) -> dict[str, Any]:
            days = 5 if i < expiring else 40 + (i * 37) % 360
            managed = i < expiring or i % 4 != 3
            return seed(world, f"rated-{i:05d}", [f"r{i}.example.com"], days, managed=managed, key="ec256")

        metas = parallel(one, list(range(n)))
        create_albs(world, [m["Arn"] for m in metas[:lbs]], prefix="rated", regions=regions)
        stack.limits.enable_aws_rates()
        with Container("ScanFunction", world.env, _log_path("scan-rates")) as scanner:
            for label in ("first scan (learns the renewal times)", "second scan"):
                log(f"scan at AWS's rates: {label}")
                before = stack.calls.snapshot()
                throttled_before = stack.limits.throttled()
                reply = scanner.call(scheduled_event())
                if "error" in reply:
                    raise RuntimeError(f"the scan failed: {reply['error']}")
                throttled = _diff(stack.limits.throttled(), throttled_before)
                scans.append(
                    {
                        "label": label,
                        "seconds": reply.get("import_s", 0.0) + reply["seconds"],
                        "calls": _diff(stack.calls.snapshot(), before),
                        "throttled": throttled,
                        "enqueued": len(reply["result"]["enqueued"]),
                        "maxrss_mb": reply.get("maxrss_mb"),
                    }
                )
        stack.limits.disable()
    finally:
        stack.stop()
    target = math.ceil(n / 100) + expiring + 5
    lines = [
        "== The scan at AWS's rates (devstack.ratelimits: IAM 20 + 10/s assumed, ELB Describe* 40 + 10/s "
        f"per region): N={n}, {expiring} due, L={lbs} ALBs in {', '.join(regions) or stack.region}"
    ]
    rows = []
    for found in scans:
        calls = found["calls"]
        iam = {a: v for (s, a), v in calls.items() if s == "iam"}
        rows.append(
            [
                found["label"],
                fmt_s(found["seconds"]),
                str(sum(calls.values())),
                ", ".join(f"{a} {v}" for a, v in sorted(iam.items())),
                str(sum(found["throttled"].values())),
                str(found["enqueued"]),
            ]
        )
    lines.append(
        table(rows, ["", "wall (cold import incl.)", "AWS calls", "of which IAM", "Throttling", "enqueued"])
    )
    lines.append(
        f"   issue 13's target for a scan: ceil(N/100) + due + 5 = {target} AWS calls (plus the search of "
        f"every region for the endpoint index); ScanFunction's timeout {SCAN_TIMEOUT_S} s"
    )
    text = "\n".join(lines)
    print(text, flush=True)
    return {
        "name": "scan_rates",
        "n": n,
        "lbs": lbs,
        "regions": regions,
        "target_calls": target,
        "scans": [
            {
                **{k: v for k, v in s.items() if k not in ("calls", "throttled")},
                "calls": {f"{a}:{b}": c for (a, b), c in s["calls"].items()},
                "throttled": {f"{a}:{b}": c for (a, b), c in s["throttled"].items()},
            }
            for s in scans
        ],
        "text": text,
    }
