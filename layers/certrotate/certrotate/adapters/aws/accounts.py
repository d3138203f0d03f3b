"""Member accounts: a boto3 session per account from `sts:AssumeRole`, and the central adapters (events,
leases) scoped to the account a rotation works in.

The assumed credentials are botocore `RefreshableCredentials`: botocore calls AssumeRole again before they
expire (15 minutes ahead by default), so a long rotation in a warm container never uses stale credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import AccountUnreachable
from certrotate.ports import EventPublisher, Lease, Leases

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

SESSION_NAME = "certrotate"  # CloudTrail in the member account shows every call as certrotate's
SESSION_SECONDS = 3600  # the role's MaxSessionDuration default; refreshed before it runs out


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def assumed_session(sts: STSClient, arn: str, account_id: str, region: str) -> boto3.session.Session:
    """A session in `account_id` through its member role; AssumeRole is called now, so a missing role or a
    trust policy that does not trust us fails here, named, rather than at the first API call."""

    def fetch() -> dict[str, str]:
        try:
            credentials = sts.assume_role(
                RoleArn=arn, RoleSessionName=SESSION_NAME, DurationSeconds=SESSION_SECONDS
            )["Credentials"]
        except ClientError as exc:
            raise AccountUnreachable(account_id, arn, error_code(exc), str(exc)) from None
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    refreshable = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    core = botocore.session.get_session()
    core._credentials = refreshable  # type: ignore[attr-defined]  # the usual way to hand botocore a provider
    return boto3.session.Session(botocore_session=core, region_name=region)


class AccountEvents:
    """EventBridge stays central; every event of a member account's work names the account."""

    def __init__(self, inner: EventPublisher, account_id: str) -> None:
        self._inner = inner
        self._account_id = account_id

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        self._inner.publish(detail_type, {**detail, "account_id": self._account_id})


class AccountLeases:
    """The lease table stays central: its key is `<account>:<certificate name>`, so certificates of the same
    name in two accounts never block each other."""

    def __init__(self, inner: Leases, account_id: str) -> None:
        self._inner = inner
        self._account_id = account_id

    def acquire(self, certificate_name: str, *, seconds: int) -> Lease:
        return self._inner.acquire(f"{self._account_id}:{certificate_name}", seconds=seconds)

    def renew(self, lease: Lease, *, seconds: int) -> Lease:
        return self._inner.renew(lease, seconds=seconds)

    def release(self, lease: Lease) -> None:
        self._inner.release(lease)
