"""One rotation, cold, against certbot's time for one certificate, in the same run (issue 13).

certrotate: the scheduled scan enqueues one message per due certificate (each the default certificate of its
own ALB's HTTPS listener); each message is then handed, as its SQS record, to a NEW process: a new Lambda
container (interpreter start, the runtime's harness, the handler's import, then the first invocation). Timed
from the moment the process is spawned to the end of the invocation, and broken down by step
(benchmarks.timers). The ACME account is registered before (by a rotation not counted), as it is in any
stack after its first rotation: the cold container reads it from Secrets Manager.

certbot: `certbot certonly --dns-route53 -d NAME` for a new name, one process (benchmarks.peer), its account
registered before by a run not counted, as on a host that runs certbot from cron.

The two alternate, rotation by rotation, under each Route 53 behaviour:
- INSYNC at once: the first GetChange of a change answers INSYNC (what moto does unpatched);
- PENDING once: the first GetChange answers PENDING, the next INSYNC (the devstack's default,
  devstack.moto_fixes.set_route53_pending_polls(1)).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import peer
from benchmarks.common import (
    create_albs,
    fmt_s,
    fresh_world,
    log,
    median,
    parallel,
    run_probe,
    seed,
    start_stack,
    table,
)
from benchmarks.esm import Container, container_env
from benchmarks.throughput import DAYS_LEFT, scheduled_event, served_by_new
from benchmarks.timers import PHASES
from devstack import moto_fixes
from devstack.lambda_runner import sqs_record

TARGET_RATIO = 0.35
MODES = {"INSYNC at once": 0, "PENDING once": 1}


def _certbot_breakdown(run: peer.CertbotRun) -> dict[str, float]:
    route53 = run.slept("certbot_dns_route53")
    authz = run.slept("auth_handler")
    final = run.slept("acme.client")
    other_sleep = sum(run.sleeps.values()) - route53 - authz - final
    return {
        "interpreter start + imports": run.startup_s,
        "route53 plugin: sleep 5 s per PENDING GetChange": route53,
        "certbot: sleep before the first authorization poll": authz,
        "acme: sleep before the first finalization poll": final,
        "other sleeps": other_sleep,
        "everything else (ACME, Route 53, key, files)": run.wall
        - run.startup_s
        - route53
        - authz
        - final
        - other_sleep,
    }


def _certrotate_breakdown(probe: dict[str, Any]) -> dict[str, float]:
    total = probe["ended_at"] - probe["spawned_at"]
    interpreter = probe["started_at"] - probe["spawned_at"]
    steps: dict[str, float] = {
        "interpreter start": interpreter,
        "runtime harness (devstack.lambda_runner)": probe["harness_s"],
        "handler import (init)": probe["import_s"],
        "lazy import of the ACME adapter (at the first order)": probe["acme_import_s"],
        "invocation, whole": probe["invoke_s"],
    }
    steps.update(_nested(probe["phases"], probe["invoke_s"]))
    accounted = interpreter + probe["harness_s"] + probe["import_s"] + probe["acme_import_s"]
    accounted += probe["invoke_s"]
    steps["rest (between the steps: JSON, timers, exit of the harness)"] = total - accounted
    return steps


def _nested(phases: dict[str, float], invocation: float) -> dict[str, float]:
    """The timed steps under the invocation, each parent followed by its children and by what its children
    leave unaccounted ("other": calls not wrapped, e.g. IAM reads and tags in the rotation, the CSR in the
    order; for the invocation itself, checking the event, Powertools and the metrics' flush)."""
    rows: dict[str, float] = {}
    depth = [len(label) - len(label.lstrip()) for label, _m, _p in PHASES]
    labels = [label for label, _m, _p in PHASES]

    def children(start: int, level: int) -> list[int]:
        found = []
        for i in range(start, len(labels)):
            if depth[i] < level:
                break
            if depth[i] == level:
                found.append(i)
        return found

    def emit(indices: list[int], level: int, parent_total: float, parent_label: str) -> None:
        accounted = 0.0
        for i in indices:
            value = phases.get(labels[i])
            if value is None or value < 0:
                continue
            rows["  " + labels[i]] = value
            accounted += value
            emit(children(i + 1, level + 2), level + 2, value, labels[i])
        if len(indices) > 1 and accounted:
            rows["  " + " " * level + f"other ({parent_label.strip()})"] = parent_total - accounted

    emit(children(0, 0), 0, invocation, "invocation")
    return rows


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: sum(row.get(k, 0.0) for row in rows) / len(rows) for k in keys}


