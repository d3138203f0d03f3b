"""An account that could not be scanned, reported by what its AWS error asks of the operator."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from certrotate.adapters.aws.errors import account_failure
from certrotate.errors import AccountUnreachable

ACCOUNT = "222222222222"


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "ListServerCertificates")


def test_an_unreachable_account_names_what_to_deploy() -> None:
    error = AccountUnreachable(
        ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/certrotate-member", "AccessDenied", "no"
    )
    assert account_failure(ACCOUNT, error) == {
        "account_id": ACCOUNT,
        "error": "AccessDenied",
        "fix": error.fix,
    }


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("AccessDenied", f"the member role in {ACCOUNT} lacks a permission"),
        ("UnauthorizedOperation", f"the member role in {ACCOUNT} lacks a permission"),
        ("Throttling", "throttled or over a limit"),
        ("RequestLimitExceeded", "throttled or over a limit"),
        ("InternalError", "see the error; the other accounts were scanned"),
    ],
)
def test_an_aws_error_is_reported_by_its_code(code: str, fix: str) -> None:
    failure = account_failure(ACCOUNT, client_error(code))
    assert (failure["account_id"], failure["error"]) == (ACCOUNT, code)
    assert failure["fix"].startswith(fix)
    assert failure["fix"].endswith(f"({client_error(code)})")


def test_any_other_error_is_reported_by_its_class() -> None:
    failure = account_failure(ACCOUNT, TimeoutError("slow"))
    assert failure == {
        "account_id": ACCOUNT,
        "error": "TimeoutError",
        "fix": "see the error; the other accounts were scanned (slow)",
    }
