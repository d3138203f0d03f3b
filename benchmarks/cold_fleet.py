"""Scan, queue and cold rotations at the template's concurrency, against certbot for the same number of
certificates, in the same run (issue 25).

certrotate: K managed certificates due, each the default certificate of its own ALB's HTTPS listener. Timed
from the moment the scan's container is spawned (a new process: interpreter, harness, handler import, then the
scheduled event) to the moment the queue is empty: the rotate containers are new processes too, spawned at the
same moment (their interpreter up, nothing imported: Lambda's cold start is in the timed invocation), and
polled as Lambda's event source mapping does (BatchSize 1, the template's MaximumConcurrency containers),
each message received as soon as the scan has sent it, while the scan is still running. The ACME account is
registered before, by a rotation not counted (as in any stack after its first rotation).

certbot: K `certbot certonly --dns-route53 -d NAME` processes one after the other, its account registered
before by a run not counted.

It also says when the scan sent its first message, against when its search of every region ran and when the
first rotation began: whether the search is what the first rotation waits for.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import peer
from benchmarks.cold_rotation import MODES
from benchmarks.common import (
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
from benchmarks.direct_rotation import NOT_DUE_DAYS
from benchmarks.esm import Container, EventSourceMapping, container_env
from benchmarks.throughput import DAYS_LEFT, scheduled_event, served_by_new
from devstack import lambda_runner, moto_fixes

TARGET_RATIO = 0.30
# The scan's steps whose wall-clock spans the scan container reports (benchmarks.worker, BENCH_TIMED).
SCAN_SPANS = ",".join(
    [
        "certrotate.adapters.aws.endpoints:AllEndpoints.discover",
        "certrotate.adapters.aws.queue:SqsRotationQueue.send",
        "certrotate.scan.sweep:Scan._sweep",  # once per store: IAM, then ACM (the last call)
    ]
)


def _template_concurrency() -> int:
    """The rotation queue's MaximumConcurrency as the template ships it (its parameter's default)."""
    template = lambda_runner.template()
    return int(template.parameters["RotationMaximumConcurrency"]["Default"])


VARIANTS = ("no index (first scan)", "index kept (steady)")


def run(count: int = 5, reps: int = 1, modes: list[str] | None = None) -> dict[str, Any]:
    """Per Route 53 behaviour and rep: the fleet with no scan index (a first scan: it searches every region
    before sending), then with the index a scan keeps (a search within the day recorded where each
    certificate is served: the scan sends at once and searches nowhere), then certbot's K runs."""
    modes = modes or list(MODES)
    concurrency = _template_concurrency()
    peer.ensure_venv()
    certbot_version = peer.version()
    stack = start_stack()
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-coldfleet-"))
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    try:
        certbot = peer.Certbot(stack)
        peer_index = 0
        for rep in range(reps):
            for mode in modes:
                found: dict[str, Any] = {}
                for variant in VARIANTS:
                    world = fresh_world(stack)
                    prefix = f"fleet{rep}{mode[0].lower()}{variant[0]}"
                    found[variant] = _prepared_fleet(world, count, concurrency, work / prefix, mode, variant)
                if peer_index == 0:  # certbot's account, registered in a run not counted (a zone is needed)
                    first = certbot.issue("fleet-peer-registration.example.com")
                    if not first.ok:
                        raise RuntimeError(f"certbot failed:\n{first.output}")
                theirs = []
                for _ in range(count):
                    peer_index += 1
                    run_ = certbot.issue(f"fleet-peer-{peer_index}.example.com")
                    if not run_.ok:
                        raise RuntimeError(f"certbot failed:\n{run_.output}")
                    theirs.append(run_.wall)
                for variant in VARIANTS:
                    found[variant]["certbot_s"] = theirs
                runs[mode].append(found)
        certbot.cleanup()
    finally:
        moto_fixes.set_route53_pending_polls(moto_fixes.DEFAULT_ROUTE53_PENDING_POLLS)
        stack.stop()
    return render(runs, count, concurrency, certbot_version)


