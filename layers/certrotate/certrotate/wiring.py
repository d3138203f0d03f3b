"""Builds boto3 clients and adapters once per container; everything else receives them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from certrotate.adapters.cloudfront import CloudFrontDistributions
from certrotate.adapters.elb import LoadBalancerListeners
from certrotate.adapters.endpoints import AllEndpoints
from certrotate.adapters.events import EventBridgePublisher, NoEvents
from certrotate.adapters.iam import IamCertificateStore
from certrotate.adapters.queue import SqsRotationQueue
from certrotate.adapters.route53 import Route53Challenges
from certrotate.adapters.secrets import AccountKeyStore, SecretLeases
from certrotate.clock import SystemClock
from certrotate.config import Settings, environment_fingerprint, load_settings
from certrotate.endpoint_check import EndpointChecker
from certrotate.model import ServerCertificate
from certrotate.ports import CertificateAuthority, EventPublisher
from certrotate.rotation import RotationResult, RotationService, RotationSettings
from certrotate.scan import ScanService, ScanSettings

if TYPE_CHECKING:
    from certrotate.adapters.acme import AcmeAuthority
    from certrotate.endpoint_check import EndpointReport

# Throttling (Throttling, PriorRequestNotComplete, TooManyRequestsException, ...) is retried by botocore's
# standard mode with exponential backoff and jitter; 8 attempts ride out Route 53's 5 requests per second.
BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="certrotate/0.1",
)
GLOBAL_REGION = "us-east-1"  # IAM, Route 53 and CloudFront are global; their endpoints live here


@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def client(service: str, region: str | None = None) -> Any:
    return _session().client(service, region_name=region or settings().region, config=BOTO_CONFIG)  # type: ignore[call-overload]


@functools.cache
def certificate_store() -> IamCertificateStore:
    return IamCertificateStore(client("iam"))


@functools.cache
def endpoints() -> AllEndpoints:
    regions = [
        LoadBalancerListeners(region, client("elbv2", region), client("elb", region))
        for region in settings().load_balancer_regions
    ]
    return AllEndpoints(regions, lambda: CloudFrontDistributions(client("cloudfront", GLOBAL_REGION)))


@functools.cache
def events() -> EventPublisher:
    bus = settings().event_bus_name
    return EventBridgePublisher(client("events"), bus) if bus else NoEvents()


@functools.cache
def dns() -> Route53Challenges:
    return Route53Challenges(client("route53", GLOBAL_REGION))


@functools.cache
def authority() -> AcmeAuthority:
    from certrotate.adapters.acme import AcmeAuthority  # heavy: only when an order is placed

    config = settings()
    assert config.acme_account_secret_id is not None
    return AcmeAuthority(
        directory_url=config.acme_directory_url,
        accounts=AccountKeyStore(client("secretsmanager"), config.acme_account_secret_id),
        email=config.acme_email,
        profile=config.acme_profile,
    )


def _authority() -> CertificateAuthority:
    return authority()


@functools.cache
def endpoint_checker() -> EndpointChecker:
    from certrotate.adapters.addresses import EndpointAddresses
    from certrotate.adapters.tls_probe import ConnectTo, connector, fetch_certificates

    reach = connector([ConnectTo.parse(rule) for rule in settings().endpoint_check_connect_to])
    return EndpointChecker(
        store=certificate_store(),
        pems=certificate_store(),
        endpoints=endpoints(),
        addresses=EndpointAddresses(client),
        fetch=lambda host, port, name: fetch_certificates(host, port, name, timeout=5.0, connect=reach),
    )


def _check_endpoints(certificate: ServerCertificate, result: RotationResult, deadline: float) -> None:
    from aws_lambda_powertools import Metrics

    from certrotate import telemetry
    from certrotate.endpoint_check import report_after_repoint

    def emit(report: EndpointReport) -> None:
        # Powertools' Metrics instances share one metric set: the handler flushes these with its own.
        telemetry.emit_endpoint_check(
            Metrics(), verified=report.verified, mismatches=report.mismatches, unreachable=report.unreachable
        )

    report_after_repoint(endpoint_checker, emit, certificate, result, deadline)


@functools.cache
def rotation_service() -> RotationService:
    config = settings()
    config.require_rotation()
    return RotationService(
        store=certificate_store(),
        endpoints=endpoints(),
        dns=dns(),
        authority=_authority,
        leases=SecretLeases(client("secretsmanager"), config.lease_secret_prefix),
        events=events(),
        clock=SystemClock(),
        settings=RotationSettings(
            renew_before_days=config.renew_before_days,
            lease_seconds=config.rotation_lease_seconds,
            grace_seconds=config.retirement_grace_seconds,
            trust_bundle=config.issuer_trust_bundle,
        ),
        after_repoint=_check_endpoints if config.check_endpoints_after_rotation else None,
    )


@functools.cache
def scan_service(*, dry_run: bool) -> ScanService:
    config = settings()
    if not dry_run:
        config.require_scan()
    queue = SqsRotationQueue(client("sqs"), config.rotation_queue_url) if config.rotation_queue_url else None
    return ScanService(
        store=certificate_store(),
        endpoints=endpoints(),
        queue=queue,
        events=events(),
        clock=SystemClock(),
        settings=ScanSettings(
            renew_before_days=config.renew_before_days,
            lease_seconds=config.rotation_lease_seconds,
            grace_seconds=config.retirement_grace_seconds,
        ),
    )


def reset() -> None:
    """Forget everything built (tests and the demo change the environment between invocations)."""
    for cached in (
        settings,
        _session,
        client,
        certificate_store,
        endpoints,
        events,
        dns,
        authority,
        endpoint_checker,
        rotation_service,
        scan_service,
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
