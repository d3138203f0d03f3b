"""Failures of the certificate stores: unknown or unmanaged certificates, quota, names, uploads."""

from __future__ import annotations

from certrotate.errors.base import CertRotateError, InvalidRequest, PermanentFailure


class UnknownCertificate(InvalidRequest):
    def __init__(self, name: str) -> None:
        super().__init__(f"no IAM server certificate is named {name!r}")
        self.name = name


class UnmanagedCertificate(InvalidRequest):
    def __init__(self, name: str, tag: str) -> None:
        super().__init__(f"certificate {name!r} is not managed by certrotate: it lacks the tag {tag}=true")
        self.name = name


class QuotaExhausted(CertRotateError):
    def __init__(self, used: int, quota: int) -> None:
        super().__init__(
            f"the account holds {used} of its ServerCertificatesQuota of {quota} IAM server certificates: "
            "no room for a replacement (retire unused certificates or raise the quota)"
        )
        self.used = used
        self.quota = quota


class NameConflict(PermanentFailure):
    """The replacement's name is taken by a certificate that does not replace this one."""

    fix = "rename or delete the IAM server certificate that holds the replacement's name"


class UploadRefused(PermanentFailure):
    """IAM refused the upload of a validated certificate (MalformedCertificate, InvalidInput, a tag value)."""

    fix = "check the chain and key IAM received, and the certificate's name, path and tags"


class CertificateAlreadyExists(CertRotateError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an IAM server certificate named {name!r} already exists")
        self.name = name
