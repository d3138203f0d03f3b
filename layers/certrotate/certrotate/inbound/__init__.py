"""The events the functions accept, checked with strict Powertools Parser models, and one-line errors for the
rest. The models (inbound/models.py, and pydantic) load on first use; a scheduled scan never loads them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from certrotate.errors import InvalidRequest
from certrotate.model.endpoints import KnownEndpoints, endpoint_from_message
from certrotate.store.acm_rules import parse_arn

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


@dataclass(frozen=True, slots=True)
class RotateRequest:
    certificate_name: str
    force: bool = False
    dry_run: bool = False
    account_id: str | None = None  # None: the function's own account


@dataclass(frozen=True, slots=True)
class RollbackRequest:
    certificate_name: str
    dry_run: bool = False
    account_id: str | None = None  # None: the function's own account


@dataclass(frozen=True, slots=True)
class ScanRequest:
    dry_run: bool = False
    refresh_tags: bool = False  # read every certificate's tags, not only those that could act now
    # Only ask the CA again about the certificates whose Retry-After has passed, from the scan index (the
    # renewal-info re-check): no listing, no metrics; rotations for those the answer makes due.
    renewal_info_only: bool = False


@dataclass(frozen=True, slots=True)
class RotationMessage:
    certificate_name: str
    force: bool = False
    reason: str | None = None
    correlation_id: str | None = None  # the scan's that sent it
    account_id: str | None = None  # the managed account that holds the certificate (None: own account)
    endpoints: KnownEndpoints | None = None  # where the scan saw it served
    ask_ca: bool = False  # ask the CA's renewal window before deciding "not due" (the renewal-info re-check)


def _one_line(error: ValidationError, what: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "event"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif item["type"] == "missing":
            problems.append(f"missing field {where!r}")
        elif item["type"] == "string_pattern_mismatch" and where == "account_id":
            problems.append(f"{where} must be a 12-digit AWS account id")
        elif item["type"] == "string_pattern_mismatch" and where == "correlation_id":
            problems.append(f"{where} must be 1-128 of letters, digits, ._:/+=@-")
        elif item["type"] == "string_pattern_mismatch" and where == "endpoints.seen_at":
            problems.append(f"{where} must be an ISO 8601 time with its offset")
        elif item["type"] == "string_pattern_mismatch" and where.endswith(".region"):
            problems.append(f"{where} must be an AWS region name")
        elif item["type"] == "string_pattern_mismatch" and where.startswith("endpoints."):
            problems.append(f"{where} must be printable ASCII without spaces")
        elif item["type"] == "string_pattern_mismatch":
            problems.append(
                f"{where} must be an IAM server certificate name (1-128 of letters, digits, +=,.@_-)"
            )
        else:
            problems.append(f"{where}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(problems)


def _parse(event: Any, model_name: str, what: str) -> Any:
    if not isinstance(event, dict):
        raise InvalidRequest(f"invalid {what}: expected a JSON object, got {type(event).__name__}")
    from aws_lambda_powertools.utilities.parser import parse
    from pydantic import ValidationError

    from certrotate.inbound import models

    model: type[BaseModel] = getattr(models, model_name)
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        raise InvalidRequest(_one_line(exc, what)) from None
    except Exception as exc:  # Powertools wraps some failures in its own error type
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            raise InvalidRequest(_one_line(cause, what)) from None
        raise InvalidRequest(f"invalid {what}: {exc}") from None


def parse_rotate_request(event: Any) -> RotateRequest:
    model = _parse(event, "RotateRequestModel", "rotation request")
    return RotateRequest(model.certificate_name, model.force, model.dry_run, model.account_id)


def is_action_request(event: Any) -> bool:
    """A direct invocation naming an action other than a rotation ({"action": "rollback", ...})."""
    return isinstance(event, dict) and "action" in event


def parse_rollback_request(event: Any) -> RollbackRequest:
    if isinstance(event, dict) and event.get("action") != "rollback":
        raise InvalidRequest(f"invalid request: unknown action {event.get('action')!r} (known: rollback)")
    model = _parse(event, "RollbackRequestModel", "rollback request")
    return RollbackRequest(model.certificate_name, model.dry_run, model.account_id)


def parse_rotation_message(body: str) -> RotationMessage:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid rotation message: not JSON ({exc.msg})") from None
    model = _parse(data, "RotationMessageModel", "rotation message")
    known: KnownEndpoints | None = None
    if model.endpoints is not None:
        try:
            seen_at = datetime.fromisoformat(model.endpoints.seen_at.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequest("invalid rotation message: endpoints.seen_at is not a valid time") from None
        known = KnownEndpoints(
            tuple(
                endpoint_from_message(e.kind, e.region, e.resource_id, e.load_balancer)
                for e in model.endpoints.serving
            ),
            seen_at,
        )
    return RotationMessage(
        model.certificate_name,
        model.force,
        model.reason,
        model.correlation_id,
        model.account_id,
        known,
        model.ask_ca,
    )


def is_scheduled_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("detail-type") == "Scheduled Event"
        and event.get("source") == "aws.events"
    )


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        bool(records)
        and isinstance(records, list)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def parse_scan_request(event: Any) -> ScanRequest:
    if event is None or is_scheduled_event(event):
        return ScanRequest()
    model = _parse(event, "ScanRequestModel", "scan request")
    if model.refresh_tags and model.renewal_info_only:
        raise InvalidRequest(
            "invalid scan request: refresh_tags reads every tag, renewal_info_only reads none: choose one"
        )
    return ScanRequest(model.dry_run, model.refresh_tags, model.renewal_info_only)


# --- ACM imported certificates: {"certificate_arn": ...} ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcmRotateRequest:
    certificate_arn: str
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class AcmRotationMessage:
    certificate_arn: str
    force: bool = False
    reason: str | None = None
    correlation_id: str | None = None
    account_id: str | None = None


def is_acm_request(event: Any) -> bool:
    """An event naming an ACM certificate (`certificate_arn`) rather than an IAM one."""
    return isinstance(event, dict) and "certificate_arn" in event


def _acm_arn(value: str, what: str, *, named_too: bool) -> str:

    if named_too:
        raise InvalidRequest(
            f"invalid {what}: give certificate_name (IAM) or certificate_arn (ACM), not both"
        )
    try:
        return parse_arn(value)
    except InvalidRequest as exc:
        raise InvalidRequest(f"invalid {what}: {exc}") from None


def parse_acm_rotate_request(event: Any) -> AcmRotateRequest:
    what = "rotation request"
    if isinstance(event, dict) and "certificate_name" in event:
        _acm_arn("", what, named_too=True)
    model = _parse(event, "AcmRotateRequestModel", what)
    return AcmRotateRequest(
        _acm_arn(model.certificate_arn, what, named_too=False), model.force, model.dry_run
    )


def parse_any_rotation_message(body: str) -> RotationMessage | AcmRotationMessage:
    """A queue message for an IAM certificate (`certificate_name`) or an ACM one (`certificate_arn`)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid rotation message: not JSON ({exc.msg})") from None
    if not is_acm_request(data):
        return parse_rotation_message(body)
    what = "rotation message"
    if "certificate_name" in data:
        _acm_arn("", what, named_too=True)
    model = _parse(data, "AcmRotationMessageModel", what)
    return AcmRotationMessage(
        _acm_arn(model.certificate_arn, what, named_too=False),
        model.force,
        model.reason,
        model.correlation_id,
        model.account_id,
    )
