"""Errors with messages meant for people: one line that names the problem."""

from __future__ import annotations

from datetime import datetime


class CertRotateError(Exception):
    """Base of every error certrotate raises on purpose."""


class ConfigurationError(CertRotateError):
    """The environment is missing a setting or holds an impossible one."""


class InvalidRequest(CertRotateError):
    """An event that does not have the shape the contract gives it."""


class UnknownCertificate(InvalidRequest):
    def __init__(self, name: str) -> None:
        super().__init__(f"no IAM server certificate is named {name!r}")
        self.name = name


class UnmanagedCertificate(InvalidRequest):
    def __init__(self, name: str, tag: str) -> None:
        super().__init__(f"certificate {name!r} is not managed by certrotate: it lacks the tag {tag}=true")
        self.name = name


class RotationInProgress(CertRotateError):
    def __init__(self, name: str, until: datetime | None = None) -> None:
        when = f" (its lease ends {until.isoformat()})" if until else ""
        super().__init__(f"a rotation of {name!r} is in progress{when}")
        self.name = name


class QuotaExhausted(CertRotateError):
    def __init__(self, used: int, quota: int) -> None:
        super().__init__(
            f"the account holds {used} of its ServerCertificatesQuota of {quota} IAM server certificates: "
            "no room for a replacement (retire unused certificates or raise the quota)"
        )
        self.used = used
        self.quota = quota


class NameConflict(CertRotateError):
    """The replacement's name is taken by a certificate that does not replace this one."""


class NoHostedZone(CertRotateError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no public Route 53 hosted zone holds {name!r}: DNS-01 cannot be answered")
        self.name = name


class IssuanceFailed(CertRotateError):
    """The CA refused or failed the order; the message says which name and why."""


class RateLimited(IssuanceFailed):
    def __init__(self, detail: str, retry_at: datetime) -> None:
        super().__init__(f"the ACME CA rate-limited the order until {retry_at.isoformat()}: {detail}")
        self.retry_at = retry_at


class ValidationFailed(CertRotateError):
    """A new certificate failed a check before upload; nothing was uploaded."""


class OutOfTime(CertRotateError):
    """Too little of the Lambda's time is left to take the next step safely; a rerun continues."""


class ListenerUpdateFailed(CertRotateError):
    """A listener could not be repointed; the others were."""


class CertificateAlreadyExists(CertRotateError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an IAM server certificate named {name!r} already exists")
        self.name = name


class RegionDiscoveryFailed(CertRotateError):
    """The regions enabled for the account could not be listed: no endpoint search would be complete."""
