"""`python -m benchmarks [all|throughput|scan|coldstart|coldrotation|memory|burst|scanrates|directrotation|
coldfleet|drill] [options]` (`make bench` runs them all but scanrates and drill).

Each benchmark starts its own local stack (moto server with fidelity fixes, DNS from Route 53, pebble) and
prints its figures; `all` ends with a summary table. `--json PATH` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

from benchmarks import (
    burst,
    cold_fleet,
    cold_rotation,
    coldstart,
    direct_rotation,
    drill,
    memory,
    scan_cost,
    scan_rates,
    throughput,
)
from benchmarks.common import fmt_s, machine, table


def _throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = [
        throughput.run(
            args.k, args.concurrency, args.patch, with_certbot=not args.no_certbot, with_breakdown=True
        )
    ]
    for compare in args.compare_patch or []:
        results.append(
            throughput.run(
                [max(args.k)],
                args.concurrency,
                [*(args.patch or []), compare],
                with_certbot=False,
                with_breakdown=False,
            )
        )
    return results


def _scan(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [scan_cost.run(args.n, args.l, args.expiring, args.latency_ms)]


def _coldstart(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [coldstart.run(args.reps, with_memory=not args.no_memory, with_layer=not args.no_layer)]


def _cold_rotation(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [cold_rotation.run(args.rotation_reps, args.patch)]


def _direct_rotation(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [direct_rotation.run(args.count_direct, compare=not args.no_compare, modes=args.route53)]


def _cold_fleet(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [cold_fleet.run(args.count_direct, reps=args.fleet_reps, modes=args.route53)]


def _drill(args: argparse.Namespace) -> list[dict[str, Any]]:
    regions = args.regions or list(drill.DEFAULT_REGIONS)
    return [
        drill.run(
            args.n_drill,
            regions,
            with_records=not args.no_records,
            concurrency=args.drill_concurrency,
            patches=args.patch,
            insync_seconds=args.insync_seconds,
        )
    ]


def _scan_rates(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [scan_rates.run(args.n, args.l, args.expiring, args.regions)]


def _memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [memory.run(args.n, args.l, args.expiring)]


def _burst(args: argparse.Namespace) -> list[dict[str, Any]]:
    common = (args.count, args.lbs, args.concurrency, args.route53_rate)
    extra = (args.elb_rate, args.aws_rates, args.regions, args.tracemalloc)
    results = [burst.run(*common, args.patch, *extra)]
    for compare in args.burst_compare_patch or []:
        results.append(burst.run(*common, [*(args.patch or []), compare], *extra))
    return results


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def summary(results: list[dict[str, Any]]) -> str:
    rows: list[list[str]] = []
    for result in results:
        name = result["name"]
        if name == "throughput":
            patched = "patched" if result.get("patches") else ""
            for r in result["results"]:
                label = f"K={r['k']} rotations end to end" + (
                    f" ({', '.join(result['patches'])})" if patched else ""
                )
                if r["ratio"] is not None:
                    rows.append(
                        [
                            label + " vs certbot issuing",
                            f"{fmt_s(r['certrotate_total_s'])} vs {fmt_s(r['certbot_total_s'])} = "
                            f"{r['ratio']:.3f}x",
                            "<= 0.25x",
                            _verdict(r["ratio"] <= throughput.TARGET_RATIO and r["certrotate_failures"] == 0),
                        ]
                    )
                else:
                    rows.append([label, fmt_s(r["certrotate_total_s"]), "-", "-"])
            for r in result["results"][:1]:
                rows.append(["first (cold) rotation per container", fmt_s(r["cold_rotation_s"]), "-", "-"])
                rows.append(["warm rotation, median", fmt_s(r["warm_rotation_median_s"]), "-", "-"])
        elif name == "scan":
            for key, label in (("scan_steady_calls", "steady, due"), ("scan_idle_calls", "steady, none due")):
                calls = sum(result[key].values())
                limit = result["scan_bound"]["steady" if key == "scan_steady_calls" else "idle"]
                rows.append(
                    [
                        f"scan of N={result['n']} ({label}): AWS calls",
                        str(calls),
                        f"<= {limit}",
                        _verdict(calls <= limit),
                    ]
                )
            rows.append(
                [
                    f"scan of N={result['n']}: wall (local / {result['latency_ms']:.0f} ms per call)",
                    f"{fmt_s(result['scan_warm_s'])} / {fmt_s(result['scan_modelled_s'] or math.nan)}",
                    "-",
                    "-",
                ]
            )
            lookup = sum(result["discover_calls"].values())
            rows.append(
                [f"listener lookup, L={result['lbs']}: AWS calls", str(lookup), "2L + pages + 1", "-"]
            )
        elif name == "coldstart":
            for function, target in coldstart.TARGETS.items():
                shipped = result[f"{function}: shipped"]
                rows.append(
                    [
                        f"{function} handler import / floor (as shipped)",
                        f"{fmt_s(shipped['seconds'])} = {shipped['ratio']:.2f}x; with the first event "
                        f"{shipped['ratio_with_first_event']:.2f}x",
                        f"<= {target}x",
                        _verdict(shipped["ratio"] <= target),
                    ]
                )
                best = result.get(f"{function}: both") or result.get(f"{function}: inbound without pydantic")
                if best:
                    rows.append(
                        [
                            "  with the proposed inbound.py",
                            f"{fmt_s(best['seconds'])} = {best['ratio']:.2f}x; with the first event "
                            f"{best['ratio_with_first_event']:.2f}x",
                            f"<= {target}x",
                            _verdict(best["ratio"] <= target),
                        ]
                    )
            if "memory" in result:
                mem = result["memory"]
                rows.append(
                    [
                        "one rotation: peak RSS / tracemalloc peak",
                        f"{mem['peak_rss_mb']:.0f} MB / {mem['tracemalloc_peak_mb']:.0f} MB",
                        f"<= {coldstart.MEMORY_LIMIT_MB} MB",
                        _verdict(mem["peak_rss_mb"] <= coldstart.MEMORY_LIMIT_MB),
                    ]
                )
            if "layer" in result:
                rows.append(
                    [
                        "layer size without boto3 (unzipped / zipped)",
                        f"{result['layer']['total_mb']:.1f} MB / {result['layer']['zip_mb']:.1f} MB",
                        "-",
                        "-",
                    ]
                )
        elif name == "cold_rotation":
            for mode, found in result["modes"].items():
                rows.append(
                    [
                        f"one rotation, cold, vs certbot (Route 53 {mode})",
                        f"{fmt_s(found['certrotate_median_s'])} vs {fmt_s(found['certbot_median_s'])} = "
                        f"{found['ratio']:.3f}x",
                        f"<= {cold_rotation.TARGET_RATIO}x",
                        _verdict(found["ratio"] <= cold_rotation.TARGET_RATIO),
                    ]
                )
        elif name in ("direct_rotation", "cold_fleet"):
            target = direct_rotation.TARGET_RATIO if name == "direct_rotation" else cold_fleet.TARGET_RATIO
            for mode, found in result["modes"].items():
                if name == "direct_rotation":
                    labelled = [(f"{result['count']} cold direct rotations vs certbot", found["ratio"])]
                else:
                    labelled = [
                        (f"scan, queue, cold rotations ({result['concurrency']}), {r['variant']}", r["ratio"])
                        for r in found
                    ]
                for label, ratio in labelled:
                    rows.append(
                        [
                            f"{label} (Route 53 {mode})",
                            f"{ratio:.3f}x",
                            f"<= {target}x",
                            _verdict(ratio <= target),
                        ]
                    )
        elif name == "drill":
            rows.append(
                [
                    f"drill, N = {result['count']}: time / Route 53 challenge-change floor",
                    f"{fmt_s(result['drill_s'])} / {fmt_s(result['floors']['route53_changes'])} = "
                    f"{result['ratio_route53_changes']:.2f}x",
                    "<= 1.2x",
                    _verdict(
                        result["ratio_route53_changes"] <= 1.2 and result["repointed"] == result["count"]
                    ),
                ]
            )
        elif name == "memory":
            rows.append(
                [
                    f"scan of N={result['n']}: peak RSS",
                    f"{result['peak_rss_mb']:.0f} MB",
                    f"<= {memory.LIMIT_MB} MB",
                    _verdict(result["peak_rss_mb"] <= memory.LIMIT_MB),
                ]
            )
        elif name == "burst":
            patched = f" ({', '.join(result['patches'])})" if result.get("patches") else ""
            rows.append(
                [
                    f"{result['count']} due at once{patched}: total, failures",
                    f"{fmt_s(result['total_s'])}, {result['failures']} failed, {result['dead_letters']} dead",
                    "0 failures",
                    _verdict(result["failures"] == 0 and result["rotated"] == result["count"]),
                ]
            )
            if result.get("aws_rates") and result.get("route53_floor_s"):
                bound = 2 * result["count"] + 10 * result["rotated"]
                over = result["total_s"] / result["route53_floor_s"]
                rows.append(
                    [
                        "  total / Route 53 floor; ELB Describe* calls",
                        f"{over:.2f}x; {result['elb_describe_calls']}",
                        f"<= 1.5x; <= {bound} (2L + 10K)",
                        _verdict(over <= 1.5 and result["elb_describe_calls"] <= bound),
                    ]
                )
            rows.append(
                [
                    "  Route 53 max requests/s asked (let through)",
                    f"{result['route53_max_per_s_asked']} ({result['route53_max_per_s_allowed']}), "
                    f"{result['route53_throttled']} throttled",
                    "5/s",
                    "-",
                ]
            )
    return table(rows, ["figure", "measured", "target", "verdict"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "benchmark",
        nargs="?",
        default="all",
        choices=[
            "all",
            "throughput",
            "scan",
            "coldstart",
            "coldrotation",
            "memory",
            "burst",
            "scanrates",
            "directrotation",
            "coldfleet",
            "drill",
        ],
    )
    parser.add_argument("--k", type=int, nargs="+", default=[5, 20], help="throughput: certificates per run")
    parser.add_argument("--concurrency", type=int, default=2, help="rotate containers (MaximumConcurrency)")
    parser.add_argument(
        "--patch", action="append", help="apply a candidate optimisation (benchmarks/patches.py)"
    )
    parser.add_argument(
        "--compare-patch",
        action="append",
        help="throughput: also run the largest K with this patch (certrotate only); `all` compares "
        "insync_first_delay=0.1",
    )
    parser.add_argument("--no-certbot", action="store_true", help="throughput: skip the peer")
    parser.add_argument("--n", type=int, default=1000, help="scan, memory: IAM server certificates")
    parser.add_argument("--l", type=int, default=100, help="scan, memory: ALBs (one HTTPS listener each)")
    parser.add_argument("--expiring", type=int, default=10, help="scan: how many of them are due")
    parser.add_argument(
        "--latency-ms", type=float, default=30.0, help="scan: modelled AWS round trip (0: off)"
    )
    parser.add_argument("--reps", type=int, default=7, help="coldstart: fresh interpreters per figure")
    parser.add_argument(
        "--rotation-reps", type=int, default=3, help="coldrotation: cold rotations per Route 53 behaviour"
    )
    parser.add_argument("--no-memory", action="store_true", help="coldstart: skip the memory probe")
    parser.add_argument(
        "--no-layer", action="store_true", help="coldstart: skip the layer size (pip install)"
    )
    parser.add_argument("--count", type=int, default=100, help="burst: certificates due at once")
    parser.add_argument("--lbs", type=int, default=None, help="burst: ALBs (default: one per certificate)")
    parser.add_argument("--route53-rate", type=float, default=5.0, help="burst: Route 53 requests/s (0: off)")
    parser.add_argument(
        "--aws-rates",
        action="store_true",
        help="burst: the devstack's token buckets at AWS's documented rates (devstack.ratelimits) instead",
    )
    parser.add_argument(
        "--regions",
        nargs="+",
        default=None,
        help="burst: spread the ALBs over these regions in turn (e.g. us-east-1 us-west-2 eu-west-1)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="burst: the containers trace Python allocations and report the peak (slower: times not "
        "comparable)",
    )
    parser.add_argument(
        "--elb-rate",
        type=float,
        default=0.0,
        help="burst: also throttle ELB Describe* calls (AWS documents 10/s refill, 40 tokens: --elb-rate 10)",
    )
    parser.add_argument(
        "--burst-compare-patch",
        action="append",
        help="burst: run again with this patch; `all` compares discover_ttl=60",
    )
    parser.add_argument(
        "--count-direct",
        type=int,
        default=5,
        help="directrotation, coldfleet: certificates (cold direct rotations; due ones the scan sends)",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="directrotation: skip the searching rotations (index_records=off) run in the same alternation",
    )
    parser.add_argument("--fleet-reps", type=int, default=1, help="coldfleet: runs per Route 53 behaviour")
    parser.add_argument(
        "--route53",
        nargs="+",
        choices=list(cold_rotation.MODES),
        default=None,
        help="directrotation, coldfleet: the Route 53 behaviours (default: both)",
    )
    parser.add_argument(
        "--n-drill", type=int, default=100, help="drill: managed certificates (make bench-drill: 1000)"
    )
    parser.add_argument(
        "--no-records",
        action="store_true",
        help="drill: the scan index keeps no search (the re-check searches every region once)",
    )
    parser.add_argument(
        "--drill-concurrency",
        type=int,
        default=None,
        help="drill: rotate containers (default: the template's RotationMaximumConcurrency)",
    )
    parser.add_argument(
        "--insync-seconds",
        type=float,
        default=0.0,
        help="drill: Route 53 changes stay PENDING this long (a model of propagation; 0: one poll)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    info = machine()
    print(
        f"certrotate benchmarks: {info['cpus']} CPUs, Python {info['python']}, {info['platform']}, "
        f"{info['date']}; code {info['code']}; load average {_load()} (other work on the machine skews the "
        "timings)",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    if args.benchmark == "all" and args.compare_patch is None:
        args.compare_patch = ["insync_first_delay=0.1"]
    if args.benchmark == "all" and args.burst_compare_patch is None:
        args.burst_compare_patch = ["discover_ttl=60"]
    runners = {
        "throughput": _throughput,
        "scan": _scan,
        "coldstart": _coldstart,
        "coldrotation": _cold_rotation,
        "memory": _memory,
        "burst": _burst,
        "scanrates": _scan_rates,
        "directrotation": _direct_rotation,
        "coldfleet": _cold_fleet,
        "drill": _drill,
    }
    for name, runner in runners.items():
        # scanrates (several minutes of throttled IAM calls) and drill run only when named.
        if args.benchmark == name or (args.benchmark == "all" and name not in ("scanrates", "drill")):
            print(flush=True)
            results.extend(runner(args))
    elapsed = time.perf_counter() - started
    if args.benchmark == "all":
        print(f"\n== Summary ({fmt_s(elapsed)} in all; load average now {_load()})")
        print(summary(results), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"machine": info, "elapsed_s": elapsed, "results": results}, handle, indent=2, default=str
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
