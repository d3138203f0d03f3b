"""One Lambda "container" of a function, in its own interpreter: `python -m benchmarks.worker FD FUNCTION`.

Reads one JSON request per line on stdin ({"id", "event"} or {"stop": true}), invokes the function's handler
through devstack.lambda_runner as Lambda would (the handler module is imported on the first request: the
cold start), and writes one JSON reply per request to file descriptor FD. The function's own output
(Powertools logs and metrics) goes to this process's stdout, which the caller sends to a file.

The environment is set once, by whoever starts the process, and never changes: like a real container.
Process-based rather than threads in one process: each container then has its own wiring, ACME connection
and Powertools batch processor (which keeps per-batch state and is not meant to be shared by threads), and
its own CPU share, as the two concurrent Lambda containers the queue allows have.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Functions whose cumulative time makes up a rotation's breakdown (profiled invocations only), named as the
# timers name them (module:qualname, resolved by benchmarks.timers.resolve); cProfile's entry of each is
# found by the function's code (file, first line, name), so two files of one basename never mix.
PHASES = {
    "certrotate.rotate.pipeline:Rotation.rotate": "rotation, total",
    "certrotate.adapters.acme.authority:AcmeAuthority._connect": "ACME directory + account",
    "certrotate.adapters.acme.keys:generate_private_key": "new private key",
    "certrotate.adapters.acme.authority:AcmeAuthority.issue": "ACME order (incl. DNS-01)",
    "certrotate.adapters.aws.route53:Route53Challenges.publish": "Route 53 publish + INSYNC wait",
    "certrotate.adapters.aws.route53:Route53Challenges._wait_in_sync": "  of which INSYNC wait",
    "certrotate.order.dns_batching:DnsBatcher.publish": "DNS publish, batched (lease table)",
    "certrotate.adapters.aws.route53:Route53Challenges.remove": "Route 53 cleanup",
    "certrotate.adapters.acme.authority:AcmeAuthority._await_authorizations": "ACME validation polling",
    "acme.client:ClientV2.begin_finalization": "ACME finalize",
    "certrotate.adapters.acme.authority:AcmeAuthority._await_certificate": "ACME polls + download",
    "certrotate.check.issued:validate_issued": "validate chain/key/names",
    "certrotate.adapters.aws.iam:IamCertificateStore.upload": "IAM upload",
    "certrotate.deploy.locate:Locator.locate": "where it is served (scan's list, index or search)",
    "certrotate.adapters.aws.endpoints:AllEndpoints.discover": "  search of every region (also retirement)",
    "certrotate.deploy.deployment:Deployment._repoint": "repoint",
    "certrotate.retire.retirement:Retirement.retire_now": "retirement",
    "certrotate.adapters.lease_table.leases:DynamoDbLeases.acquire": "lease acquire",
    "certrotate.adapters.aws.events:EventBridgePublisher.publish": "EventBridge events",
}


def code_key(module_name: str, path: str) -> tuple[str, int, str]:
    """cProfile's key of the function `module:path` names: (file, first line, name). Unwraps the timers'
    wrappers (functools.wraps) and staticmethods. LookupError when the layer has no such function."""
    import inspect

    from benchmarks.timers import resolve

    _owner, _name, found = resolve(module_name, path)
    function = inspect.unwrap(found.__func__ if isinstance(found, staticmethod | classmethod) else found)
    code = function.__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: on Linux that keeps the high-water mark of
    the image before exec, i.e. of the (large) benchmark process that forked this one."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _breakdown(profile: Any) -> dict[str, float]:
    import pstats

    keys: dict[tuple[str, int, str], str] = {}
    for target, label in PHASES.items():
        module_name, _, path = target.partition(":")
        try:
            keys[code_key(module_name, path)] = label
        except LookupError:
            continue  # renamed in the layer: no figure (tests/unit/project/test_benchmark_targets.py)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for key, (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        if key in keys:
            found[keys[key]] = found.get(keys[key], 0.0) + cumulative
    return {label: found[label] for label in PHASES.values() if label in found}


def _install_wall_timers(spec: str) -> dict[str, list[list[float]]]:
    """BENCH_TIMED="module:Class.method,...": each call's (start, end) wall-clock times, by label, so that a
    benchmark can place a step of one container (the scan's search, its sends) against another's."""
    import functools

    from benchmarks.timers import resolve

    spans: dict[str, list[list[float]]] = {}
    for item in filter(None, spec.split(",")):
        module_name, _, path = item.partition(":")
        owner, name, original = resolve(module_name, path)  # LookupError: a stale name fails the run
        label = path

        def wrap(function: Any, label: str = label) -> Any:
            @functools.wraps(function)
            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.time()
                try:
                    return function(*args, **kwargs)
                finally:
                    spans.setdefault(label, []).append([started, time.time()])

            return timed

        setattr(owner, name, wrap(original))
    return spans


def main() -> int:
    out = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    function_id = sys.argv[2]
    patches = [p for p in os.environ.get("BENCH_PATCHES", "").split(",") if p]
    profile_index = int(os.environ.get("BENCH_PROFILE_INVOCATION", "-1"))
    # BENCH_TRACEMALLOC=1: trace Python allocations from before the handler's import; each reply then
    # carries the peak so far (slower: every allocation is recorded, so not for timed runs).
    traced = os.environ.get("BENCH_TRACEMALLOC") == "1"
    if traced:
        import tracemalloc

        tracemalloc.start()

    from devstack import lambda_runner

    spec = lambda_runner.template().function(function_id)
    handler_loaded = False
    spans: dict[str, list[list[float]]] = {}
    phases: dict[str, float] | None = None
    for invocation, line in enumerate(sys.stdin):
        request = json.loads(line)
        if request.get("stop"):
            break
        reply: dict[str, Any] = {"id": request.get("id"), "pid": os.getpid(), "invocation": invocation}
        started = time.perf_counter()
        try:
            if not handler_loaded:
                started = time.perf_counter()
                lambda_runner.load_handler(spec)  # the cold start: handler module, layer, boto3, Powertools
                reply["import_s"] = time.perf_counter() - started
                if patches:
                    from benchmarks import patches as patch_module

                    reply["patches"] = patch_module.apply(patches)
                spans = _install_wall_timers(os.environ.get("BENCH_TIMED", ""))
                if os.environ.get("BENCH_PHASES") == "1":
                    from benchmarks.timers import install_timers

                    phases = install_timers()  # each step's wall time, summed per invocation
                handler_loaded = True
            profiler = None
            if invocation == profile_index:
                import cProfile

                profiler = cProfile.Profile()
            reply["start"] = time.time()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            try:
                reply["result"] = lambda_runner.invoke(function_id, request["event"])
            finally:
                if profiler is not None:
                    profiler.disable()
            reply["seconds"] = time.perf_counter() - started
            reply["end"] = time.time()
            if profiler is not None:
                reply["breakdown"] = _breakdown(profiler)
            reply["maxrss_mb"] = peak_rss_mb()
            if spans:
                reply["spans"] = {label: list(found) for label, found in spans.items()}
                spans.clear()
            if phases is not None:
                reply["phases"] = {label: seconds for label, seconds in phases.items() if seconds >= 0}
                for label in phases:
                    phases[label] = 0.0 if phases[label] >= 0 else phases[label]
            if traced:
                reply["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        except Exception as exc:  # reported to the caller, which counts it as a failed invocation
            reply["error"] = f"{type(exc).__name__}: {exc}"
            reply.setdefault("seconds", time.perf_counter() - started)
            reply["end"] = time.time()
        out.write(json.dumps(reply) + "\n")
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