def _prepared_fleet(
    world: Any, count: int, concurrency: int, log_dir: Path, mode: str, variant: str
) -> dict[str, Any]:
    prefix = log_dir.name
    log(f"cold fleet, Route 53 {mode}, {variant}: {count} due certificates behind {count} ALBs")
    steady = variant == VARIANTS[1]
    # Steady: the certificates are not due yet when a scan searches (another one was due) and keeps where
    # each is served; then the floor is raised so that they are due (as a day later).
    days = 45 if steady else DAYS_LEFT
    metas = parallel(
        lambda i: seed(world, f"{prefix}-{i}", [f"{prefix}-{i}.example.com"], days), list(range(count))
    )
    listeners = create_albs(world, [m["Arn"] for m in metas], prefix=prefix)
    # The account registered by a rotation not counted (a certificate not due, forced).
    seed(world, f"{prefix}-registration", [f"{prefix}-registration.example.com"], NOT_DUE_DAYS)
    if steady:
        seed(world, f"{prefix}-primer", [f"{prefix}-primer.example.com"], DAYS_LEFT)
        with Container("ScanFunction", world.env, log_dir.with_suffix(".primer.log")) as primer:
            primed = primer.call(scheduled_event())
        if primed.get("error") or primed["result"]["enqueued"] != [f"{prefix}-primer"]:
            raise RuntimeError(f"the priming scan failed: {primed}")
        world.client("sqs").purge_queue(QueueUrl=world.queue_url)
        world.client("iam").delete_server_certificate(ServerCertificateName=f"{prefix}-primer")  # done with
        world.env["RENEW_BEFORE_DAYS"] = "60"
        world.env["ROTATION_QUEUE_URL"] = world.queue_url = world.client("sqs").create_queue(
            QueueName=f"{prefix}-steady.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "5400"}
        )["QueueUrl"]
    event = log_dir.with_suffix(".registration.json")
    event.write_text(json.dumps({"certificate_name": f"{prefix}-registration", "force": True}))
    moto_fixes.set_route53_pending_polls(MODES[mode])
    registration = run_probe("cold-rotate", str(event), env=container_env("RotateFunction", world.env))
    if (registration["result"] or {}).get("status") != "rotated":
        raise RuntimeError(f"the registration rotation failed: {registration['result']}")
    mine = _fleet(world, count, concurrency, log_dir)
    mine["repointed"] = served_by_new(
        world, [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=True)]
    )
    return mine


def _fleet(world: Any, count: int, concurrency: int, log_dir: Path) -> dict[str, Any]:
    log_dir.mkdir(parents=True, exist_ok=True)
    scan_env = {**world.env, "BENCH_TIMED": SCAN_SPANS}
    scanning = {"on": True}
    replies: dict[str, Any] = {}

    def scan(scanner: Container) -> None:
        try:
            replies["scan"] = scanner.call(scheduled_event())
        finally:
            scanning["on"] = False

    spawned = time.time()
    with (
        stopwatch() as total,
        Container("ScanFunction", scan_env, log_dir / "scan.log") as scanner,
        EventSourceMapping(world, concurrency=concurrency) as esm,
    ):
        thread = threading.Thread(target=scan, args=(scanner,))
        thread.start()
        drain = esm.drain(producing=lambda: scanning["on"])
        thread.join()
    reply = replies["scan"]
    if "error" in reply:
        raise RuntimeError(f"the scan failed: {reply['error']}")
    if len(reply["result"]["enqueued"]) != count or drain.failures:
        raise RuntimeError(
            f"enqueued {reply['result']['enqueued']}, {len(drain.failures)} failed ({log_dir})"
        )
    spans = reply.get("spans", {})

    def at(label: str, index: int) -> float | None:
        """When the first call of `label` started (index 0), or the last one ended (index 1)."""
        found = spans.get(label)
        return (found[0][0] if index == 0 else found[-1][1]) - spawned if found else None

    def last(label: str) -> tuple[float | None, float | None]:
        """When the last call of `label` started and ended (the scan sweeps ACM last)."""
        found = spans.get(label)
        return (found[-1][0] - spawned, found[-1][1] - spawned) if found else (None, None)

    starts = sorted(float(i.reply["start"]) - spawned for i in drain.invocations)
    ends = sorted(float(i.reply["end"]) - spawned for i in drain.invocations)
    cold = [i for i in drain.invocations if i.cold]
    return {
        # To the queue empty and the scan done (not the containers' exit, which the stopwatch also holds).
        "total_s": max(ends[-1], float(reply["end"]) - spawned),
        "stopwatch_s": total[0],
        "scan_s": float(reply["import_s"] + reply["seconds"]),
        "scan_import_s": float(reply["import_s"]),
        "search": (at("AllEndpoints.discover", 0), at("AllEndpoints.discover", 1)),
        "first_send_s": at("SqsRotationQueue.send", 0),
        "sent_s": at("SqsRotationQueue.send", 1),
        "acm_step": last("Scan._sweep"),
        "scan_end_s": float(reply["end"]) - spawned,
        "first_rotation_start_s": starts[0],
        "last_rotation_end_s": ends[-1],
        "cold_rotation_s": [i.import_s + i.seconds for i in cold],
        "warm_rotation_s": [i.seconds for i in drain.invocations if not i.cold],
        "peak_rss_mb": max(float(i.reply.get("maxrss_mb", 0.0)) for i in drain.invocations),
        "scan_peak_rss_mb": float(reply.get("maxrss_mb", 0.0)),
    }


