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

from certrotate.check.certificates import dns_names_of, key_spec_of
from certrotate.errors import (
    InvalidRequest,
    KeyChangeRefused,
    KeyNotOrderable,
    ProfileDropsKeyUsage,
    ReimportRefused,
)
from certrotate.model import KeyKind, KeySpec
from certrotate.model.keys import KEY_TYPES
from certrotate.names import KEY_TYPE_TAG

# arn:<partition>:acm:<region>:<account>:certificate/<id>, matched whole (fullmatch: `$` would let a final
# newline through) in ASCII (`\d` accepts any Unicode digit). Partitions ACM runs in, and the region shapes
# of each: aws-cn's regions start with cn-, aws-us-gov's with us-gov-.
ACM_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):acm:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]{1,2})"
    r":[0-9]{12}:certificate/[0-9a-f-]{1,64}"
)


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


def replacement_key(arn: str, old: KeySpec, tags: Mapping[str, str]) -> KeySpec:
    """The key to order: exactly the old one's type and size. A key-type tag asking for another, or an old
    key certrotate does not order, is refused here, before ordering."""
    asked = tags.get(KEY_TYPE_TAG, "").strip().lower()
    if asked and KEY_TYPES.get(asked) != old:
        raise KeyChangeRefused(arn, old, asked)
    if old not in KEY_TYPES.values():
        raise KeyNotOrderable(arn, old)
    return old


# ACME profiles known to issue RSA certificates without keyEncipherment: Let's Encrypt's `tlsserver` and
# `shortlived` (letsencrypt.org, profiles: "no keyEncipherment for RSA keys"; FIELD-NOTES, third round). ACM
# lets a re-import drop keyEncipherment only on ECDSA, so under these an RSA certificate that has it could
# never be re-imported: each order would be refused after issuance. A profile not listed is ordered and its
# certificate checked after issuance (reimport_violations), as before.
PROFILES_WITHOUT_RSA_KEY_ENCIPHERMENT = frozenset({"tlsserver", "shortlived"})


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
