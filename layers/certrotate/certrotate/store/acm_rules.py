"""Pure rules for re-importing an ACM imported certificate in place (no I/O; time is an argument).

ACM applies them at ImportCertificate with CertificateArn ("Reimport a certificate", ACM user guide) and does
not roll back, so certrotate checks each one itself first: where knowable before ordering (the key type), and
otherwise against the issued certificate before the import call.
- the key type and size cannot change;
- Key Usage and Extended Key Usage values of the old certificate cannot be removed, except Client
  Authentication (EKU) and keyEncipherment on an ECDSA certificate (RFC 5480 section 3);
- the certificate must be valid at import; and certrotate's own rule: every name of the old one is covered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certrotate import planning
from certrotate.errors import CertRotateError, InvalidRequest, PermanentFailure
from certrotate.model import KeyKind, KeySpec
from certrotate.names import KEY_TYPE_TAG
from certrotate.validation import dns_names_of, key_spec_of

# arn:<partition>:acm:<region>:<account>:certificate/<id>, matched whole (fullmatch: `$` would let a final
# newline through) in ASCII (`\d` accepts any Unicode digit). Partitions ACM runs in, and the region shapes
# of each: aws-cn's regions start with cn-, aws-us-gov's with us-gov-.
ACM_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):acm:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]{1,2})"
    r":[0-9]{12}:certificate/[0-9a-f-]{1,64}"
)

# ACM's KeyAlgorithm names (ListCertificates Includes.keyTypes, DescribeCertificate) of the keys it imports.
ACM_KEY_ALGORITHMS: dict[str, KeySpec] = {
    "RSA_1024": KeySpec(KeyKind.RSA, 1024),
    "RSA_2048": KeySpec(KeyKind.RSA, 2048),
    "RSA_3072": KeySpec(KeyKind.RSA, 3072),
    "RSA_4096": KeySpec(KeyKind.RSA, 4096),
    "EC_prime256v1": KeySpec(KeyKind.EC, 256),
    "EC_secp384r1": KeySpec(KeyKind.EC, 384),
    "EC_secp521r1": KeySpec(KeyKind.EC, 521),
}

_KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
_DROPPABLE_EKU = frozenset({ExtendedKeyUsageOID.CLIENT_AUTH})


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


def parse_arn(value: str) -> str:
    """An ACM certificate ARN, checked (one clear line otherwise)."""
    found = ACM_ARN.fullmatch(value)
    if found is None or _partition_of(found["region"]) != found["partition"]:
        raise InvalidRequest(
            "certificate_arn must be an ACM certificate ARN "
            f"(arn:aws:acm:<region>:<account>:certificate/<id>), not {value[:200]!r}"
        )
    return value


def _partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def replacement_key(arn: str, old: KeySpec, tags: Mapping[str, str]) -> KeySpec:
    """The key to order: exactly the old one's type and size. A key-type tag asking for another, or an old
    key certrotate does not order, is refused here, before ordering."""
    asked = tags.get(KEY_TYPE_TAG, "").strip().lower()
    if asked and planning.KEY_TYPES.get(asked) != old:
        raise KeyChangeRefused(arn, old, asked)
    if old not in planning.KEY_TYPES.values():
        raise KeyNotOrderable(arn, old)
    return old


# ACME profiles known to issue RSA certificates without keyEncipherment: Let's Encrypt's `tlsserver` and
# `shortlived` (letsencrypt.org, profiles: "no keyEncipherment for RSA keys"; FIELD-NOTES, third round). ACM
# lets a re-import drop keyEncipherment only on ECDSA, so under these an RSA certificate that has it could
# never be re-imported: each order would be refused after issuance. A profile not listed is ordered and its
# certificate checked after issuance (reimport_violations), as before.
PROFILES_WITHOUT_RSA_KEY_ENCIPHERMENT = frozenset({"tlsserver", "shortlived"})


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


def profile_refusal(
    arn: str, old: x509.Certificate, key: KeySpec, profile: str | None
) -> ProfileDropsKeyUsage | None:
    """Before ordering: the refusal an order under `profile` (the tag's, else ACME_PROFILE; None: the CA's
    default) with a `key` key would meet at re-import, if this module knows it will (a pure rule)."""
    chosen = (profile or "").strip().lower()
    if (
        chosen in PROFILES_WITHOUT_RSA_KEY_ENCIPHERMENT
        and key.kind is KeyKind.RSA
        and "key_encipherment" in key_usages(old)
    ):
        return ProfileDropsKeyUsage(arn, chosen)
    return None


def key_usages(certificate: x509.Certificate) -> frozenset[str]:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(name for name in _KEY_USAGE_FIELDS if getattr(usage, name))


def extended_key_usages(certificate: x509.Certificate) -> frozenset[x509.ObjectIdentifier]:
    try:
        return frozenset(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return frozenset()


def reimport_violations(old: x509.Certificate, new: x509.Certificate, now: datetime) -> list[str]:
    """Every re-import rule `new` breaks against `old` (empty: it may be imported over it)."""
    violations: list[str] = []
    old_key, new_key = key_spec_of(old.public_key()), key_spec_of(new.public_key())
    if old_key != new_key:
        violations.append(f"its key is {new_key}, the certificate's is {old_key} (ACM keeps type and size)")
    dropped_ku = key_usages(old) - key_usages(new)
    if new_key.kind is KeyKind.EC:
        dropped_ku -= {"key_encipherment"}
    if dropped_ku:
        violations.append(f"it drops the Key Usage {', '.join(sorted(dropped_ku))}")
    dropped_eku = extended_key_usages(old) - extended_key_usages(new) - _DROPPABLE_EKU
    if dropped_eku:
        names = sorted(getattr(oid, "_name", oid.dotted_string) for oid in dropped_eku)
        violations.append(f"it drops the Extended Key Usage {', '.join(names)}")
    missing = [name for name in dns_names_of(old) if name not in dns_names_of(new)]
    if missing:
        violations.append(f"it does not cover {', '.join(missing)}")
    if not new.not_valid_before_utc <= now < new.not_valid_after_utc:
        violations.append(
            f"it is not valid now ({new.not_valid_before_utc.isoformat()} "
            f"to {new.not_valid_after_utc.isoformat()})"
        )
    return violations


def check_reimport(arn: str, old: x509.Certificate, new: x509.Certificate, now: datetime) -> None:
    violations = reimport_violations(old, new, now)
    if violations:
        raise ReimportRefused(arn, violations)


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial as a tag value (lower-case hex): what the progress tag names."""
    return format(certificate.serial_number, "x")
