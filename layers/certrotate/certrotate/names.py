"""Names that operators and the template rely on: tags, metrics and event types (see CONTRACT.md)."""

from __future__ import annotations

from enum import StrEnum

MANAGED_TAG = "certrotate:managed"
# On a replacement: the name of the certificate it replaces.
REPLACES_TAG = "certrotate:replaces"
# On a replaced certificate: the name of its replacement (set right after the upload).
REPLACED_BY_TAG = "certrotate:replaced-by"
# On a replaced certificate: since when its replacement serves everywhere (ISO 8601); grace runs from here.
SERVED_SINCE_TAG = "certrotate:replacement-served-since"
# On a managed certificate: no order before this time (ISO 8601), set when the CA said "rate limited".
RETRY_AFTER_TAG = "certrotate:retry-after"

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


class EventType(StrEnum):
    """detail-type of the EventBridge events certrotate puts (source "certrotate")."""

    ROTATION_STARTED = "Certificate Rotation Started"
    ROTATION_SUCCEEDED = "Certificate Rotation Succeeded"
    ROTATION_FAILED = "Certificate Rotation Failed"
    CERTIFICATE_RETIRED = "Certificate Retired"
