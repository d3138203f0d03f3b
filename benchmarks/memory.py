"""Peak memory of the scan at N certificates, against the 128 MB a Lambda function can be given at least.

N IAM server certificates (as scan_cost.populate: a few due, every fourth unmanaged) and L ALBs. The scan
runs in a new container process twice: untraced, for the peak resident set (VmHWM, what Lambda reports as
"Max Memory Used"), and with tracemalloc on from before the handler's import, for the peak of Python's own
allocations. Each container scans twice: the first scan of an account also reads every managed certificate
that is not due to learn its renewal time (the heavier one), the second reads tags only.

The rotate function's peak at burst size is measured by the burst (`burst --tracemalloc` for tracemalloc).
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import World, fresh_world, log, parallel, start_stack, stopwatch
from benchmarks.esm import Container
from benchmarks.scan_cost import populate
from benchmarks.throughput import scheduled_event

LIMIT_MB = 128
RENEWAL_TAG = "certrotate:renewal"  # certrotate.names.RENEWAL_TAG (the layer is not imported here)


def run(n: int = 1000, lbs: int = 100, expiring: int = 10) -> dict[str, Any]:
    stack = start_stack(with_pebble=False)
    found: dict[str, Any] = {}
    try:
        world = fresh_world(stack)
        log(f"memory: seeding {n} certificates and {lbs} ALBs")
        populate(world, n, lbs, expiring)
        for label, extra in (("untraced", {}), ("tracemalloc", {"BENCH_TRACEMALLOC": "1"})):
            # Each container starts on an account no scan has seen: the renewal times learnt go.
            _forget_renewal_times(world)
            log(f"memory: scan container ({label})")
            with (
                Container("ScanFunction", {**world.env, **extra}, _log(label)) as scanner,
                stopwatch() as took,
            ):
                first = scanner.call(scheduled_event())
                second = scanner.call(scheduled_event())
            for reply in (first, second):
                if "error" in reply:
                    raise RuntimeError(f"the scan failed: {reply['error']}")
            found[label] = {
                "first_scan_rss_mb": first["maxrss_mb"],
                "second_scan_rss_mb": second["maxrss_mb"],
                "first_scan_tracemalloc_mb": first.get("tracemalloc_peak_mb"),
                "second_scan_tracemalloc_mb": second.get("tracemalloc_peak_mb"),
                "first_scan_s": first["import_s"] + first["seconds"],
                "second_scan_s": second["seconds"],
                "seconds": took[0],
                "scanned": first["result"].get("scanned"),
            }
    finally:
        stack.stop()
    untraced, traced = found["untraced"], found["tracemalloc"]
    peak = max(untraced["first_scan_rss_mb"], untraced["second_scan_rss_mb"])
    text = "\n".join(
        [
            f"== Memory of the scan at N={n} certificates, L={lbs} ALBs (a new container, two scans)",
            f"   peak RSS (VmHWM): {untraced['first_scan_rss_mb']:.0f} MB after the first scan "
            f"({untraced['first_scan_s']:.2f} s, reads the renewal times too), "
            f"{untraced['second_scan_rss_mb']:.0f} MB after the second ({untraced['second_scan_s']:.2f} s); "
            f"{'fits' if peak <= LIMIT_MB else 'DOES NOT FIT'} in {LIMIT_MB} MB",
            f"   tracemalloc peak (Python allocations, from before the handler's import): "
            f"{traced['first_scan_tracemalloc_mb']:.1f} MB in the first scan, "
            f"{traced['second_scan_tracemalloc_mb']:.1f} MB up to the second",
        ]
    )
    print(text, flush=True)
    return {"name": "memory", "n": n, "lbs": lbs, "results": found, "peak_rss_mb": peak, "text": text}


def _log(label: str) -> Any:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="certrotate-bench-mem-")) / f"scan-{label}.log"


def _forget_renewal_times(world: World) -> None:
    iam = world.client("iam")
    names = [
        c["ServerCertificateName"]
        for page in iam.get_paginator("list_server_certificates").paginate()
        for c in page["ServerCertificateMetadataList"]
    ]
    parallel(
        lambda name: iam.untag_server_certificate(ServerCertificateName=name, TagKeys=[RENEWAL_TAG]), names
    )