def run(reps: int = 3, patches: list[str] | None = None) -> dict[str, Any]:
    """With `patches` (benchmarks.patches), each rep also runs a cold rotation with them applied."""
    peer.ensure_venv()
    certbot_version = peer.version()
    stack = start_stack()
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-coldrot-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        world = fresh_world(stack)
        count = 1 + reps * len(MODES) * (2 if patches else 1)
        log(f"cold rotation: seeding {count} due certificates, each behind its own ALB")
        metas = parallel(
            lambda i: seed(world, f"cold-{i}", [f"cold-{i}.example.com"], DAYS_LEFT), list(range(count))
        )
        listeners = create_albs(world, [m["Arn"] for m in metas], prefix="cold")
        with Container("ScanFunction", world.env, work / "scan.log") as scanner:
            reply = scanner.call(scheduled_event())
        if "error" in reply or len(reply["result"]["enqueued"]) != count:
            raise RuntimeError(f"the scan did not enqueue {count}: {reply.get('error') or reply['result']}")
        sqs = world.client("sqs")
        env = container_env("RotateFunction", world.env)
        patched_env = container_env("RotateFunction", world.env, patches)
        certbot = peer.Certbot(stack)

        def next_event() -> tuple[dict[str, Any], str]:
            message = sqs.receive_message(
                QueueUrl=world.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]
            )["Messages"][0]
            record = sqs_record(message, world.queue_url, stack.region)
            return {"Records": [record]}, message["ReceiptHandle"]

        def rotate_cold(index: int, patched: bool = False) -> dict[str, Any]:
            event, receipt = next_event()
            path = work / f"event-{index}.json"
            path.write_text(json.dumps(event))
            probe = run_probe(
                "cold-rotate",
                str(path),
                env=patched_env if patched else env,
                log_path=work / f"rotate-{index}.log",
            )
            failures = (probe["result"] or {}).get("batchItemFailures")
            if failures:
                raise RuntimeError(f"the cold rotation failed; see {work}/rotate-{index}.log")
            sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=receipt)
            return probe

        log("cold rotation: registering the ACME accounts (certrotate and certbot; not counted)")
        moto_fixes.set_route53_pending_polls(0)
        rotate_cold(0)
        first = certbot.issue("cold-peer-0.example.com")
        if not first.ok:
            raise RuntimeError(f"certbot failed:\n{first.output}")
        index = 1
        for mode, pending in MODES.items():
            moto_fixes.set_route53_pending_polls(pending)
            log(f"cold rotation, Route 53 {mode}: {reps} cold rotations and {reps} certbot runs, alternating")
            mine: list[dict[str, Any]] = []
            mine_patched: list[dict[str, Any]] = []
            theirs: list[peer.CertbotRun] = []
            for _ in range(reps):
                mine.append(rotate_cold(index))
                if patches:
                    index += 1
                    mine_patched.append(rotate_cold(index, patched=True))
                run_ = certbot.issue(f"cold-peer-{index}.example.com")
                if not run_.ok:
                    raise RuntimeError(f"certbot failed:\n{run_.output}")
                theirs.append(run_)
                index += 1
            results[mode] = {"certrotate": mine, "certbot": theirs, "patched": mine_patched}
        moto_fixes.set_route53_pending_polls(moto_fixes.DEFAULT_ROUTE53_PENDING_POLLS)
        repointed = served_by_new(
            world, [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=True)]
        )
        certbot.cleanup()
    finally:
        moto_fixes.set_route53_pending_polls(moto_fixes.DEFAULT_ROUTE53_PENDING_POLLS)
        stack.stop()
    return render(results, reps, repointed, count, certbot_version, patches or [])


