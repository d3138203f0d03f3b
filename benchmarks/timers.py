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
PHASES: list[tuple[str, str, str]] = [
    ("settings + clients (wiring.rotation_service)", "certrotate.wiring", "rotation_service"),
    ("rotation (RotationService.rotate)", "certrotate.rotation", "RotationService.rotate"),
    ("  lease acquire", "certrotate.adapters.lease_table.leases", "DynamoDbLeases.acquire"),
    ("  ACME client (wiring.authority)", "certrotate.wiring", "authority"),
    ("  endpoints (RotationService._serving)", "certrotate.rotation", "RotationService._serving"),
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
    # With a lease table, DNS-01 values go through the zone's batch (dns_batching.py), the above within.
    ("    DNS publish, batched (DnsBatcher.publish)", "certrotate.dns_batching", "DnsBatcher.publish"),
    ("      member: waiting for the publisher (both ways)", "certrotate.dns_batching", "DnsBatcher._awaited"),
    ("      publisher: gather, change, INSYNC (both ways)", "certrotate.dns_batching", "DnsBatcher._publish"),
    ("    answer challenge", "acme.client", "ClientV2.answer_challenge"),
    (
        "    authorization polling",
        ACME,
        "AcmeAuthority._await_authorizations",
    ),
    ("    DNS cleanup", "certrotate.adapters.aws.route53", "Route53Challenges.remove"),
    ("    DNS cleanup, batched (DnsBatcher.remove)", "certrotate.dns_batching", "DnsBatcher.remove"),
    ("    finalize", "acme.client", "ClientV2.begin_finalization"),
    (
        "    finalization polling + download",
        ACME,
        "AcmeAuthority._await_certificate",
    ),
    ("  validation (validate_issued)", "certrotate.rotation", "validate_issued"),
    ("  IAM upload", "certrotate.adapters.aws.iam", "IamCertificateStore.upload"),
    ("  repoint (RotationService._repoint)", "certrotate.rotation", "RotationService._repoint"),
    ("  retirement (RotationService._retire)", "certrotate.rotation", "RotationService._retire"),
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


def install_timers() -> dict[str, float]:
    """Wraps every function of PHASES that exists; returns the totals, filled in as the functions run.
    A function renamed in the layer is reported as missing (label -> -1.0) rather than failing the run."""
    totals: dict[str, float] = defaultdict(float)
    for label, module_name, path in PHASES:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        try:
            for parent in parents:
                owner = getattr(owner, parent)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        except (AttributeError, KeyError):
            totals[label] = -1.0
            continue
        if isinstance(original, staticmethod):
            setattr(owner, name, staticmethod(_timed(original.__func__, label, totals)))
        else:
            setattr(owner, name, _timed(original, label, totals))
    return totals
