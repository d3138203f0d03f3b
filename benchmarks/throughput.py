"""Throughput against the peer: K certificates rotated end to end by certrotate (the scan enqueues, the
rotate function drains the queue with the queue's MaximumConcurrency of 2 containers; each rotation
issues, validates, uploads and repoints an ALB listener) vs certbot merely issuing K certificates, one
process per certificate, on the same pebble and moto server in the same run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from benchmarks import peer
from benchmarks.common import (
    ROOT,
    World,
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
    table,
)
from benchmarks.esm import Container, EventSourceMapping

TARGET_RATIO = 0.25
DAYS_LEFT = 10  # within RENEW_BEFORE_DAYS (30): due


@dataclass
class CertrotateRun:
    k: int
    total: float
    scan: float
    drain: float
    rotated: int
    failures: int
    dead_letters: int
    cold: list[dict[str, float]] = field(default_factory=list)  # per container: import_s, seconds
    warm: list[float] = field(default_factory=list)
    log_dir: str = ""


@dataclass
class ThroughputResult:
    k: int
    certrotate: CertrotateRun
    certbot: list[peer.CertbotRun]

    @property
    def certbot_total(self) -> float:
        return sum(r.wall for r in self.certbot)

    @property
    def ratio(self) -> float:
        return self.certrotate.total / self.certbot_total if self.certbot_total else float("nan")


def scheduled_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "scheduled.json").read_text())
    return event


def setup_certificates(world: World, k: int, prefix: str) -> list[dict[str, Any]]:
    """K managed certificates due for rotation, each served by its own ALB's HTTPS listener."""
    metas = parallel(
        lambda i: seed(world, f"{prefix}-{i}", [f"{prefix}-{i}.example.com"], DAYS_LEFT), list(range(k))
    )
    listeners = create_albs(world, [m["Arn"] for m in metas], prefix=prefix)
    return [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=True)]


def served_by_new(world: World, certificates: list[dict[str, Any]]) -> int:
    """How many listeners now serve a certificate other than the one seeded (each asked in its region)."""
    count = 0
    for cert in certificates:
        region = cert["listener"].listener_arn.split(":")[3]
        listed = world.client("elbv2", region).describe_listener_certificates(
            ListenerArn=cert["listener"].listener_arn
        )["Certificates"]
        default = next((c["CertificateArn"] for c in listed if c.get("IsDefault")), None)
        if default and default != cert["meta"]["Arn"]:
            count += 1
    return count


def rotate_k(
    world: World, k: int, concurrency: int = 2, patches: list[str] | None = None, prefix: str | None = None
) -> CertrotateRun:
    """Seeds K due certificates behind K ALBs, then times: scheduled scan -> queue drained."""
    prefix = prefix or f"cr{k}"
    certificates = setup_certificates(world, k, prefix)
    with EventSourceMapping(world, concurrency=concurrency, patches=patches) as esm:
        log_dir = esm.containers[0].log_path.parent
        with Container("ScanFunction", world.env, log_dir / "scan.log") as scanner, stopwatch() as total:
            with stopwatch() as scan_time:
                reply = scanner.call(scheduled_event())
            if "error" in reply:
                raise RuntimeError(f"the scan failed: {reply['error']} (see {log_dir})")
            enqueued = reply["result"]["enqueued"]
            if len(enqueued) != k:
                raise RuntimeError(f"the scan enqueued {len(enqueued)} of {k} certificates")
            drain = esm.drain()
    cold = [{"import_s": i.import_s, "seconds": i.seconds} for i in drain.cold]
    return CertrotateRun(
        k=k,
        total=total[0],
        scan=scan_time[0],
        drain=drain.wall,
        rotated=served_by_new(world, certificates),
        failures=len(drain.failures),
        dead_letters=drain.dead_letters,
        cold=cold,
        warm=[i.seconds for i in drain.warm if not i.failed],
        log_dir=str(log_dir),
    )


def certbot_k(stack: Any, k: int, prefix: str | None = None) -> list[peer.CertbotRun]:
    prefix = prefix or f"cb{k}"
    certbot = peer.Certbot(stack)
    runs = []
    for i in range(k):
        run = certbot.issue(f"{prefix}-{i}.example.com")
        if not run.ok:
            raise RuntimeError(
                f"certbot failed for {run.name} (rc {run.rc}; its files are in {certbot.dir}):\n{run.output}"
            )
        runs.append(run)
    certbot.cleanup()
    return runs


def breakdown(stack: Any, patches: list[str] | None = None) -> dict[str, float]:
    """Where a warm rotation's time goes: one container, the third rotation profiled (cProfile)."""
    world = fresh_world(stack)
    setup_certificates(world, 3, "prof")
    with EventSourceMapping(world, concurrency=1, patches=patches, profile_invocation=2) as esm:
        with Container(
            "ScanFunction", world.env, esm.containers[0].log_path.with_name("scan.log")
        ) as scanner:
            scanner.call(scheduled_event())
        drain = esm.drain()
    profiled = [i for i in drain.invocations if "breakdown" in i.reply]
    return dict(profiled[0].reply["breakdown"]) if profiled else {}


