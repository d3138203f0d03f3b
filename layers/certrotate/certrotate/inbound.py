"""The events the functions accept, as strict Powertools Parser models, and one-line errors for the rest."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certrotate.errors import InvalidRequest

CERTIFICATE_NAME = r"^[\w+=,.@-]{1,128}$"


class _Strict(BaseModel):
    # strict: "yes" or 1 is not a boolean; forbid: an unknown field is a typo, not something to ignore.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RotateRequestModel(_Strict):
    certificate_name: str = Field(pattern=CERTIFICATE_NAME)
    force: bool = False
    dry_run: bool = False


class ScanRequestModel(_Strict):
    dry_run: bool = False


class RotationMessageModel(BaseModel):
    """A message on the rotation queue (written by the scan, or by an operator)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    certificate_name: str = Field(pattern=CERTIFICATE_NAME)
    force: bool = False
    reason: str | None = None


def _one_line(error: ValidationError, what: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "event"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif item["type"] == "missing":
            problems.append(f"missing field {where!r}")
        elif item["type"] == "string_pattern_mismatch":
            problems.append(
                f"{where} must be an IAM server certificate name (1-128 of letters, digits, +=,.@_-)"
            )
        else:
            problems.append(f"{where}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(problems)


def _parse(event: Any, model: type[BaseModel], what: str) -> Any:
    if not isinstance(event, dict):
        raise InvalidRequest(f"invalid {what}: expected a JSON object, got {type(event).__name__}")
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        raise InvalidRequest(_one_line(exc, what)) from None
    except Exception as exc:  # Powertools wraps some failures in its own error type
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            raise InvalidRequest(_one_line(cause, what)) from None
        raise InvalidRequest(f"invalid {what}: {exc}") from None


def parse_rotate_request(event: Any) -> RotateRequestModel:
    result: RotateRequestModel = _parse(event, RotateRequestModel, "rotation request")
    return result


def parse_rotation_message(body: str) -> RotationMessageModel:
    import json

    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid rotation message: not JSON ({exc.msg})") from None
    result: RotationMessageModel = _parse(data, RotationMessageModel, "rotation message")
    return result


def is_scheduled_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("detail-type") == "Scheduled Event" and "source" in event


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        bool(records)
        and isinstance(records, list)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def parse_scan_request(event: Any) -> ScanRequestModel:
    if is_scheduled_event(event):
        return ScanRequestModel()
    if event is None:
        return ScanRequestModel()
    result: ScanRequestModel = _parse(event, ScanRequestModel, "scan request")
    return result
