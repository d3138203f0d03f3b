"""Powertools Parser models of the events the functions accept. Imported on first use only: pydantic costs
~130 ms of cold start, and the daily scheduled scan never needs it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# ASCII only: `\w` and `\d` accept Unicode letters and digits in pydantic's (Rust) regex as in Python's, and
# IAM names and account ids are ASCII. `$` ends the input in the Rust engine (no final newline slips by).
CERTIFICATE_NAME = r"^[A-Za-z0-9_+=,.@-]{1,128}$"
# A scan's Lambda request id or a uuid; an operator's own id may be any such token.
CORRELATION_ID = r"^[A-Za-z0-9._:/+=@-]{1,128}$"
ACCOUNT_ID = r"^[0-9]{12}$"
REGION = r"^(global|[a-z]{2}(-[a-z]+)+-[0-9]{1,2})$"  # "global": CloudFront
# An ARN, a "<load balancer>:<port>" or a distribution id: printable ASCII, no spaces.
RESOURCE = r"^[\x21-\x7e]+$"


class _Strict(BaseModel):
    # strict: "yes" or 1 is not a boolean; forbid: an unknown field is a typo, not something to ignore.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RotateRequestModel(_Strict):
    certificate_name: str = Field(pattern=CERTIFICATE_NAME)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID)  # MANAGED_ACCOUNTS; None: own account
    force: bool = False
    dry_run: bool = False


class RollbackRequestModel(_Strict):
    """{"action": "rollback", "certificate_name": ...}: the endpoints of a replacement go back to the
    certificate it replaced (either may be named), and both are held until a forced rotation."""

    action: Literal["rollback"]
    certificate_name: str = Field(pattern=CERTIFICATE_NAME)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID)
    dry_run: bool = False


class ScanRequestModel(_Strict):
    dry_run: bool = False
    refresh_tags: bool = False
    renewal_info_only: bool = False


class EndpointSeenModel(_Strict):
    kind: Literal["elbv2-listener", "classic-listener", "cloudfront-distribution"]
    region: str = Field(max_length=64, pattern=REGION)
    resource_id: str = Field(min_length=1, max_length=2048, pattern=RESOURCE)
    load_balancer: str = Field(max_length=2048, pattern=r"^[\x21-\x7e]*$")


class KnownEndpointsModel(_Strict):
    """The endpoints the scan saw serving the certificate, and when (an ISO 8601 time with its offset)."""

    seen_at: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$")
    serving: list[EndpointSeenModel] = Field(max_length=200)


class RotationMessageModel(BaseModel):
    """A message on the rotation queue (written by the scan, or by an operator). `force` is read so that a
    message asking for it is recognised, and never honoured (only a direct invocation forces)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    certificate_name: str = Field(pattern=CERTIFICATE_NAME)
    force: bool = False
    reason: str | None = None
    correlation_id: str | None = Field(default=None, pattern=CORRELATION_ID)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID)
    endpoints: KnownEndpointsModel | None = None  # from the scan's search: the rotation need not search
    # From the renewal-info re-check: the CA's window may have moved; the rotation asks the CA itself.
    ask_ca: bool = False


class AcmRotateRequestModel(_Strict):
    """A direct rotation of an ACM imported certificate (the ARN is checked by store.acm_rules.parse_arn)."""

    certificate_arn: str = Field(max_length=2048)
    force: bool = False
    dry_run: bool = False


class AcmRotationMessageModel(BaseModel):
    """A message on the rotation queue for an ACM imported certificate."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    certificate_arn: str = Field(max_length=2048)
    force: bool = False
    reason: str | None = None
    correlation_id: str | None = Field(default=None, pattern=CORRELATION_ID)
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID)
