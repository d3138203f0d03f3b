"""What a failure event says: the failing certificate, the error, and for a permanent one its hold-off."""

from __future__ import annotations

from typing import Any

from certrotate.errors import PermanentFailure


def failure_detail(subject: tuple[str, str], error: BaseException, correlation_id: str) -> dict[str, Any]:
    """A failure event's detail: what failed (`subject`: its key and value), whether a retry can fix it, and
    if not, the hold-off and what the operator must change."""
    key, value = subject
    detail: dict[str, Any] = {
        key: value,
        "error": type(error).__name__,
        "message": str(error),
        "permanent": isinstance(error, PermanentFailure),
        "correlation_id": correlation_id,
    }
    if isinstance(error, PermanentFailure):
        held_until = error.held_until
        detail["held_until"] = held_until.isoformat() if held_until else None
        detail["failures"] = error.failures
        detail["fix"] = error.fix
    return detail
