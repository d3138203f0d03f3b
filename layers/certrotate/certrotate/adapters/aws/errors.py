"""AWS errors as certrotate reads them: the code of a ClientError, what an account's failure asks of the
operator, and bounded waits with backoff for eventual consistency (throttling is botocore's retry mode's
job)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from certrotate.errors import AccountUnreachable

T = TypeVar("T")


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def retry_on_codes(
    call: Callable[[], T],
    codes: frozenset[str],
    *,
    deadline: float,
    first_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Call until it succeeds or raises another error; back off exponentially; give up at `deadline`."""
    delay = first_delay
    while True:
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in codes:
                raise
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise
            sleep(min(delay, remaining))
            delay = min(delay * 2, max_delay)


def account_failure(account_id: str, error: Exception) -> dict[str, str]:
    """How a managed account that could not be scanned is reported: the error's code (or class) and what to
    fix, judged by the AWS error code (a member role missing or short of a permission, throttling)."""
    if isinstance(error, AccountUnreachable):
        return {"account_id": account_id, "error": error.code or type(error).__name__, "fix": error.fix}
    code = error_code(error)
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        fix = f"the member role in {account_id} lacks a permission: redeploy member-role.yaml there"
    elif code in ("Throttling", "ThrottlingException", "LimitExceeded", "RequestLimitExceeded"):
        fix = "throttled or over a limit: the next scan tries again"
    else:
        fix = "see the error; the other accounts were scanned"
    return {"account_id": account_id, "error": code or type(error).__name__, "fix": f"{fix} ({error})"}
