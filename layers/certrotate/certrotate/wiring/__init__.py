"""Builds boto3 clients and adapters once per container; everything else receives them.

The public face of wiring: the clients (wiring/clients.py) are re-exported here, and the services are built
here from them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from certrotate.adapters.aws.accounts import AccountEvents, AccountLeases
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.alb_http01 import AlbHttp01, fetch_over_http
from certrotate.adapters.aws.cloudfront import CloudFrontDistributions
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.endpoints import AllEndpoints
from certrotate.adapters.aws.errors import account_failure
from certrotate.adapters.aws.events import EventBridgePublisher, NoEvents
from certrotate.adapters.aws.iam import IamCertificateStore
from certrotate.adapters.aws.queue import SqsRotationQueue
from certrotate.adapters.aws.regions import EnabledRegions, FixedRegions
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.adapters.aws.secrets import AccountKeyStore, ExternalAccountKeys
from certrotate.adapters.clock import SystemClock
from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords
from certrotate.adapters.lease_table.dns_batches import DynamoDbDnsBatches
from certrotate.adapters.lease_table.issued_stash import DynamoDbIssuedStash
from certrotate.adapters.lease_table.leases import DynamoDbAccountCreation, DynamoDbLeases
from certrotate.adapters.lease_table.progress import DynamoDbProgress
from certrotate.adapters.lease_table.scan_index import DynamoDbScanIndex, ScanIndexRecords
from certrotate.config import Settings, environment_fingerprint
from certrotate.deploy.deployment import Deployment
from certrotate.deploy.locate import Locator
from certrotate.model import ServerCertificate
from certrotate.order.dns_batching import DnsBatcher
from certrotate.order.ordering import Ordering
from certrotate.order.refusals import NamePolicy
from certrotate.ports import CertificateAuthority, EventPublisher, Leases, RenewalInfoSource
from certrotate.report.metrics import emit_endpoint_check
from certrotate.report.results import RotationResult
from certrotate.report.verify import EndpointChecker
from certrotate.retire.retirement import Retirement
from certrotate.rollback.service import RollbackService
from certrotate.rotate.beside import BesideStages
from certrotate.rotate.pipeline import Rotation
from certrotate.store.base import RotationSettings
from certrotate.store.iam import IamStore
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

if TYPE_CHECKING:
    from certrotate.adapters.acme.authority import AcmeAuthority
    from certrotate.report.verify import EndpointReport
    from certrotate.scan.sweep import Scan
    from certrotate.store.acm_listing import AcmListing

# The names re-exported from clients.py (the builders defined below are public too; the clients' private
# caches are imported for reset()).
__all__ = [
    "ADAPTIVE_CONFIG",
    "ADAPTIVE_SERVICES",
    "BOTO_CONFIG",
    "CLOUDFRONT_PARTITIONS",
    "NO_RETRY_CONFIG",
    "Service",
    "account_failure",
    "account_of",
    "client",
    "global_client",
    "managed_accounts",
    "offers_cloudfront",
    "own_account_id",
    "partition",
    "settings",
]


# The builders below take `account`: None in a single-account stack; with MANAGED_ACCOUNTS, the account whose
# certificates, load balancers and distributions are read and changed (the own account included).
@functools.cache
def certificate_store(account: str | None = None) -> IamCertificateStore:
    return IamCertificateStore(client("iam", account=account))


@functools.cache
def regions(account: str | None = None) -> FixedRegions | EnabledRegions:
    """The regions looked at (load balancers, ACM certificates): one cache for both."""
    named = settings().load_balancer_regions
    # DescribeRegions in the function's own region lists the regions enabled for the account.
    return FixedRegions(named) if named else EnabledRegions(lambda: client("ec2", account=account))


@functools.cache
def endpoints(account: str | None = None) -> AllEndpoints:
    # GovCloud has no CloudFront: no distribution to search there.
    has_cloudfront = offers_cloudfront(partition())
    return AllEndpoints(
        regions(account),
        lambda region: LoadBalancerListeners(
            region, client("elbv2", region, account), client("elb", region, account)
        ),
        (lambda: CloudFrontDistributions(global_client("cloudfront", account))) if has_cloudfront else None,
        partition=partition(),
    )


@functools.cache
def http01(account: str | None = None) -> AlbHttp01:
    """HTTP-01 on the port-80 listeners of the account's ALBs (in the region of each); each token fetched
    as the CA will before the CA is told (through ENDPOINT_CHECK_CONNECT_TO's tunnels, if any); each rule
    recorded in the lease table (`#challenges:<lease key>`) before it is created: only a recorded rule is
    ever removed."""
    from certrotate.adapters.net.tls_probe import ConnectTo, connector

    reach = connector([ConnectTo.parse(rule) for rule in settings().endpoint_check_connect_to])
    return AlbHttp01(
        lambda region: client("elbv2", region, account),
        fetch=fetch_over_http(reach),
        records=_challenge_records(account),
    )


@functools.cache
def events(account: str | None = None) -> EventPublisher:
    """EventBridge of the central account; events of a managed account's work carry its `account_id`."""
    bus = settings().event_bus_name
    central = EventBridgePublisher(client("events"), bus) if bus else NoEvents()
    return central if account is None else AccountEvents(central, account)


@functools.cache
def dns(account: str | None = None) -> Route53Challenges:
    """Route 53 of the account that answers DNS-01 for `account` (DNS_ACCOUNTS; by default its own)."""
    config = settings()
    if not config.dns_accounts:
        return Route53Challenges(global_client("route53", account))
    return Route53Challenges(global_client("route53", config.dns_account_for(account or own_account_id())))


@functools.cache
def authority() -> AcmeAuthority:
    from certrotate.adapters.acme.authority import AcmeAuthority  # heavy: only when an order is placed

    config = settings()
    assert config.acme_account_secret_id is not None
    eab = (
        ExternalAccountKeys(client("secretsmanager"), config.acme_eab_secret_id)
        if config.acme_eab_secret_id
        else None
    )
    return AcmeAuthority(
        directory_url=config.acme_directory_url,
        accounts=_account_keys(),
        email=config.acme_email,
        profile=config.acme_profile,
        external_account=eab.load if eab else None,
    )


def _authority() -> CertificateAuthority:
    return authority()


@functools.cache
def endpoint_checker(account: str | None = None) -> EndpointChecker:
    from certrotate.adapters.aws.addresses import EndpointAddresses
    from certrotate.adapters.net.tls_probe import ConnectTo, connector, fetch_certificates

    reach = connector([ConnectTo.parse(rule) for rule in settings().endpoint_check_connect_to])
    return EndpointChecker(
        store=certificate_store(account),
        pems=certificate_store(account),
        endpoints=endpoints(account),
        addresses=EndpointAddresses(
            lambda service, region=None: client(service, region, account),
            lambda: global_client("cloudfront", account),
        ),
        fetch=lambda host, port, name: fetch_certificates(host, port, name, timeout=5.0, connect=reach),
    )


def _check_endpoints(
    certificate: ServerCertificate, result: RotationResult, deadline: float, account: str | None = None
) -> None:
    from aws_lambda_powertools import Metrics

    from certrotate.report.verify import report_after_repoint

    def emit(report: EndpointReport) -> None:
        # Powertools' Metrics instances share one metric set: the handler flushes these with its own.
        emit_endpoint_check(
            Metrics(), verified=report.verified, mismatches=report.mismatches, unreachable=report.unreachable
        )

    report_after_repoint(lambda: endpoint_checker(account), emit, certificate, result, deadline)


def _rotation_leases(account: str | None) -> Leases:
    """The rotations' leases. The table is central; with MANAGED_ACCOUNTS its key carries the account."""
    config = settings()
    config.require_rotation()
    assert config.lease_table_name is not None
    leases: Leases = DynamoDbLeases(client("dynamodb"), config.lease_table_name)
    return leases if account is None else AccountLeases(leases, account)


def name_policy(account: str | None) -> NamePolicy:
    """The names a certificate of `account` (None: the function's own) may have renewed."""
    config = settings()
    if not config.restricts_names:
        return NamePolicy()  # no ACCOUNT_DOMAINS, no DNS_ACCOUNTS: every account answers for itself
    return config.name_policy(account or own_account_id())


def _challenge_records(account: str | None) -> DynamoDbChallengeRecords:
    """Where rotations write down their DNS-01 values before publishing them: the lease table, keyed like the
    leases (`#challenges:<lease key>`)."""
    config = settings()
    config.require_rotation()
    assert config.lease_table_name is not None
    return DynamoDbChallengeRecords(client("dynamodb"), config.lease_table_name, account)


@functools.cache
def _account_keys() -> AccountKeyStore:
    config = settings()
    assert config.acme_account_secret_id is not None
    return AccountKeyStore(
        client("secretsmanager"),
        config.acme_account_secret_id,
        # One ACME account whatever the concurrency: the first rotations agree on one creator here.
        DynamoDbAccountCreation(client("dynamodb"), config.lease_table_name)
        if config.lease_table_name
        else None,
    )


def _account_key_for_stash() -> dict[str, str] | None:
    """The ACME account key as the issued-certificate stash derives its key from it: `{"key": <JWK JSON>}`."""
    stored = _account_keys().load()
    return {"key": stored.key} if stored is not None else None


@functools.cache
def dns_batching(account: str | None = None) -> DnsBatcher | None:
    """Rotations publishing DNS-01 values in one hosted zone at the same time share one Route 53 change
    (dns_batching.py), meeting in the lease table (`#dns-batch:<zone id>`); without a table, each its own."""
    config = settings()
    if not config.lease_table_name:
        return None
    return DnsBatcher(
        dns(account),
        DynamoDbDnsBatches(client("dynamodb"), config.lease_table_name),
        _challenge_records(account),
    )


def _issued_stash(account: str | None) -> DynamoDbIssuedStash:
    """Where a certificate issued but not stored yet is kept, encrypted with a key derived from the ACME
    account key (read only when one is kept or found): the lease table, `#issued:<lease key>`."""
    config = settings()
    config.require_rotation()
    assert config.lease_table_name is not None
    return DynamoDbIssuedStash(client("dynamodb"), config.lease_table_name, _account_key_for_stash, account)


def _rotation_settings(account: str | None) -> RotationSettings:
    config = settings()
    return RotationSettings(
        renew_before_days=config.renew_before_days,
        lease_seconds=config.rotation_lease_seconds,
        grace_seconds=config.retirement_grace_seconds,
        trust_roots=config.issuer_trust,
        sni_swap_when_full=config.sni_swap_when_full,
        names=name_policy(account),
        acme_profile=config.acme_profile,
        hold_context=config.hold_context,
    )


def progress_records(account: str | None) -> DynamoDbProgress:
    """Rotations' progress records in the (central) lease table, keyed like the leases."""
    config = settings()
    assert config.lease_table_name is not None
    return DynamoDbProgress(client("dynamodb"), config.lease_table_name, account)


@functools.cache
def rotation_service(account: str | None = None) -> Rotation:
    """The rotation of IAM server certificates: the one pipeline, with the IAM store and its beside stages
    (locate, deploy, retire)."""
    config = settings()
    leases = _rotation_leases(account)
    assert config.lease_table_name is not None  # _rotation_leases requires it
    # The scan's index (its item of this account) says where its last search saw each certificate served.
    index = DynamoDbScanIndex(client("dynamodb"), config.lease_table_name, account)
    rotation_settings = _rotation_settings(account)
    clock = SystemClock()
    iam = certificate_store(account)
    progress = progress_records(account)
    stash = _issued_stash(account)
    locator = Locator(endpoints(account), ScanIndexRecords(index), clock)
    beside = BesideStages(
        locator=locator,
        deployment=Deployment(
            store=iam,
            endpoints=endpoints(account),
            progress=progress,
            locator=locator,
            clock=clock,
            sni_swap_when_full=config.sni_swap_when_full,
            after_repoint=(
                functools.partial(_check_endpoints, account=account)
                if config.check_endpoints_after_rotation
                else None
            ),
        ),
        retirement=Retirement(
            endpoints=endpoints(account),
            store=iam,
            events=events(account),
            clock=clock,
            grace_seconds=config.retirement_grace_seconds,
            forget=progress,
        ),
    )
    return Rotation(
        store=IamStore(iam=iam, progress=progress, clock=clock, settings=rotation_settings, stash=stash),
        ordering=_ordering(account, rotation_settings, stash, http01=http01(account)),
        beside=beside,
        leases=leases,
        progress=progress,
        stash=stash,
        events=events(account),
        clock=clock,
        settings=rotation_settings,
        renewal_info=renewal_info,
    )


def _ordering(
    account: str | None,
    rotation_settings: RotationSettings,
    stash: DynamoDbIssuedStash,
    *,
    http01: AlbHttp01 | None = None,
) -> Ordering:
    """Orders and their challenges: DNS-01 in the account's Route 53 (and HTTP-01 on its ALBs, when given)."""
    return Ordering(
        dns=dns(account),
        authority=_authority,
        clock=SystemClock(),
        settings=rotation_settings,
        http01=http01,
        challenge_records=_challenge_records(account),
        dns_batching=dns_batching(account),
        stash=stash,
    )


@functools.cache
def rollback_service(account: str | None = None) -> RollbackService:
    """The rollback (`{"action": "rollback"}`): the rotation's store, endpoints, leases, progress records
    (which prove the pair) and events."""
    config = settings()
    return RollbackService(
        store=certificate_store(account),
        endpoints=endpoints(account),
        leases=_rotation_leases(account),
        progress=progress_records(account),
        events=events(account),
        clock=SystemClock(),
        lease_seconds=config.rotation_lease_seconds,
        sni_swap_when_full=config.sni_swap_when_full,
    )


@functools.cache
def scan_service(*, dry_run: bool, account: str | None = None) -> Scan:
    from certrotate.check.verifier import ClaimVerifier
    from certrotate.scan.learning import RenewalLearner
    from certrotate.scan.sweep import Scan, ScanSettings
    from certrotate.scan.tags import TagIndex
    from certrotate.store.iam_listing import IamListing

    config = settings()
    if not dry_run:
        config.require_scan()
    queue = SqsRotationQueue(client("sqs"), config.rotation_queue_url) if config.rotation_queue_url else None
    store = certificate_store(account)
    clock = SystemClock()
    scan_settings = ScanSettings(
        renew_before_days=config.renew_before_days,
        lease_seconds=config.rotation_lease_seconds,
        grace_seconds=config.retirement_grace_seconds,
        account_id=account,
        hold_context=config.hold_context,
    )
    # Rotations' own records, which prove (or not) what the bookkeeping tags claim, with the roots a
    # replacement must chain to for a claim about it to hold.
    claims = (
        ClaimVerifier(
            store=store, progress=progress_records(account), trust_roots=config.issuer_trust, clock=clock
        )
        if config.lease_table_name
        else None
    )
    return Scan(
        iam=IamListing(store, claims),
        endpoints=endpoints(account),
        queue=queue,
        events=events(account),
        clock=clock,
        settings=scan_settings,
        learner=RenewalLearner(
            renewal_info=renewal_info, clock=clock, renew_before_days=config.renew_before_days
        ),
        acm=acm_scan(account),
        # The lease table is central; with MANAGED_ACCOUNTS each account has its own index item.
        index=TagIndex(
            DynamoDbScanIndex(client("dynamodb"), config.lease_table_name, account)
            if config.lease_table_name
            else None,
            renew_before_days=config.renew_before_days,
        ),
    )


@functools.cache
def acm_certificates(account: str | None = None) -> AcmCertificateStore:
    """ACM of every region the stack looks at (LOAD_BALANCER_REGIONS, else every enabled region)."""
    return AcmCertificateStore(
        regions(account),
        lambda region: client("acm", region, account),
        import_client_for=lambda region: _acm_import_client(region, account),
    )


@functools.cache
def acm_rotation_service(account: str | None = None) -> Rotation:
    """The rotation of ACM imported certificates: the one pipeline, with the ACM store (re-imported in
    place: nothing to locate, move or retire) and DNS-01 only."""
    from certrotate.store.acm import AcmStore  # only for ACM rotations

    rotation_settings = _rotation_settings(account)
    clock = SystemClock()
    progress = progress_records(account)  # keyed like the leases
    stash = _issued_stash(account)
    return Rotation(
        store=AcmStore(
            acm=acm_certificates(account),
            progress=progress,
            clock=clock,
            settings=rotation_settings,
            stash=stash,
        ),
        ordering=_ordering(account, rotation_settings, stash),
        beside=None,
        leases=_rotation_leases(account),  # keyed by the ARN (with MANAGED_ACCOUNTS, `<account>:<ARN>`)
        progress=progress,
        stash=stash,
        events=events(account),
        clock=clock,
        settings=rotation_settings,
    )


@functools.cache
def acm_scan(account: str | None = None) -> AcmListing:
    """ACM's imported certificates as the scan sweeps them (after IAM's, into the same result)."""
    from certrotate.store.acm_listing import AcmListing

    return AcmListing(acm_certificates(account))


@functools.cache
def renewal_info() -> RenewalInfoSource:
    from certrotate.adapters.acme.renewal_info import AcmeRenewalInfo  # heavy (acme): built only for a scan

    return AcmeRenewalInfo(settings().acme_directory_url)


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
