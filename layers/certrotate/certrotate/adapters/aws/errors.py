"""Bounded waits with backoff for eventual consistency (throttling is botocore's retry mode's job)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

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
