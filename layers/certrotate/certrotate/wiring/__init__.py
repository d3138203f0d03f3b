"""Builds boto3 clients, adapters and use cases once per container, from the settings; everything else
receives them. The public face: wiring/clients.py (sessions and clients), wiring/adapters.py (one builder per
outside system) and wiring/services.py (the use cases) are re-exported here, and reset() forgets them all."""

from __future__ import annotations

from certrotate.adapters.aws.errors import account_failure
from certrotate.config import Settings, environment_fingerprint
from certrotate.wiring.adapters import (
    _account_keys,
    acm_certificates,
    authority,
    certificate_store,
    dns,
    dns_batching,
    endpoints,
    events,
    http01,
    name_policy,
    progress_records,
    regions,
    renewal_info,
)
from certrotate.wiring.clients import (
    ADAPTIVE_CONFIG,
    ADAPTIVE_SERVICES,
    BOTO_CONFIG,
    CLOUDFRONT_PARTITIONS,
    NO_RETRY_CONFIG,
    Service,
    _acm_import_client,
    _client,
    _member_session,
    _session,
    account_of,
    client,
    global_client,
    managed_accounts,
    offers_cloudfront,
    own_account_id,
    partition,
    settings,
)
from certrotate.wiring.services import (
    acm_rotation_service,
    acm_scan,
    endpoint_checker,
    rollback_service,
    rotation_service,
    scan_service,
)

# Public names (the builders' private caches are imported for reset()).
__all__ = [
    "ADAPTIVE_CONFIG",
    "ADAPTIVE_SERVICES",
    "BOTO_CONFIG",
    "CLOUDFRONT_PARTITIONS",
    "NO_RETRY_CONFIG",
    "Service",
    "account_failure",
    "account_of",
    "acm_certificates",
    "acm_rotation_service",
    "acm_scan",
    "authority",
    "certificate_store",
    "client",
    "dns",
    "dns_batching",
    "endpoint_checker",
    "endpoints",
    "events",
    "global_client",
    "http01",
    "managed_accounts",
    "name_policy",
    "offers_cloudfront",
    "own_account_id",
    "partition",
    "progress_records",
    "regions",
    "renewal_info",
    "rollback_service",
    "rotation_service",
    "scan_service",
    "settings",
]


def reset() -> None:
    """Forget everything built (tests and the demo change the environment between invocations)."""
    for cached in (
        settings,
        _session,
        _client,
        own_account_id,
        _member_session,
        partition,
        regions,
        certificate_store,
        endpoints,
        http01,
        events,
        dns,
        dns_batching,
        authority,
        _account_keys,
        endpoint_checker,
        rotation_service,
        rollback_service,
        scan_service,
        renewal_info,
        acm_certificates,
        _acm_import_client,
        acm_rotation_service,
        acm_scan,
    ):
        cached.cache_clear()


_built_for: tuple[tuple[str, str], ...] | None = None


def refresh() -> Settings:
    """Called at the start of each invocation: reuses what a warm container built, unless the environment
    changed; then checks the settings (raising ConfigurationError with every problem named)."""
    global _built_for
    fingerprint = environment_fingerprint()
    if fingerprint != _built_for:
        reset()
        _built_for = fingerprint
    return settings()
