"""Names that operators and the template rely on: tags, metrics and event types (see CONTRACT.md)."""

from __future__ import annotations

from enum import StrEnum

MANAGED_TAG = "certrotate:managed"
# On a replacement: the name of the certificate it replaces (as name_tag_value writes it).
REPLACES_TAG = "certrotate:replaces"
# On a replaced certificate: the name of its replacement, set right after the upload (as name_tag_value).
REPLACED_BY_TAG = "certrotate:replaced-by"
# On a replaced certificate: since when its replacement serves everywhere (ISO 8601); grace runs from here.
SERVED_SINCE_TAG = "certrotate:replacement-served-since"
# On a managed certificate: no order before this time (ISO 8601), set when the CA said "rate limited".
RETRY_AFTER_TAG = "certrotate:retry-after"
# On a managed certificate: when to renew it and when to ask the CA again (ARI, RFC 9773), as the scan last
# learnt it: "source=ari start=<ISO> end=<ISO> at=<ISO> ask=<ISO>" (tag values allow no commas).
RENEWAL_TAG = "certrotate:renewal"
# On a managed certificate, set by the operator: the ACME profile to order it with (overrides ACME_PROFILE).
PROFILE_TAG = "certrotate:profile"
# On a managed certificate, set by the operator: the replacement's key type (model.keys.KEY_TYPES), checked
# against every endpoint serving the certificate before ordering; absent: the old key's kind.
KEY_TYPE_TAG = "certrotate:key-type"
# On a managed certificate, set by the operator: how its names are validated ("dns-01" or "http-01"); absent:
# DNS-01 where a public Route 53 zone holds the name, else HTTP-01 on an ALB serving the certificate.
# On an ALB listener rule: the rule answers an HTTP-01 challenge, "<certificate (name_tag_value)>/<token>".
CHALLENGE_TAG = "certrotate:challenge"
OPERATOR_TAGS = (PROFILE_TAG, KEY_TYPE_TAG, CHALLENGE_TAG)  # copied onto each replacement
# On a managed certificate whose rotation failed in a way no retry fixes (errors.PermanentFailure): no order
# and no redelivery before this time (ISO 8601), why (sanitised to IAM's tag-value characters), and how many
# such failures came in a row (the hold doubles each time). A success removes all three; so may an operator.
HELD_UNTIL_TAG = "certrotate:held-until"
HELD_REASON_TAG = "certrotate:held-reason"
FAILURES_TAG = "certrotate:failures"
# A rollback (`certrotate rollback`, the rotate function's {"action": "rollback"}): on the replaced
# certificate, served again, the replacement it was rolled back from (name_tag_value) and when (ISO 8601);
# on the replacement, the certificate it was rolled back to. Either is a hold: no scan rotates, resumes or
# retires them until an operator rotates the replaced one with force (which clears all three). A forged
# hold tag only stops certrotate from acting, which the same permission could do by removing the managed tag.
ROLLED_BACK_FROM_TAG = "certrotate:rolled-back-from"
ROLLED_BACK_AT_TAG = "certrotate:rolled-back-at"
ROLLED_BACK_TO_TAG = "certrotate:rolled-back-to"
ROLLBACK_TAGS = (ROLLED_BACK_FROM_TAG, ROLLED_BACK_AT_TAG)  # on the replaced certificate
# With a hold after a deterministic refusal (the same inputs give the same refusal: errors.PermanentFailure
# .deterministic): a fingerprint of those inputs (decide.holds.inputs_fingerprint). Such a hold has no end in
# time (held-until is decide.holds.UNTIL_INPUTS_CHANGE): it ends when the inputs change, or with force. Empty
# on a hold that ends in time.
HELD_INPUTS_TAG = "certrotate:held-inputs"
HOLD_TAGS = (HELD_UNTIL_TAG, HELD_REASON_TAG, FAILURES_TAG, HELD_INPUTS_TAG)
# On an ACM imported certificate being re-imported: the serial (lower-case hex) of the certificate it
# replaces, written before ordering, removed after the import. Another serial in ACM: the import happened.
REIMPORT_OF_TAG = "certrotate:reimport-of"


