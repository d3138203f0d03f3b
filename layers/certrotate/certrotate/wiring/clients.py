"""boto3 sessions and clients, one per service, region and account per container, with certrotate's retries
and timeouts; the settings they are built from; which account a request names (its member role's session)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from certrotate import USER_AGENT
from certrotate.adapters.aws.accounts import assumed_session, role_arn
from certrotate.config import Settings, load_settings
from certrotate.errors import InvalidRequest

if TYPE_CHECKING:  # boto3-stubs: development only, not in the layer
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

# Throttling (Throttling, PriorRequestNotComplete, TooManyRequestsException, ...) is retried by botocore's
# standard mode with exponential backoff and jitter; 8 attempts ride out Route 53's 5 requests per second.
BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra=USER_AGENT,
)

# Where many threads of one container share one client and one account-wide bucket (the scan reads tags on
# iam.TAG_READERS threads), botocore's adaptive mode adds a client-side rate limiter that slows all of them
# down once IAM throttles, instead of each thread retrying on its own schedule. Only there: the regions are
# searched with one client each (ELB's buckets are per region), and a rotation's Route 53 calls are
# sequential, so a client-side limiter would have nothing to share (and it cannot span containers).
ADAPTIVE_SERVICES = frozenset({"iam"})
ADAPTIVE_CONFIG = BOTO_CONFIG.merge(Config(retries={"mode": "adaptive", "max_attempts": 8}))

# ACM imports retry nothing in botocore: its standard mode takes LimitExceededException (ACM's yearly quota of
# imports) for throttling; adapters.aws.acm retries what is transient itself.
NO_RETRY_CONFIG = BOTO_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1}))


# Route 53 and CloudFront are global services: a client built in any region of a partition is sent by
# botocore's endpoint rules to that partition's global endpoint and signed for the region that serves it
# (us-east-1 in aws, cn-northwest-1 in aws-cn, us-gov-west-1 for Route 53 in aws-us-gov). What the rules
# cannot say is where CloudFront does not exist: they resolve an endpoint for it in every partition, even
# GovCloud. It is offered in the commercial and China partitions only (the AWS GovCloud (US) User Guide lists
# no CloudFront; nor do the isolated partitions), so anywhere else no distribution is searched or changed.
CLOUDFRONT_PARTITIONS = frozenset({"aws", "aws-cn"})


def offers_cloudfront(partition: str) -> bool:
    return partition in CLOUDFRONT_PARTITIONS


# The settings live here, not in the face: the clients are built from them, and the face imports this module.
@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


Service = Literal[
    "acm",
    "cloudfront",
    "dynamodb",
    "ec2",
    "elb",
    "elbv2",
    "events",
    "iam",
    "route53",
    "secretsmanager",
    "sqs",
    "sts",
]


# One overload per service, as boto3-stubs types Session.client: each caller gets its service's client type.
@overload
def client(service: Literal["acm"], region: str | None = None, account: str | None = None) -> ACMClient: ...
@overload
def client(
    service: Literal["cloudfront"], region: str | None = None, account: str | None = None
) -> CloudFrontClient: ...
@overload
def client(
    service: Literal["dynamodb"], region: str | None = None, account: str | None = None
) -> DynamoDBClient: ...
@overload
def client(service: Literal["ec2"], region: str | None = None, account: str | None = None) -> EC2Client: ...
@overload
def client(
    service: Literal["elb"], region: str | None = None, account: str | None = None
) -> ElasticLoadBalancingClient: ...
@overload
def client(
    service: Literal["elbv2"], region: str | None = None, account: str | None = None
) -> ElasticLoadBalancingv2Client: ...
@overload
def client(
    service: Literal["events"], region: str | None = None, account: str | None = None
) -> EventBridgeClient: ...
@overload
def client(service: Literal["iam"], region: str | None = None, account: str | None = None) -> IAMClient: ...
@overload
def client(
    service: Literal["route53"], region: str | None = None, account: str | None = None
) -> Route53Client: ...
@overload
def client(
    service: Literal["secretsmanager"], region: str | None = None, account: str | None = None
) -> SecretsManagerClient: ...
@overload
def client(service: Literal["sqs"], region: str | None = None, account: str | None = None) -> SQSClient: ...
@overload
def client(service: Literal["sts"], region: str | None = None, account: str | None = None) -> STSClient: ...
def client(service: Service, region: str | None = None, account: str | None = None) -> Any:
    """One client per service, region and account per container, with certrotate's retries and timeouts.
    `account` None (or the function's own): the function's credentials; else the account's member role."""
    return _client(service, region or settings().region, _scope(account))


# boto3 sessions are not thread-safe: the scan builds clients of several accounts at once.
_building = threading.RLock()


@functools.cache
def _client(service: Service, region: str, account: str | None = None) -> Any:
    with _building:
        # Session.client's overloads take one literal each; the public overloads above type the result.
        make: Callable[..., Any] = (_session() if account is None else _member_session(account)).client
        config = ADAPTIVE_CONFIG if service in ADAPTIVE_SERVICES else BOTO_CONFIG
        return make(service, region_name=region, config=config)


@functools.cache
def own_account_id() -> str:
    # GetCallerIdentity needs no permission; asked only by a stack that manages accounts.
    return client("sts").get_caller_identity()["Account"]


def _scope(account: str | None) -> str | None:
    """None for the function's own account (its own credentials), else the member account's id."""
    if account is None or account == own_account_id():
        return None
    return account


@functools.cache
def _member_session(account: str) -> boto3.session.Session:
    """A session in `account` through its member role (AssumeRole now, refreshed before expiry).
    An account that cannot be reached raises AccountUnreachable, and is asked again next time."""
    arn = role_arn(partition(), account, settings().member_role_name)
    with _building:
        return assumed_session(client("sts"), arn, account, settings().region)


def managed_accounts() -> tuple[str, ...]:
    """The accounts a scan walks: MANAGED_ACCOUNTS, or () for the function's own account only."""
    return settings().managed_accounts


def account_of(requested: str | None) -> str | None:
    """The account a request names, checked: None in a single-account stack (its own account)."""
    config = settings()
    if not config.many_accounts:
        if requested is not None and requested != own_account_id():
            raise InvalidRequest(
                f"account_id {requested} is not this function's account and MANAGED_ACCOUNTS is not set"
            )
        return None
    account = requested or own_account_id()
    if account not in config.managed_accounts:
        raise InvalidRequest(
            f"account {account} is not in MANAGED_ACCOUNTS ({', '.join(config.managed_accounts)})"
        )
    return account


@functools.cache
def partition() -> str:
    return _session().get_partition_for_region(settings().region)


@overload
def global_client(service: Literal["cloudfront"], account: str | None = None) -> CloudFrontClient: ...
@overload
def global_client(service: Literal["route53"], account: str | None = None) -> Route53Client: ...
def global_client(service: Literal["cloudfront", "route53"], account: str | None = None) -> Any:
    """A client of a global service in the function's partition (built in the function's region: botocore
    sends it to the partition's global endpoint)."""
    if service == "cloudfront" and not offers_cloudfront(partition()):
        raise RuntimeError(f"{service} is not offered in the {partition()} partition")
    return client(service, None, account)


@functools.cache
def _acm_import_client(region: str, account: str | None) -> ACMClient:
    with _building:
        scoped = _scope(account)
        session = _session() if scoped is None else _member_session(scoped)
        acm: ACMClient = session.client("acm", region_name=region, config=NO_RETRY_CONFIG)
        return acm
