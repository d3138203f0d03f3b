"""Metrics in CloudWatch's embedded metric format, through Powertools."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from certrotate.names import MetricName
from certrotate.report.scan_result import ScanResult


def emit_scan(
    metrics: Metrics, result: ScanResult, *, namespace: str, service: str, many_accounts: bool = False
) -> None:
    # DaysToExpiry has a dimension per certificate: one EMF document each (a document has one dimension set).
    # With many accounts its keys are `<account>:<name>`: AccountId and CertificateName dimensions apart.
    for key, days in sorted(result.days_to_expiry.items()):
        account, name = key.split(":", 1) if many_accounts else (None, key)
        with single_metric(
            name=MetricName.DAYS_TO_EXPIRY,
            unit=MetricUnit.Count,
            value=days,
            namespace=namespace,
            default_dimensions={"service": service},
        ) as metric:
            metric.add_dimension(name="CertificateName", value=name)
            if account is not None:
                metric.add_dimension(name="AccountId", value=account)
    if result.min_days_to_expiry is not None:
        metrics.add_metric(
            name=MetricName.MIN_DAYS_TO_EXPIRY, unit=MetricUnit.Count, value=result.min_days_to_expiry
        )
    metrics.add_metric(name=MetricName.CERTIFICATES_SCANNED, unit=MetricUnit.Count, value=result.scanned)
    metrics.add_metric(name=MetricName.CERTIFICATES_MANAGED, unit=MetricUnit.Count, value=result.managed)
    metrics.add_metric(
        name=MetricName.CERTIFICATES_EXPIRING, unit=MetricUnit.Count, value=len(result.expiring)
    )
    metrics.add_metric(
        name=MetricName.CERTIFICATES_ENQUEUED, unit=MetricUnit.Count, value=len(result.enqueued)
    )
    metrics.add_metric(name=MetricName.CERTIFICATES_HELD, unit=MetricUnit.Count, value=len(result.held))
    metrics.add_metric(
        name=MetricName.CERTIFICATES_PENDING_RETIREMENT,
        unit=MetricUnit.Count,
        value=len(result.pending_retirement),
    )
    metrics.add_metric(name=MetricName.CERTIFICATES_RETIRED, unit=MetricUnit.Count, value=len(result.retired))
    metrics.add_metric(name=MetricName.CLAIMS_NOT_PROVEN, unit=MetricUnit.Count, value=len(result.untrusted))
    metrics.add_metric(
        name=MetricName.SERVER_CERTIFICATES, unit=MetricUnit.Count, value=result.server_certificates
    )
    metrics.add_metric(name=MetricName.SERVER_CERTIFICATES_QUOTA, unit=MetricUnit.Count, value=result.quota)
    if result.failed_accounts is not None:
        metrics.add_metric(
            name=MetricName.ACCOUNTS_NOT_SCANNED, unit=MetricUnit.Count, value=len(result.failed_accounts)
        )


def emit_rotation(
    metrics: Metrics, *, succeeded: bool, failed: bool, seconds: float, endpoints_changed: int, retired: bool
) -> None:
    if succeeded:
        metrics.add_metric(name=MetricName.ROTATION_SUCCEEDED, unit=MetricUnit.Count, value=1)
    if failed:
        metrics.add_metric(name=MetricName.ROTATION_FAILED, unit=MetricUnit.Count, value=1)
    if succeeded or failed:
        metrics.add_metric(
            name=MetricName.ROTATION_DURATION, unit=MetricUnit.Seconds, value=round(seconds, 3)
        )
    if endpoints_changed:
        metrics.add_metric(
            name=MetricName.LISTENERS_REPOINTED, unit=MetricUnit.Count, value=endpoints_changed
        )
    if retired:
        metrics.add_metric(name=MetricName.CERTIFICATES_RETIRED, unit=MetricUnit.Count, value=1)


def emit_rollback(metrics: Metrics, *, endpoints_changed: int) -> None:
    metrics.add_metric(name=MetricName.CERTIFICATES_ROLLED_BACK, unit=MetricUnit.Count, value=1)
    if endpoints_changed:
        metrics.add_metric(
            name=MetricName.LISTENERS_REPOINTED, unit=MetricUnit.Count, value=endpoints_changed
        )


def emit_endpoint_check(metrics: Metrics, *, verified: int, mismatches: int, unreachable: int) -> None:
    metrics.add_metric(name=MetricName.ENDPOINTS_VERIFIED, unit=MetricUnit.Count, value=verified)
    metrics.add_metric(name=MetricName.ENDPOINT_MISMATCHES, unit=MetricUnit.Count, value=mismatches)
    metrics.add_metric(name=MetricName.ENDPOINTS_UNREACHABLE, unit=MetricUnit.Count, value=unreachable)
