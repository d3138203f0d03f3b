"""ScanFunction: report every IAM server certificate's (and ACM imported certificate's) days to expiry and
queue the managed ones that are due.

Invoked by the daily EventBridge schedule, or by hand with {"dry_run": true} to report without sending work,
or {"refresh_tags": true} to read every certificate's tags instead of those the scan index says could act.
{"renewal_info_only": true} (the renewal-info schedule) only asks the CA again about the certificates whose
Retry-After has passed, from the scan index, and sends rotations for those its answer makes due: no listing,
no metrics (the scheduled scan reports).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from certrotate import wiring
from certrotate.inbound import parse_scan_request
from certrotate.report import metrics as telemetry
from certrotate.report.scan_result import ScanResult
from certrotate.scan.accounts import scan_accounts

logger = Logger()
metrics = Metrics()
# Seconds kept, after learning renewal times, for the rest of a scan: the endpoint search of every region
# (~20 s at AWS's ELB rates), the queue, the ACM step, the index and the metrics. A first scan of 1,000
# certificates would otherwise spend most of the 300 s timeout learning, and a timed-out scan keeps nothing.
TIME_AFTER_LEARNING = 120.0


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One id from this scan to every rotation it queues: each message carries it, and they use it in turn.
    correlation_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    logger.set_correlation_id(correlation_id)
    request = parse_scan_request(event)  # bad input: a clear error before any AWS call
    settings = wiring.refresh()
    learn_until = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - TIME_AFTER_LEARNING

    if request.renewal_info_only:
        return _recheck(
            request.dry_run, settings.many_accounts, settings.managed_accounts, correlation_id, learn_until
        )

    def scan_account(account: str | None) -> ScanResult:
        # One sweep of every store: IAM server certificates, then ACM imported ones, into one report.
        return wiring.scan_service(dry_run=request.dry_run, account=account).scan(
            dry_run=request.dry_run,
            correlation_id=correlation_id,
            refresh_tags=request.refresh_tags,
            learn_until=learn_until,
        )

    if settings.many_accounts:
        # Every managed account through its member role; one that fails is reported, the others proceed.
        result = scan_accounts(
            settings.managed_accounts,
            scan_account,
            dry_run=request.dry_run,
            correlation_id=correlation_id,
            explain=wiring.account_failure,  # the adapters' reading of an account's error
        )
    else:
        result = scan_account(None)
    telemetry.emit_scan(
        metrics,
        result,
        namespace=settings.metrics_namespace,
        service=settings.service_name,
        many_accounts=settings.many_accounts,
    )
    logger.info(
        "scan finished",
        extra={
            "scanned": result.scanned,
            "expiring": result.expiring,
            "enqueued": result.enqueued,
            "held": result.held,
            "pending_retirement": result.pending_retirement,
            "retired": result.retired,
            "dry_run": result.dry_run,
            "notes": result.notes,  # e.g. why a replaced certificate is kept: where it is still served
            "untrusted": result.untrusted,  # bookkeeping claims no progress record proves: ignored
            **({} if result.failed_accounts is None else {"failed_accounts": result.failed_accounts}),
        },
    )
    return result.as_dict()


def _recheck(
    dry_run: bool, many_accounts: bool, accounts: tuple[str, ...], correlation_id: str, learn_until: float
) -> dict[str, Any]:
    """The renewal-info re-check of every account. It emits no metric: CertificatesScanned and the others
    are the scheduled scan's (ScanMissingAlarm watches it), and a per-certificate metric every hour would
    cost 24 times the daily scan's."""

    def recheck_account(account: str | None) -> ScanResult:
        return wiring.scan_service(dry_run=dry_run, account=account).recheck_renewal_info(
            dry_run=dry_run, correlation_id=correlation_id, learn_until=learn_until
        )

    if many_accounts:
        result = scan_accounts(
            accounts,
            recheck_account,
            dry_run=dry_run,
            correlation_id=correlation_id,
            explain=wiring.account_failure,
        )
    else:
        result = recheck_account(None)
    summary = {
        "renewal_info_only": True,
        "scanned": result.scanned,
        "expiring": result.expiring,
        "enqueued": result.enqueued,
        "held_back": result.held_back,
        "dry_run": result.dry_run,
        "correlation_id": result.correlation_id,
        "notes": result.notes,
        **({} if result.failed_accounts is None else {"failed_accounts": result.failed_accounts}),
    }
    logger.info("renewal info re-checked", extra={k: v for k, v in summary.items() if k != "correlation_id"})
    return summary
