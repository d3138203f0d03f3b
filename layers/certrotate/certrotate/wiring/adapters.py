"""The adapters, built once per container (and per account): one function per outside system, cached."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from certrotate.adapters.aws.accounts import AccountEvents, AccountLeases
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.alb_http01 import AlbHttp01, fetch_over_http
from certrotate.adapters.aws.cloudfront import CloudFrontDistributions
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.endpoints import AllEndpoints
from certrotate.adapters.aws.events import EventBridgePublisher, NoEvents
from certrotate.adapters.aws.iam import IamCertificateStore
from certrotate.adapters.aws.regions import EnabledRegions, FixedRegions
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.adapters.aws.secrets import AccountKeyStore, ExternalAccountKeys
from certrotate.adapters.lease_table.challenge_records import DynamoDbChallengeRecords
from certrotate.adapters.lease_table.dns_batches import DynamoDbDnsBatches
from certrotate.adapters.lease_table.issued_stash import DynamoDbIssuedStash
from certrotate.adapters.lease_table.leases import DynamoDbAccountCreation, DynamoDbLeases
from certrotate.adapters.lease_table.progress import DynamoDbProgress
from certrotate.order.dns_batching import DnsBatcher
from certrotate.order.refusals import NamePolicy
from certrotate.ports import CertificateAuthority, EventPublisher, Leases, RenewalInfoSource
from certrotate.wiring.clients import (
    _acm_import_client,
    client,
    global_client,
    offers_cloudfront,
    own_account_id,
    partition,
    settings,
)

if TYPE_CHECKING:
    from certrotate.adapters.acme.authority import AcmeAuthority


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
    (order/dns_batching.py), meeting in the lease table (`#dns-batch:<zone id>`); without a table, each its
    own."""
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


def progress_records(account: str | None) -> DynamoDbProgress:
    """Rotations' progress records in the (central) lease table, keyed like the leases."""
    config = settings()
    assert config.lease_table_name is not None
    return DynamoDbProgress(client("dynamodb"), config.lease_table_name, account)


@functools.cache
def acm_certificates(account: str | None = None) -> AcmCertificateStore:
    """ACM of every region the stack looks at (LOAD_BALANCER_REGIONS, else every enabled region)."""
    return AcmCertificateStore(
        regions(account),
        lambda region: client("acm", region, account),
        import_client_for=lambda region: _acm_import_client(region, account),
    )


@functools.cache
def renewal_info() -> RenewalInfoSource:
    from certrotate.adapters.acme.renewal_info import AcmeRenewalInfo  # heavy (acme): built only for a scan

    return AcmeRenewalInfo(settings().acme_directory_url)
