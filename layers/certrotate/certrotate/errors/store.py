"""Failures of the certificate stores: unknown or unmanaged certificates, quota, names, uploads."""

from __future__ import annotations

from certrotate.errors.base import CertRotateError, InvalidRequest, PermanentFailure
from certrotate.model.keys import KeySpec
from certrotate.names import KEY_TYPE_TAG


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


# ACM imported certificates (the store that re-imports in place).


class UnknownAcmCertificate(InvalidRequest):
    def __init__(self, arn: str) -> None:
        super().__init__(f"no ACM certificate has the ARN {arn}")


class NotImported(InvalidRequest):
    def __init__(self, arn: str, kind: str) -> None:
        super().__init__(
            f"{arn} is an ACM certificate of type {kind}: certrotate renews IMPORTED ones only "
            "(ACM renews the ones it issues)"
        )


class KeyChangeRefused(PermanentFailure):
    """ACM refuses a re-import with another key type or size: refused before ordering."""

    deterministic = True

    fix = "remove the tag certrotate:key-type from the ACM certificate (a re-import keeps key type and size)"

    def __init__(self, arn: str, old: KeySpec, asked: str) -> None:
        super().__init__(
            f"{arn}: the tag {KEY_TYPE_TAG}={asked} asks for another key than the certificate's {old}, "
            "and ACM keeps the key type and size of a re-imported certificate: nothing was ordered"
        )


class KeyNotOrderable(PermanentFailure):
    """The old certificate's key is one certrotate does not order (RSA 1024, ECDSA P-521)."""

    deterministic = True

    fix = (
        "re-import the certificate by hand with a key certrotate orders (RSA 2048/3072/4096, ECDSA P-256/384)"
    )

    def __init__(self, arn: str, old: KeySpec) -> None:
        super().__init__(
            f"{arn}: its {old} key is not one certrotate orders, and a re-import must keep it: "
            "nothing was ordered"
        )


class ReimportRefused(PermanentFailure):
    """The issued certificate breaks a re-import rule: not imported (ACM would refuse it, or lose a value)."""

    deterministic = True

    fix = "ask the CA (ACME_PROFILE or the tag certrotate:profile) for a certificate that keeps these values"

    def __init__(self, arn: str, violations: list[str]) -> None:
        super().__init__(f"{arn}: not re-imported: " + "; ".join(violations))
        self.violations = violations


class AcmRefusedImport(PermanentFailure):
    """ACM refused a re-import this module's rules let through (ValidationException): no retry fixes it, and
    each would order again, so the certificate is held."""

    deterministic = True

    fix = "see ACM's reason, fix the certificate's tags or the CA's profile, then rotate with force=true"

    def __init__(self, arn: str, reason: str) -> None:
        super().__init__(f"{arn}: ACM refused the re-import: {reason}")


class AcmImportQuotaReached(PermanentFailure):
    """ACM refused the import for its quota of imports in the last 365 days (LimitExceededException). Time
    frees room (the window moves on) and so does a raised quota, which no input of certrotate's shows: held
    for a time, not until an input changes. The certificate already issued is kept (encrypted) and imported
    at the next try without a new order."""

    fix = (
        "ask for a higher 'Imported certificates in last 365 days' quota (Service Quotas, ACM) or wait for "
        "older imports to leave the window; the certificate already issued is imported at the next try "
        "without a new order (rotate with force=true to try now)"
    )

    def __init__(self, arn: str, reason: str) -> None:
        super().__init__(f"{arn}: ACM refused the import for its yearly quota of imports: {reason}")


class AcmImportConflict(CertRotateError):
    """ACM answered ConflictException ("already being created or updated") or throttled every try within the
    invocation: transient, redelivered; the certificate already issued is kept and imported then."""

    def __init__(self, arn: str, reason: str, attempts: int) -> None:
        super().__init__(
            f"{arn}: ACM was still busy after {attempts} tries ({reason}); the issued certificate is kept "
            "and imported at the next try"
        )


class ProfileDropsKeyUsage(PermanentFailure):
    """The chosen ACME profile issues RSA certificates without keyEncipherment, which the certificate has
    and ACM keeps: refused before ordering, held until the profile (tag or setting) changes."""

    deterministic = True

    fix = (
        "order this certificate under a profile that keeps keyEncipherment (the tag certrotate:profile, e.g. "
        "classic, or ACME_PROFILE), or re-import it by hand with an ECDSA key (ACM keeps the key type)"
    )

    def __init__(self, arn: str, profile: str) -> None:
        super().__init__(
            f"{arn}: the ACME profile {profile!r} issues RSA certificates without keyEncipherment, which "
            "this certificate has and a re-import into ACM must keep (ACM may drop it only for ECDSA): "
            "nothing was ordered"
        )
        self.profile = profile
