"""The use cases (rotation, rollback, scan) built once per container from the adapters and the settings."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from certrotate.adapters.aws.alb_http01 import AlbHttp01
from certrotate.adapters.aws.queue import SqsRotationQueue
from certrotate.adapters.clock import SystemClock
from certrotate.adapters.lease_table.issued_stash import DynamoDbIssuedStash
from certrotate.adapters.lease_table.scan_index import DynamoDbScanIndex, ScanIndexRecords
from certrotate.deploy.deployment import Deployment
from certrotate.deploy.locate import Locator
from certrotate.model import ServerCertificate
from certrotate.order.ordering import Ordering
from certrotate.report.metrics import emit_endpoint_check
from certrotate.report.results import RotationResult
from certrotate.report.verify import EndpointChecker
from certrotate.retire.retirement import Retirement
from certrotate.rollback.service import RollbackService
from certrotate.rotate.beside import BesideStages
from certrotate.rotate.pipeline import Rotation
from certrotate.store.base import RotationSettings
from certrotate.store.iam import IamStore
from certrotate.wiring.adapters import (
    _authority,
    _challenge_records,
    _issued_stash,
    _rotation_leases,
    acm_certificates,
    certificate_store,
    dns,
    dns_batching,
    endpoints,
    events,
    http01,
    name_policy,
    progress_records,
    renewal_info,
)
from certrotate.wiring.clients import (
    client,
    global_client,
    settings,
)

if TYPE_CHECKING:
    from certrotate.report.verify import EndpointReport
    from certrotate.scan.sweep import Scan
    from certrotate.store.acm_listing import AcmListing


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