def render(
    results: dict[str, dict[str, Any]],
    reps: int,
    repointed: int,
    count: int,
    certbot_version: str,
    patches: list[str],
) -> dict[str, Any]:
    lines = [
        "== One rotation, cold (a new process per rotation) vs certbot for one certificate "
        f"({certbot_version}); {reps} of each per Route 53 behaviour, alternating; "
        f"{repointed}/{count} listeners repointed"
    ]
    summary: dict[str, Any] = {
        "name": "cold_rotation",
        "reps": reps,
        "repointed": repointed,
        "patches": patches,
        "modes": {},
    }
    rows = []
    for mode, found in results.items():
        mine = [p["ended_at"] - p["spawned_at"] for p in found["certrotate"]]
        theirs = [r.wall for r in found["certbot"]]
        ratio = median(mine) / median(theirs)
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        rows.append(
            [
                mode,
                f"{fmt_s(median(mine))} ({', '.join(fmt_s(x) for x in mine)})",
                f"{fmt_s(median(theirs))} ({', '.join(fmt_s(x) for x in theirs)})",
                f"{ratio:.3f}x, {verdict} <= {TARGET_RATIO}x",
                f"{max(p['maxrss_mb'] for p in found['certrotate']):.0f} MB",
            ]
        )
        summary["modes"][mode] = {
            "certrotate_s": mine,
            "certbot_s": theirs,
            "certrotate_median_s": median(mine),
            "certbot_median_s": median(theirs),
            "ratio": ratio,
            "certrotate_breakdown": _mean([_certrotate_breakdown(p) for p in found["certrotate"]]),
            "certbot_breakdown": _mean([_certbot_breakdown(r) for r in found["certbot"]]),
            "peak_rss_mb": max(p["maxrss_mb"] for p in found["certrotate"]),
        }
        if found["patched"]:
            patched = [p["ended_at"] - p["spawned_at"] for p in found["patched"]]
            patched_ratio = median(patched) / median(theirs)
            rows.append(
                [
                    f"{mode}, patched",
                    f"{fmt_s(median(patched))} ({', '.join(fmt_s(x) for x in patched)})",
                    "(the same certbot runs)",
                    f"{patched_ratio:.3f}x, {'meets' if patched_ratio <= TARGET_RATIO else 'MISSES'}",
                    f"{max(p['maxrss_mb'] for p in found['patched']):.0f} MB",
                ]
            )
            summary["modes"][mode] |= {
                "patched_s": patched,
                "patched_median_s": median(patched),
                "patched_ratio": patched_ratio,
                "patched_breakdown": _mean([_certrotate_breakdown(p) for p in found["patched"]]),
            }
    lines.append(
        table(
            rows,
            [
                "Route 53",
                "certrotate cold, median (each)",
                "certbot, median (each)",
                "ratio of medians",
                "peak RSS",
            ],
        )
    )
    for mode, found in summary["modes"].items():
        mine_total = found["certrotate_median_s"]
        lines.append("")
        lines.append(f"   where the time goes, Route 53 {mode} (means of {reps}):")
        mine_rows = [[k, fmt_s(v)] for k, v in found["certrotate_breakdown"].items()]
        theirs_rows = [[k, fmt_s(v)] for k, v in found["certbot_breakdown"].items()]
        lines.append(table(mine_rows, [f"certrotate (median total {fmt_s(mine_total)})", ""]))
        if "patched_breakdown" in found:
            patched_rows = [[k, fmt_s(v)] for k, v in found["patched_breakdown"].items()]
            lines.append(
                table(
                    patched_rows,
                    [
                        f"certrotate, {', '.join(patches)} (median total {fmt_s(found['patched_median_s'])})",
                        "",
                    ],
                )
            )
        lines.append(table(theirs_rows, [f"certbot (median total {fmt_s(found['certbot_median_s'])})", ""]))
    text = "\n".join(lines)
    print(text, flush=True)
    summary["text"] = text
    return summary
