"""Exit codes and one-line error messages: every failure the command line can meet, said in one line on
stderr (the trace only with `--debug`), with an exit code that tells scripts what kind of failure it was.

- 0: fine;
- 1: something needs a person: a certificate (status, doctor), a handshake (verify), a rotation or rollback
  that failed or was cancelled, an unexpected error;
- 2: usage or configuration: a wrong option or name, no region or credentials, no stack;
- 3: AWS or the network: AWS refused or failed a call (permissions included), a timeout, an unreadable
  answer;
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import requests
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.parsers import ResponseParserError
from certrotate.errors import CertRotateError, ConfigurationError, InvalidRequest

OK, ATTENTION, USAGE, AWS, INTERRUPTED = 0, 1, 2, 3, 130

# Error codes AWS answers when the caller may not do something (IAM, SCPs, resource policies, STS).
PERMISSION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
    }
)


class CliError(Exception):
    """A problem the operator can fix, said in one line; `code` is the exit code (2 unless AWS is why)."""

    def __init__(self, message: str, *, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def permission_problem(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in PERMISSION_CODES


def _operation(exc: ClientError) -> str:
    return str(getattr(exc, "operation_name", "") or "a call")


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line for an error that reached the top of a command."""
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, ConfigurationError | InvalidRequest):
        return USAGE, str(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return USAGE, f"no AWS credentials: {exc} (set AWS_PROFILE or pass --profile, or log in)"
    if isinstance(exc, ProfileNotFound | NoRegionError):
        return USAGE, str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # No code: the body was no AWS error (an HTML page from something in between, an outage page).
        code = str(error.get("Code", "")) or f"HTTP {status}, not an AWS error response"
        message = " ".join(str(error.get("Message", "")).split())[:300]  # an HTML page: its start
        if permission_problem(exc):
            return AWS, f"permission problem: AWS refused {_operation(exc)} ({code}): {message}"
        return AWS, f"AWS failed {_operation(exc)}: {code}: {message}".rstrip(": ")
    if isinstance(exc, ResponseParserError):
        # A proxy's or a load balancer's HTML page, a truncated body: not an AWS answer at all.
        first = " ".join(str(exc).split())[:160]
        return AWS, f"AWS (or something in between) answered with something not an AWS response: {first}"
    if isinstance(exc, BotoCoreError):
        return AWS, f"AWS could not be reached: {exc}"
    if isinstance(exc, requests.RequestException):
        return AWS, f"network: {exc}"
    if isinstance(exc, CertRotateError):
        return ATTENTION, str(exc)  # a rotation or rollback run here (--local) that failed
    return ATTENTION, f"unexpected error: {type(exc).__name__}: {exc} (--debug shows where)"
