"""Five cold direct rotations against certbot's time for five certificates, in the same run (issue 25).

certrotate: `{"certificate_name": NAME, "force": true}` (what an operator or `certrotate rotate` sends), each
in a NEW process: a new Lambda container (interpreter start, the runtime's harness, the handler's import, then
the invocation), one after the other. The certificates are not due (hence `force`), each the default
certificate of its own ALB's HTTPS listener; a scheduled scan ran before (another certificate was due, so it
searched every region and kept where each managed certificate is served in its index), as in any stack that
has run its daily scan. The ACME account is registered before, by a rotation not counted. Unless
`--no-compare`, each rep also runs a cold direct rotation with `index_records=off` (benchmarks/patches.py:
the rotation finds no record and searches every region, as before the scan index kept endpoints), in the
same alternation.

certbot: `certbot certonly --dns-route53 -d NAME` for a new name, one process each (benchmarks.peer), its
account registered before by a run not counted.

Both under each Route 53 behaviour, alternating: INSYNC at once (moto unpatched) and PENDING once (the
devstack's default). The ratio is certrotate's total for the five over certbot's total for its five.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import peer
from benchmarks.cold_rotation import MODES, _certrotate_breakdown, _mean
from benchmarks.common import (
    create_albs,
    fmt_s,
    fresh_world,
    log,
    parallel,
    run_probe,
    seed,
    start_stack,
    table,
)
from benchmarks.esm import Container, container_env
from benchmarks.throughput import DAYS_LEFT, scheduled_event, served_by_new
from devstack import moto_fixes

TARGET_RATIO = 0.35
MEMORY_LIMIT_MB = 110
NOT_DUE_DAYS = 80  # beyond RENEW_BEFORE_DAYS (30): rotated only when forced


def run(count: int = 5, compare: bool = True, modes: list[str] | None = None) -> dict[str, Any]:
    modes = modes or list(MODES)
    peer.ensure_venv()
    certbot_version = peer.version()
    stack = start_stack()
    work = Path(tempfile.mkdtemp(prefix="certrotate-bench-direct-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        world = fresh_world(stack)
        per_mode = count * (2 if compare else 1)
        total = 1 + per_mode * len(modes)
        log(f"direct rotation: seeding {total} certificates not due and one due, each behind its own ALB")
        metas = parallel(
            lambda i: seed(world, f"direct-{i}", [f"direct-{i}.example.com"], NOT_DUE_DAYS),
            list(range(total)),
        )
        due = seed(world, "direct-due", ["direct-due.example.com"], DAYS_LEFT)
        listeners = create_albs(world, [m["Arn"] for m in [*metas, due]], prefix="direct")
        with Container("ScanFunction", world.env, work / "scan.log") as scanner:
            reply = scanner.call(scheduled_event())
        if "error" in reply or reply["result"]["enqueued"] != ["direct-due"]:
            raise RuntimeError(
                f"the scan did not enqueue direct-due: {reply.get('error') or reply['result']}"
            )
        world.client("sqs").purge_queue(QueueUrl=world.queue_url)
        env = container_env("RotateFunction", world.env)
        searching_env = container_env("RotateFunction", world.env, ["index_records=off"])
        certbot = peer.Certbot(stack)
        names = iter(m["ServerCertificateName"] for m in metas)

        def rotate_cold(patched: bool = False) -> dict[str, Any]:
            name = next(names)
            path = work / f"{name}.json"
            path.write_text(json.dumps({"certificate_name": name, "force": True}))
            probe = run_probe(
                "cold-rotate", str(path), env=searching_env if patched else env, log_path=work / f"{name}.log"
            )
            result = probe["result"] or {}
            if result.get("status") != "rotated":
                raise RuntimeError(f"the direct rotation of {name} failed: {result}; see {work}/{name}.log")
            probe["steps"] = result.get("steps", [])
            return probe

        log("direct rotation: registering the ACME accounts (certrotate and certbot; not counted)")
        moto_fixes.set_route53_pending_polls(0)
        rotate_cold()
        first = certbot.issue("direct-peer-0.example.com")
        if not first.ok:
            raise RuntimeError(f"certbot failed:\n{first.output}")
        index = 1
        for mode in modes:
            moto_fixes.set_route53_pending_polls(MODES[mode])
            log(f"direct rotation, Route 53 {mode}: {count} cold direct rotations and {count} certbot runs")
            mine: list[dict[str, Any]] = []
            searching: list[dict[str, Any]] = []
            theirs: list[peer.CertbotRun] = []
            for _ in range(count):
                mine.append(rotate_cold())
                if compare:
                    searching.append(rotate_cold(patched=True))
                run_ = certbot.issue(f"direct-peer-{index}.example.com")
                index += 1
                if not run_.ok:
                    raise RuntimeError(f"certbot failed:\n{run_.output}")
                theirs.append(run_)
            results[mode] = {"certrotate": mine, "searching": searching, "certbot": theirs}
        moto_fixes.set_route53_pending_polls(moto_fixes.DEFAULT_ROUTE53_PENDING_POLLS)
        repointed = served_by_new(
            world,
            [{"meta": m, "listener": listener} for m, listener in zip(metas, listeners, strict=False)],
        )
        certbot.cleanup()
    finally:
        moto_fixes.set_route53_pending_polls(moto_fixes.DEFAULT_ROUTE53_PENDING_POLLS)
        stack.stop()
    return render(results, count, repointed, total, certbot_version)


def _wall(probe: dict[str, Any]) -> float:
    return float(probe["ended_at"] - probe["spawned_at"])


def render(
    results: dict[str, dict[str, Any]], count: int, repointed: int, seeded: int, certbot_version: str
) -> dict[str, Any]:
    lines = [
        f'== {count} cold direct rotations ({{"certificate_name": ..., "force": true}}, a new process each, '
        f"one after the other) vs certbot for {count} certificates ({certbot_version}); "
        f"{repointed}/{seeded} listeners repointed"
    ]
    summary: dict[str, Any] = {"name": "direct_rotation", "count": count, "modes": {}}
    rows = []
    for mode, found in results.items():
        mine = [_wall(p) for p in found["certrotate"]]
        theirs = [r.wall for r in found["certbot"]]
        ratio = sum(mine) / sum(theirs)
        peak = max(p["maxrss_mb"] for p in found["certrotate"])
        ok = ratio <= TARGET_RATIO and peak < MEMORY_LIMIT_MB
        rows.append(
            [
                mode,
                f"{fmt_s(sum(mine))} ({', '.join(fmt_s(x) for x in mine)})",
                f"{fmt_s(sum(theirs))} ({', '.join(fmt_s(x) for x in theirs)})",
                f"{ratio:.3f}x",
                f"{peak:.0f} MB",
                "meets" if ok else f"MISSES <= {TARGET_RATIO}x, < {MEMORY_LIMIT_MB} MB",
            ]
        )
        entry: dict[str, Any] = {
            "certrotate_s": mine,
            "certbot_s": theirs,
            "ratio": ratio,
            "peak_rss_mb": peak,
            "breakdown": _mean([_certrotate_breakdown(p) for p in found["certrotate"]]),
            "from_index": sum(
                1 for p in found["certrotate"] if any("from the scan index" in s for s in p["steps"])
            ),
        }
        if found["searching"]:
            searching = [_wall(p) for p in found["searching"]]
            entry |= {
                "searching_s": searching,
                "searching_ratio": sum(searching) / sum(theirs),
                "searching_peak_rss_mb": max(p["maxrss_mb"] for p in found["searching"]),
                "searching_breakdown": _mean([_certrotate_breakdown(p) for p in found["searching"]]),
            }
            rows.append(
                [
                    f"{mode}, searching (index_records=off)",
                    f"{fmt_s(sum(searching))} ({', '.join(fmt_s(x) for x in searching)})",
                    "(the same certbot runs)",
                    f"{entry['searching_ratio']:.3f}x",
                    f"{entry['searching_peak_rss_mb']:.0f} MB",
                    "",
                ]
            )
        summary["modes"][mode] = entry
    lines.append(
        table(
            rows,
            ["Route 53", f"certrotate, {count} cold (each)", "certbot (each)", "ratio", "peak RSS", "goal"],
        )
    )
    for mode, entry in summary["modes"].items():
        lines.append("")
        lines.append(
            f"   where a cold direct rotation's time goes, Route 53 {mode} (means of {count}; "
            f"{entry['from_index']}/{count} took the endpoints from the scan index):"
        )
        keys = list(entry["breakdown"])
        if "searching_breakdown" in entry:
            keys += [k for k in entry["searching_breakdown"] if k not in keys]
            rows = [
                [k, fmt_s(entry["breakdown"].get(k, 0.0)), fmt_s(entry["searching_breakdown"].get(k, 0.0))]
                for k in keys
            ]
            lines.append(table(rows, ["step", "with the index", "searching"]))
        else:
            lines.append(table([[k, fmt_s(entry["breakdown"][k])] for k in keys], ["step", ""]))
    text = "\n".join(lines)
    print(text, flush=True)
    summary["text"] = text
    return summary
