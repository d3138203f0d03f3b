"""Wall time of each step of a rotation, by wrapping the layer's own functions (no profiler: cProfile slows
a rotation by a fifth and hides where the wall time goes while waiting).

Imports nothing heavy at module level (it runs inside the cold process that benchmarks.cold_rotation
times); `install_timers()` is called once the handler and `certrotate.adapters.acme.authority` are imported.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# (label, module, attribute path): each call's wall time is added to its label. Nested steps are shown
# indented; a step's time includes that of the steps nested in it.
ACME = "certrotate.adapters.acme.authority"
BATCHING = "certrotate.order.dns_batching"
PHASES: list[tuple[str, str, str]] = [
    # The handler calls wiring.rotation_service on the package's face (functions/rotate/app.py).
    ("settings + clients (wiring.rotation_service)", "certrotate.wiring", "rotation_service"),
    ("rotation (Rotation.rotate)", "certrotate.rotate.pipeline", "Rotation.rotate"),
    ("  lease acquire", "certrotate.adapters.lease_table.leases", "DynamoDbLeases.acquire"),
    # The first order calls authority() from wiring/adapters.py (_authority): the face's name is not called.
    ("  ACME client (wiring.authority)", "certrotate.wiring.adapters", "authority"),
    ("  endpoints (Locator.locate)", "certrotate.deploy.locate", "Locator.locate"),
    (
        "    scan index read (ScanIndexRecords.served)",
        "certrotate.adapters.lease_table.scan_index",
        "ScanIndexRecords.served",
    ),
    (
        "    search of every region (AllEndpoints.discover)",
        "certrotate.adapters.aws.endpoints",
        "AllEndpoints.discover",
    ),
    (
        "  ACME order, whole (AcmeAuthority.issue)",
        ACME,
        "AcmeAuthority.issue",
    ),
    (
        "    ACME directory + account (_connect)",
        ACME,
        "AcmeAuthority._connect",
    ),
    ("    new key", ACME, "generate_private_key"),
    ("    new order + authorizations (_order)", ACME, "AcmeAuthority._order"),
    ("    Route 53 zones", "certrotate.adapters.aws.route53", "Route53Challenges.zones"),
    ("    DNS publish + INSYNC wait", "certrotate.adapters.aws.route53", "Route53Challenges.publish"),
    ("      of which INSYNC wait", "certrotate.adapters.aws.route53", "Route53Challenges._wait_in_sync"),
    # With a lease table, DNS-01 values go through the zone's batch (order/dns_batching.py), the above within.
    ("    DNS publish, batched (DnsBatcher.publish)", BATCHING, "DnsBatcher.publish"),
    ("      member: waiting for the publisher (both ways)", BATCHING, "DnsBatcher._awaited"),
    ("      publisher: gather, change, INSYNC (both ways)", BATCHING, "DnsBatcher._publish"),
    ("    answer challenge", "acme.client", "ClientV2.answer_challenge"),
    (
        "    authorization polling",
        ACME,
        "AcmeAuthority._await_authorizations",
    ),
    ("    DNS cleanup", "certrotate.adapters.aws.route53", "Route53Challenges.remove"),
    ("    DNS cleanup, batched (DnsBatcher.remove)", BATCHING, "DnsBatcher.remove"),
    ("    finalize", "acme.client", "ClientV2.begin_finalization"),
    (
        "    finalization polling + download",
        ACME,
        "AcmeAuthority._await_certificate",
    ),
    # order/issue.py imports validate_issued and calls it by that name: its binding there is the one to wrap.
    ("  validation (validate_issued)", "certrotate.order.issue", "validate_issued"),
    ("  IAM upload", "certrotate.adapters.aws.iam", "IamCertificateStore.upload"),
    ("  repoint (Deployment._repoint)", "certrotate.deploy.deployment", "Deployment._repoint"),
    ("  retirement (Retirement.retire_now)", "certrotate.retire.retirement", "Retirement.retire_now"),
    ("  events (EventBridge)", "certrotate.adapters.aws.events", "EventBridgePublisher.publish"),
]


def _timed(function: Callable[..., Any], label: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    for name in ("cache_clear", "cache_info"):  # functools.cache'd wiring functions: wiring.reset() clears
        if hasattr(function, name):
            setattr(wrapper, name, getattr(function, name))
    return wrapper


def resolve(module_name: str, path: str) -> tuple[Any, str, Any]:
    """`module:path` ("Class.method" or a module-level "function"): the object that holds the attribute, its
    name, and its value as stored there (a staticmethod as such). LookupError when any part is missing:
    the layer moved or renamed it."""
    try:
        owner: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name is None or not module_name.startswith(missing.name):
            raise  # a dependency of an existing module: not a stale name
        raise LookupError(f"{module_name}:{path}: no module {missing.name}") from None
    *parents, name = path.split(".")
    try:
        for parent in parents:
            owner = getattr(owner, parent)
        return owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    except (AttributeError, KeyError):
        raise LookupError(f"{module_name}:{path}: no attribute {path!r} in {module_name}") from None


def install_timers() -> dict[str, float]:
    """Wraps every function of PHASES that exists; returns the totals, filled in as the functions run.
    A function renamed in the layer is reported as missing (label -> -1.0) rather than failing the run
    (tests/unit/project/test_benchmark_targets.py fails on one instead)."""
    totals: dict[str, float] = defaultdict(float)
    for label, module_name, path in PHASES:
        try:
            owner, name, original = resolve(module_name, path)
        except LookupError:
            totals[label] = -1.0
            continue
        if isinstance(original, staticmethod):
            setattr(owner, name, staticmethod(_timed(original.__func__, label, totals)))
        else:
            setattr(owner, name, _timed(original, label, totals))
    return totals
