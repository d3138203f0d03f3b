"""RotateFunction: rotate one certificate, from the rotation queue (SQS, partial batch failures) or by hand
({"certificate_name": ..., "force": false, "dry_run": false}; an ACM imported certificate:
{"certificate_arn": ..., "force": false, "dry_run": false}); or roll a rotation back
({"action": "rollback", "certificate_name": ..., "dry_run": false}), under this function's role, lease and
metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from certrotate import wiring
from certrotate.errors import AccountUnreachable, InvalidRequest, PermanentFailure, RotationInProgress
from certrotate.inbound import (
    AcmRotationMessage,
    is_acm_request,
    is_action_request,
    is_sqs_event,
    parse_acm_rotate_request,
    parse_any_rotation_message,
    parse_rollback_request,
    parse_rotate_request,
)
from certrotate.names import EventType
from certrotate.report.metrics import emit_rollback, emit_rotation
from certrotate.report.results import RotationResult
from certrotate.rollback.service import RollbackRequest, RollbackResult
from certrotate.rotate.pipeline import Rotation
from certrotate.rotate.request import RotationRequest

logger = Logger()
metrics = Metrics()
# FIFO: a failed message holds back later ones of its group only (one group per certificate).
processor = SqsFifoPartialProcessor(skip_group_on_error=True)

SAFETY_MARGIN = 10.0  # seconds kept back from the Lambda timeout to report and release the lease


def _deadline(context: LambdaContext) -> float:
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN


def _own_correlation_id(context: LambdaContext) -> str:
    return getattr(context, "aws_request_id", None) or str(uuid.uuid4())


class _Result(Protocol):
    @property
    def status(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class _Service(Protocol):
    def failure_detail(
        self, subject: str, error: BaseException, correlation_id: str, /
    ) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Result)
S = TypeVar("S", bound=_Service)


def _observed(
    subject: tuple[str, str],
    account: str | None,
    correlation_id: str,
    build: Callable[[], S],
    run: Callable[[S], R],
) -> R:
    """Build the service (`build`: in a managed account, through its member role), `run` the rotation, and
    report it either way: the rotation metrics, a failure event saying whether a retry can fix it, the log.
    `subject` is (`certificate_name` or `certificate_arn`, its value)."""
    key, value = subject
    started = time.monotonic()

    def failed(detail: dict[str, Any]) -> None:
        emit_rotation(
            metrics,
            succeeded=False,
            failed=True,
            seconds=time.monotonic() - started,
            endpoints_changed=0,
            retired=False,
        )
        wiring.events(account).publish(EventType.ROTATION_FAILED, detail)
        logger.error("rotation failed", extra={"error": detail["error"], "reason": detail["message"]})

    try:
        service = build()
    except AccountUnreachable as exc:
        # Nothing was read or changed there: a failed rotation all the same, reported with what to fix.
        failed(
            {
                key: value,
                "error": type(exc).__name__,
                "message": str(exc),
                "permanent": False,
                "fix": exc.fix,
                "correlation_id": correlation_id,
            }
        )
        raise
    try:
        result = run(service)
    except (InvalidRequest, RotationInProgress):
        raise  # nothing was attempted: neither a success nor a failure
    except Exception as exc:
        failed(service.failure_detail(value, exc, correlation_id))
        raise
    emit_rotation(
        metrics,
        succeeded=result.status == "rotated",
        failed=False,
        seconds=time.monotonic() - started,
        endpoints_changed=len(getattr(result, "endpoints_changed", ())),  # an ACM re-import repoints nothing
        retired=bool(getattr(result, "retired", False)),
    )
    logger.info("rotation finished", extra={"result": result.as_dict()})
    return result


def rotate(
    request: RotationRequest,
    context: LambdaContext,
    correlation_id: str,
    account: str | None = None,
    kind: Literal["iam", "acm"] = "iam",
) -> RotationResult:
    """`account`: the managed account that holds the certificate (MANAGED_ACCOUNTS), None in a single-account
    stack; its member role reads and changes the certificate, load balancers and distributions there.
    `kind`: an IAM server certificate (by name), or an ACM imported one (by ARN), re-imported in place: the
    same pipeline, metrics and events."""
    key = "certificate_arn" if kind == "acm" else "certificate_name"
    logger.set_correlation_id(correlation_id)
    logger.append_keys(**{key: request.subject})
    if account is not None:
        logger.append_keys(account_id=account)

    def run(service: Rotation) -> RotationResult:
        return service.rotate(request, deadline=_deadline(context), correlation_id=correlation_id)

    def build() -> Rotation:
        return wiring.acm_rotation_service(account) if kind == "acm" else wiring.rotation_service(account)

    return _observed((key, request.subject), account, correlation_id, build, run)


def rollback(
    request: RollbackRequest, context: LambdaContext, correlation_id: str, account: str | None = None
) -> RollbackResult:
    """Every endpoint serving a replacement goes back to the certificate it replaced; both are held. The
    metric CertificatesRolledBack and the event `Certificate Rolled Back` say it happened."""
    logger.set_correlation_id(correlation_id)
    logger.append_keys(certificate_name=request.certificate_name, action="rollback")
    if account is not None:
        logger.append_keys(account_id=account)
    service = wiring.rollback_service(account)
    try:
        result = service.rollback(request, deadline=_deadline(context), correlation_id=correlation_id)
    except (InvalidRequest, RotationInProgress):
        raise  # refused before any change, or a rotation holds the lease: nothing was attempted
    except Exception as exc:
        detail = service.failure_detail(request.certificate_name, exc, correlation_id)
        wiring.events(account).publish(EventType.ROLLBACK_FAILED, detail)
        logger.error("rollback failed", extra={"error": detail["error"], "reason": detail["message"]})
        raise
    if result.status != "planned":
        emit_rollback(metrics, endpoints_changed=len(result.endpoints_changed))
        logger.warning("rolled back", extra={"result": result.as_dict()})
    return result


def _acm_account(arn: str, context: LambdaContext) -> str | None:
    """The managed account that holds an ACM certificate: its ARN names it (None: a single-account stack,
    whose function refuses another account's ARN before any AWS call: its own ARN names its account)."""
    account = arn.split(":")[4]
    if wiring.settings().many_accounts:
        return wiring.account_of(account)
    own = context.invoked_function_arn.split(":")[4]
    if account != own:
        raise InvalidRequest(
            f"certificate_arn is in account {account}, not this function's ({own}), "
            "and MANAGED_ACCOUNTS is not set"
        )
    return None


def _record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    logger.set_correlation_id(record.message_id)  # until the message names the scan's id
    try:
        message = parse_any_rotation_message(record.body)
    except InvalidRequest as exc:
        # A malformed message never gets better: drop it loudly rather than retry it into the DLQ.
        logger.error(
            "dropped a malformed rotation message",
            extra={"reason": str(exc), "message_id": record.message_id},
        )
        return
    if message.force:
        # `force` overrides holds and rotates what is not due: an operator's, by direct invocation (which IAM
        # grants to operators). Anyone who may send to the queue could ask for it here: never honoured.
        logger.warning(
            "force ignored on a queue message: invoke the function directly to force a rotation",
            extra={"message_id": record.message_id},
        )
    try:
        # The scan's id when the scan sent it; a hand-written message is known by its SQS message id.
        correlation_id = message.correlation_id or record.message_id
        if isinstance(message, AcmRotationMessage):
            acm_request = RotationRequest(subject=message.certificate_arn, force=False)
            account = _acm_account(message.certificate_arn, lambda_context)
            rotate(acm_request, lambda_context, correlation_id, account, kind="acm")
        else:
            request = RotationRequest(
                subject=message.certificate_name,
                force=False,  # see above
                known_endpoints=message.endpoints,
                ask_ca=message.ask_ca,
            )
            rotate(request, lambda_context, correlation_id, wiring.account_of(message.account_id))
    except InvalidRequest as exc:
        # The certificate was retired by an earlier delivery, or opted out since it was queued: done.
        logger.warning("nothing to rotate", extra={"reason": str(exc)})
    except PermanentFailure as exc:
        # No redelivery can fix it and each would order again: the failure and its hold-off are recorded
        # (tags, RotationFailed, the failure event), so this record is done. A transient error still raises.
        logger.warning(
            "held after a failure no retry fixes: not redelivered",
            extra={"reason": str(exc), "held_until": exc.held_until, "fix": exc.fix},
        )


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_sqs_event(event):
        wiring.refresh()
        response = process_partial_response(
            event=event, record_handler=_record_handler, processor=processor, context=context
        )
        return dict(response)
    if is_action_request(event):
        back = parse_rollback_request(event)  # bad input: a clear error before any AWS call
        wiring.refresh()
        account_id = wiring.account_of(back.account_id)
        rolled = rollback(
            RollbackRequest(back.certificate_name, dry_run=back.dry_run),
            context,
            _own_correlation_id(context),
            account_id,
        ).as_dict()
        return rolled if account_id is None else {**rolled, "account_id": account_id}
    if is_acm_request(event):
        acm = parse_acm_rotate_request(event)  # bad input: a clear error before any AWS call
        wiring.refresh()
        request_acm = RotationRequest(subject=acm.certificate_arn, force=acm.force, dry_run=acm.dry_run)
        account_acm = _acm_account(acm.certificate_arn, context)
        return rotate(request_acm, context, _own_correlation_id(context), account_acm, kind="acm").as_dict()
    parsed = parse_rotate_request(event)  # bad input: a clear error before any AWS call
    wiring.refresh()
    account = wiring.account_of(parsed.account_id)  # an account not managed: a clear error, nothing assumed
    request = RotationRequest(subject=parsed.certificate_name, force=parsed.force, dry_run=parsed.dry_run)
    result = rotate(request, context, _own_correlation_id(context), account).as_dict()
    return result if account is None else {**result, "account_id": account}
