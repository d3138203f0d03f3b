"""Measurements that need a fresh interpreter: `python -m benchmarks.probe OUT.json WHAT [ARGS...]`.

WHAT:
  floor                  import boto3 + Powertools, make a Logger and Metrics (what any such handler pays)
  handler FUNCTION_DIR LAYER_DIR
                         import FUNCTION_DIR/app.py as Lambda does, with LAYER_DIR on sys.path
  clients FUNCTION_DIR LAYER_DIR
                         import the handler, then time what its first invocation builds before any call:
                         settings and boto3 clients (scan or rotation wiring), and the lazy acme import
  discover               certrotate's Endpoints.discover (a rotation's listener lookup), twice (env from
                         the caller)
  invoke FUNCTION EVENT_JSON [tracemalloc]
                         one invocation through devstack.lambda_runner; reports time, tracemalloc peak and
                         peak RSS (VmHWM; ru_maxrss is reported too, but see worker.peak_rss_mb)
  cold-rotate EVENT_JSON_FILE
                         a new Lambda container's first rotation: the handler's import, then one invocation,
                         with the time of each step of the rotation (benchmarks.timers.PHASES)

Prints nothing of its own on stdout (the function's logs go there); the result is written to OUT.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

_START = time.perf_counter()
_STARTED_AT = time.time()  # the interpreter is up and has imported the standard library's start-up set


def _maxrss_mb() -> float:
    from benchmarks.worker import peak_rss_mb

    return peak_rss_mb()


def floor() -> dict[str, Any]:
    started = time.perf_counter()
    import boto3  # noqa: F401
    from aws_lambda_powertools import Logger, Metrics

    Logger()
    Metrics()
    return {"seconds": time.perf_counter() - started, "maxrss_mb": _maxrss_mb(), "packages": _packages()}


def _packages() -> list[str]:
    return sorted({name.split(".")[0] for name in sys.modules})


def _import_handler(function_dir: str, layer_dir: str) -> tuple[Any, float]:
    import importlib.util

    sys.path[:0] = [function_dir, layer_dir]
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", os.path.join(function_dir, "app.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module, time.perf_counter() - started


# What each function's first event makes it parse: the daily schedule (scan), a queue message (rotate).
_SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
_MESSAGE = '{"certificate_name": "www-example-com", "reason": "expiring", "days_to_expiry": 12.5}'


def _first_parse(function_dir: str) -> float:
    """Time to check the function's usual first event (what the module loads lazily is paid here)."""
    from certrotate import inbound

    started = time.perf_counter()
    if function_dir.rstrip("/").endswith("rotate"):
        inbound.parse_rotation_message(_MESSAGE)
    else:
        inbound.parse_scan_request(dict(_SCHEDULED))
    return time.perf_counter() - started


def handler(function_dir: str, layer_dir: str) -> dict[str, Any]:
    _module, seconds = _import_handler(function_dir, layer_dir)
    packages = _packages()
    first_parse = _first_parse(function_dir)
    return {
        "seconds": seconds,
        "first_parse_s": first_parse,
        "maxrss_mb": _maxrss_mb(),
        "packages": packages,
        "packages_after_parse": _packages(),
    }


def clients(function_dir: str, layer_dir: str) -> dict[str, Any]:
    _module, import_s = _import_handler(function_dir, layer_dir)
    from certrotate import wiring

    started = time.perf_counter()
    wiring.refresh()
    if function_dir.rstrip("/").endswith("rotate"):
        wiring.rotation_service()
        wiring.events()
        built = "rotation_service (iam, elbv2, elb, route53, dynamodb, events)"
    else:
        wiring.scan_service(dry_run=False)
        built = "scan_service (iam, elbv2, elb, sqs, events)"
    clients_s = time.perf_counter() - started
    result: dict[str, Any] = {"import_s": import_s, "clients_s": clients_s, "built": built}
    if function_dir.rstrip("/").endswith("rotate"):
        started = time.perf_counter()
        import certrotate.adapters.acme.authority  # noqa: F401 - the lazy import of the first order

        result["acme_import_s"] = time.perf_counter() - started
    return result


def discover(patches: list[str]) -> dict[str, Any]:
    sys.path.insert(0, os.environ["BENCH_LAYER"])
    from certrotate import wiring

    if patches:
        from benchmarks import patches as patch_module

        patch_module.apply(patches)
    wiring.refresh()
    timings = []
    found = 0
    for _ in range(2):
        started = time.perf_counter()
        survey = wiring.endpoints().discover(include_cloudfront=False)
        timings.append(time.perf_counter() - started)
        found = len(survey.endpoints)
    return {"first_s": timings[0], "second_s": timings[1], "endpoints": found}


def invoke(function_id: str, event_json: str, trace: bool) -> dict[str, Any]:
    import tracemalloc

    if trace:
        tracemalloc.start()
    from devstack import lambda_runner

    started = time.perf_counter()
    result = lambda_runner.invoke(function_id, json.loads(event_json))
    seconds = time.perf_counter() - started
    import resource

    report: dict[str, Any] = {
        "seconds": seconds,
        "maxrss_mb": _maxrss_mb(),
        # Inflated by the parent's size (Linux keeps the pre-exec high-water mark); kept for the record.
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "result": result,
    }
    if trace:
        _current, peak = tracemalloc.get_traced_memory()
        report["tracemalloc_peak_mb"] = peak / 2**20
    return report


def cold_rotate(event_path: str) -> dict[str, Any]:
    """As a new Lambda container: the runtime's harness, the handler import (the init phase), then the first
    invocation. `import certrotate.adapters.acme.authority` (lazy in the layer: at the first order) is done
    right after the handler's import instead, so that its classes can be timed; same work, same process."""
    from benchmarks.timers import install_timers
    from devstack import lambda_runner

    harness_s = time.perf_counter() - _START
    spec = lambda_runner.template().function("RotateFunction")
    started = time.perf_counter()
    lambda_runner.load_handler(spec)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    import certrotate.adapters.acme.authority  # noqa: F401

    acme_import_s = time.perf_counter() - started
    patches = [p for p in os.environ.get("BENCH_PATCHES", "").split(",") if p]
    if patches:
        from benchmarks import patches as patch_module

        patch_module.apply(patches)
    timers = install_timers()
    with open(event_path) as handle:
        event = json.load(handle)
    started = time.perf_counter()
    result = lambda_runner.invoke("RotateFunction", event)
    invoke_s = time.perf_counter() - started
    return {
        "started_at": _STARTED_AT,
        "ended_at": time.time(),
        "harness_s": harness_s,
        "import_s": import_s,
        "acme_import_s": acme_import_s,
        "invoke_s": invoke_s,
        "phases": dict(timers),
        "maxrss_mb": _maxrss_mb(),
        "result": result,
    }


def main() -> int:
    out_path, what, *args = sys.argv[1:]
    if what == "floor":
        result = floor()
    elif what == "handler":
        result = handler(args[0], args[1])
    elif what == "clients":
        result = clients(args[0], args[1])
    elif what == "discover":
        result = discover([p for p in os.environ.get("BENCH_PATCHES", "").split(",") if p])
    elif what == "cold-rotate":
        result = cold_rotate(args[0])
    elif what == "invoke":
        result = invoke(args[0], args[1], len(args) > 2 and args[2] == "tracemalloc")
    else:
        raise SystemExit(f"unknown probe {what!r}")
    result["process_s"] = time.perf_counter() - _START
    with open(out_path, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
