"""Builds boto3 clients and adapters once per container; everything else receives them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

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
from certrotate.ports import CertificateAuthority, EventPublisher
from certrotate.rotation import RotationService, RotationSettings
from certrotate.scan import ScanService, ScanSettings

if TYPE_CHECKING:  # boto3-stubs: development only, not in the layer
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

    from certrotate.adapters.acme import AcmeAuthority

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


Service = Literal["cloudfront", "elb", "elbv2", "events", "iam", "route53", "secretsmanager", "sqs"]


# One overload per service, as boto3-stubs types Session.client: each caller gets its service's client type.
@overload
def client(service: Literal["cloudfront"], region: str | None = None) -> CloudFrontClient: ...
@overload
def client(service: Literal["elb"], region: str | None = None) -> ElasticLoadBalancingClient: ...
@overload
def client(service: Literal["elbv2"], region: str | None = None) -> ElasticLoadBalancingv2Client: ...
@overload
def client(service: Literal["events"], region: str | None = None) -> EventBridgeClient: ...
@overload
def client(service: Literal["iam"], region: str | None = None) -> IAMClient: ...
@overload
def client(service: Literal["route53"], region: str | None = None) -> Route53Client: ...
@overload
def client(service: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...
@overload
def client(service: Literal["sqs"], region: str | None = None) -> SQSClient: ...
def client(service: Service, region: str | None = None) -> Any:
    """One client per service and region per container, with certrotate's retries and timeouts."""
    return _client(service, region or settings().region)


@functools.cache
def _client(service: Service, region: str) -> Any:
    # Session.client's overloads take one literal each; the public overloads above type the result.
    make: Callable[..., Any] = _session().client
    return make(service, region_name=region, config=BOTO_CONFIG)


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
        _client,
        certificate_store,
        endpoints,
        events,
        dns,
        authority,
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