def run(
    ks: list[int] | None = None,
    concurrency: int = 2,
    patches: list[str] | None = None,
    with_certbot: bool = True,
    with_breakdown: bool = True,
) -> dict[str, Any]:
    ks = ks or [5, 20]
    if with_certbot:
        peer.ensure_venv()
    stack = start_stack()
    results: list[ThroughputResult] = []
    profile: dict[str, float] = {}
    try:
        for k in ks:
            log(f"throughput K={k}: certrotate (scan + {concurrency} rotate containers)")
            mine = rotate_k(fresh_world(stack), k, concurrency, patches)
            theirs: list[peer.CertbotRun] = []
            if with_certbot:
                log(f"throughput K={k}: certbot, {k} sequential runs")
                theirs = certbot_k(stack, k)
            results.append(ThroughputResult(k, mine, theirs))
        if with_breakdown:
            log("throughput: profiling one warm rotation")
            profile = breakdown(stack, patches)
    finally:
        stack.stop()
    report = render(results, profile, concurrency, patches)
    print(report["text"], flush=True)
    return report


def render(
    results: list[ThroughputResult], profile: dict[str, float], concurrency: int, patches: list[str] | None
) -> dict[str, Any]:
    lines = [f"== Throughput: certrotate (scan + queue, {concurrency} containers) vs certbot (sequential)"]
    if patches:
        lines.append(f"   patched: {', '.join(patches)}")
    rows = []
    summary: list[dict[str, Any]] = []
    for r in results:
        mine = r.certrotate
        cold = max((c["import_s"] + c["seconds"] for c in mine.cold), default=float("nan"))
        cold_import = max((c["import_s"] for c in mine.cold), default=float("nan"))
        ratio = r.ratio
        verdict = "" if not r.certbot else ("meets <= 0.25x" if ratio <= TARGET_RATIO else "MISSES 0.25x")
        rows.append(
            [
                f"K={r.k}",
                f"{mine.rotated}/{r.k}",
                fmt_s(mine.total),
                fmt_s(mine.scan),
                f"{fmt_s(cold)} (import {fmt_s(cold_import)})",
                f"{fmt_s(median(mine.warm))} / {fmt_s(percentile(mine.warm, 0.9))}",
                str(mine.failures),
                fmt_s(r.certbot_total) if r.certbot else "-",
                fmt_s(median(c.wall for c in r.certbot)) if r.certbot else "-",
                f"{ratio:.3f}x {verdict}" if r.certbot else "-",
            ]
        )
        summary.append(
            {
                "k": r.k,
                "certrotate_total_s": mine.total,
                "certrotate_rotated": mine.rotated,
                "certrotate_failures": mine.failures,
                "scan_s": mine.scan,
                "cold_rotation_s": cold,
                "cold_import_s": cold_import,
                "warm_rotation_median_s": median(mine.warm),
                "certbot_total_s": r.certbot_total,
                "certbot_median_s": median(c.wall for c in r.certbot) if r.certbot else None,
                "ratio": ratio if r.certbot else None,
            }
        )
    lines.append(
        table(
            rows,
            [
                "",
                "repointed",
                "certrotate total",
                "scan",
                "first rotation/container (cold)",
                "warm median / p90",
                "failed",
                "certbot total",
                "certbot per cert",
                "ratio",
            ],
        )
    )
    all_runs = [c for r in results for c in r.certbot]
    if all_runs:
        n = len(all_runs)
        route53 = sum(c.slept("certbot_dns_route53") for c in all_runs) / n
        authz = sum(c.slept("auth_handler") for c in all_runs) / n
        final = sum(c.slept("acme.client") for c in all_runs) / n
        other_sleep = sum(sum(c.sleeps.values()) for c in all_runs) / n - route53 - authz - final
        startup = sum(c.startup_s for c in all_runs) / n
        wall = sum(c.wall for c in all_runs) / n
        rest = wall - startup - route53 - authz - final - other_sleep
        lines.append("")
        lines.append(f"   where certbot's time goes (mean of {n} runs, {wall:.2f} s each):")
        lines.append(
            table(
                [
                    ["interpreter start + imports", fmt_s(startup), f"{startup / wall:.0%}"],
                    [
                        "route53 plugin: sleep 5 s per PENDING GetChange",
                        fmt_s(route53),
                        f"{route53 / wall:.0%}",
                    ],
                    ["certbot: sleep before first authorization poll", fmt_s(authz), f"{authz / wall:.0%}"],
                    ["acme: sleep before first finalization poll", fmt_s(final), f"{final / wall:.0%}"],
                    ["other sleeps", fmt_s(other_sleep), f"{other_sleep / wall:.0%}"],
                    ["everything else (ACME, AWS, keys, files)", fmt_s(rest), f"{rest / wall:.0%}"],
                ]
            )
        )
    if profile:
        total = profile.get("rotation, total", 0.0)
        lines.append("")
        lines.append(
            f"   where a warm certrotate rotation's time goes (cProfile, {fmt_s(total)} under the profiler):"
        )
        lines.append(table([[k, fmt_s(v)] for k, v in profile.items()]))
    return {
        "name": "throughput",
        "patches": patches or [],
        "results": summary,
        "breakdown": profile,
        "text": "\n".join(lines),
    }