def render(
    runs: dict[str, list[dict[str, Any]]], count: int, concurrency: int, certbot_version: str
) -> dict[str, Any]:
    lines = [
        f"== Scan, queue and cold rotations ({concurrency} containers, the template's MaximumConcurrency), "
        f"{count} due, vs certbot for {count} certificates one after the other ({certbot_version})"
    ]
    summary: dict[str, Any] = {"name": "cold_fleet", "count": count, "concurrency": concurrency, "modes": {}}
    rows = []
    timelines = []
    for mode, reps in runs.items():
        summary["modes"][mode] = []
        for found in reps:
            for variant, run_ in found.items():
                ratio = run_["total_s"] / sum(run_["certbot_s"])
                run_["ratio"] = ratio
                run_["variant"] = variant
                summary["modes"][mode].append(run_)
                rows.append(
                    [
                        mode,
                        variant,
                        fmt_s(run_["total_s"]),
                        fmt_s(sum(run_["certbot_s"])),
                        f"{ratio:.3f}x {'meets' if ratio <= TARGET_RATIO else 'MISSES'} <= {TARGET_RATIO}x",
                        f"{run_['repointed']}/{count}",
                        f"{run_['peak_rss_mb']:.0f} MB",
                    ]
                )
                search = run_["search"]
                timelines.append(
                    f"   {mode}, {variant}: scan spawned at 0; handler imported in "
                    f"{fmt_s(run_['scan_import_s'])}; "
                    + (
                        f"search of every region {fmt_s(search[0])} .. {fmt_s(search[1])}; "
                        if search[0] is not None
                        else "no search; "
                    )
                    + f"messages sent from {fmt_s(run_['first_send_s'] or float('nan'))}; ACM step until "
                    f"{fmt_s(run_['acm_step'][1] or float('nan'))}; scan done {fmt_s(run_['scan_end_s'])}; "
                    f"first rotation invoked {fmt_s(run_['first_rotation_start_s'])}; last ended "
                    f"{fmt_s(run_['last_rotation_end_s'])}; cold rotations (import + invocation) "
                    f"{', '.join(fmt_s(x) for x in run_['cold_rotation_s'])}, warm "
                    f"{', '.join(fmt_s(x) for x in run_['warm_rotation_s'])}"
                )
    lines.append(
        table(
            rows,
            ["Route 53", "scan index", "certrotate total", "certbot total", "ratio", "repointed", "peak RSS"],
        )
    )
    lines.extend(timelines)
    text = "\n".join(lines)
    print(text, flush=True)
    summary["text"] = text
    return summary