# IAM certificate names are [\w+=,.@-]; IAM tag values [\p{L}\p{Z}\p{N}_.:/=+\-@]: only "," is in one and not
# the other, and ":" is in no certificate name. So "," is written as ":", and a value read back maps ":" to
# ",": the plain names written before (never with "," since IAM refused those) read back unchanged.
def name_tag_value(certificate_name: str) -> str:
    """A certificate name as a tag value IAM accepts."""
    return certificate_name.replace(",", ":")


def name_from_tag_value(value: str) -> str:
    """The certificate name a tag value written by name_tag_value (or a plain name) stands for."""
    return value.replace(":", ",")


METRICS_NAMESPACE_DEFAULT = "CertRotate"
SERVICE_NAME_DEFAULT = "certrotate"
EVENT_SOURCE = "certrotate"


class MetricName(StrEnum):
    """Every metric certrotate emits; alarms and the dashboard in template.yaml refer to these."""

    DAYS_TO_EXPIRY = "DaysToExpiry"  # dimension CertificateName, one per certificate per scan
    MIN_DAYS_TO_EXPIRY = "MinDaysToExpiry"  # the smallest DaysToExpiry of a scan (alarmable)
    CERTIFICATES_SCANNED = "CertificatesScanned"
    CERTIFICATES_MANAGED = "CertificatesManaged"
    CERTIFICATES_EXPIRING = "CertificatesExpiring"
    CERTIFICATES_ENQUEUED = "CertificatesEnqueued"
    CERTIFICATES_HELD = "CertificatesHeld"  # held back after a permanent failure or by the CA's Retry-After
    CERTIFICATES_PENDING_RETIREMENT = "CertificatesPendingRetirement"
    CERTIFICATES_RETIRED = "CertificatesRetired"
    SERVER_CERTIFICATES = "ServerCertificates"
    SERVER_CERTIFICATES_QUOTA = "ServerCertificatesQuota"
    ROTATION_SUCCEEDED = "RotationSucceeded"
    ROTATION_FAILED = "RotationFailed"
    ROTATION_DURATION = "RotationDuration"  # seconds
    LISTENERS_REPOINTED = "ListenersRepointed"
    # After repointing (CHECK_ENDPOINTS_AFTER_ROTATION): endpoints whose handshakes served the replacement,
    # served something else (not propagated yet, or changed by someone), or could not be reached.
    ENDPOINTS_VERIFIED = "EndpointsVerified"
    ENDPOINT_MISMATCHES = "EndpointMismatches"
    ENDPOINTS_UNREACHABLE = "EndpointsUnreachable"
    # Many accounts (MANAGED_ACCOUNTS): the accounts a scan could not scan (the result's failed_accounts).
    ACCOUNTS_NOT_SCANNED = "AccountsNotScanned"
    # A rollback put the endpoints of a replacement back on the certificate it replaced (1 per rollback).
    CERTIFICATES_ROLLED_BACK = "CertificatesRolledBack"
    # Bookkeeping tags claiming what no progress record proves (the scan's `untrusted`): forged, or left by a
    # rotation started before progress records. Nothing is moved or deleted on their word.
    CLAIMS_NOT_PROVEN = "ClaimsNotProven"


class EventType(StrEnum):
    """detail-type of the EventBridge events certrotate puts (source "certrotate")."""

    ROTATION_STARTED = "Certificate Rotation Started"
    ROTATION_SUCCEEDED = "Certificate Rotation Succeeded"
    ROTATION_FAILED = "Certificate Rotation Failed"
    CERTIFICATE_RETIRED = "Certificate Retired"
    ROLLED_BACK = "Certificate Rolled Back"
    ROLLBACK_FAILED = "Certificate Rollback Failed"
