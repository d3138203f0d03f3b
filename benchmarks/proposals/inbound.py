"""The events the functions accept, and one-line errors for the rest, without pydantic.

A proposed drop-in for certrotate/inbound.py (as of 7d16bfb, which then no longer needs event_models.py):
same functions and result types, same fields, same strictness (a boolean is `true`/`false` only, an unknown
field is an error in requests and ignored in queue messages) and the same one-line messages, but plain
Python: pydantic and Powertools Parser cost ~140 ms of every cold rotation (at the first queue message) and
~9 MB of the layer, to check three small JSON objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from certrotate.errors import InvalidRequest

CERTIFICATE_NAME = r"^[\w+=,.@-]{1,128}$"
_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_NAME_RULE = "must be an IAM server certificate name (1-128 of letters, digits, +=,.@_-)"


@dataclass(frozen=True, slots=True)
class RotateRequest:
    certificate_name: str
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class ScanRequest:
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class RotationMessage:
    """A message on the rotation queue (written by the scan, or by an operator)."""

    certificate_name: str
    force: bool = False
    reason: str | None = None


# field -> (type check, what it must be, required)
_Spec = dict[str, tuple[Any, str, bool]]
_ROTATE: _Spec = {
    "certificate_name": ("name", "", True),
    "force": (bool, "Input should be a valid boolean", False),
    "dry_run": (bool, "Input should be a valid boolean", False),
}
_SCAN: _Spec = {"dry_run": (bool, "Input should be a valid boolean", False)}
_MESSAGE: _Spec = {
    "certificate_name": ("name", "", True),
    "force": (bool, "Input should be a valid boolean", False),
    "reason": ((str, type(None)), "Input should be a valid string", False),
}


def _check(event: Any, spec: _Spec, what: str, *, forbid_extra: bool) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidRequest(f"invalid {what}: expected a JSON object, got {type(event).__name__}")
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, (kind, message, required) in spec.items():
        if name not in event:
            if required:
                problems.append(f"missing field {name!r}")
            continue
        value = event[name]
        if kind == "name":
            if not isinstance(value, str):
                problems.append(f"{name}: Input should be a valid string")
                continue
            if not _NAME.fullmatch(value):
                problems.append(f"{name} {_NAME_RULE}")
                continue
        elif kind is bool:
            if not isinstance(value, bool):  # strict: "yes", 1 and "true" are not booleans
                problems.append(f"{name}: {message}")
                continue
        elif not isinstance(value, kind):
            problems.append(f"{name}: {message}")
            continue
        values[name] = value
    if forbid_extra:
        problems.extend(f"unknown field {name!r}" for name in event if name not in spec)
    if problems:
        raise InvalidRequest(f"invalid {what}: " + "; ".join(problems))
    return values


def parse_rotate_request(event: Any) -> RotateRequest:
    return RotateRequest(**_check(event, _ROTATE, "rotation request", forbid_extra=True))


def parse_rotation_message(body: str) -> RotationMessage:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid rotation message: not JSON ({exc.msg})") from None
    return RotationMessage(**_check(data, _MESSAGE, "rotation message", forbid_extra=False))


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
    if is_scheduled_event(event) or event is None:
        return ScanRequest()
    return ScanRequest(**_check(event, _SCAN, "scan request", forbid_extra=True))
