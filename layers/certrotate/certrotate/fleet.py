"""Moved to certrotate.scan.accounts (shim until the importers move); `failure_of` stays here until the
adapters' account_failure replaces it (it reads botocore's errors: adapter knowledge)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code
from certrotate.errors import AccountUnreachable
from certrotate.scan.accounts import ACCOUNTS_AT_ONCE as ACCOUNTS_AT_ONCE
from certrotate.scan.accounts import qualified as qualified
from certrotate.scan.accounts import scan_accounts as scan_accounts


def failure_of(account_id: str, error: Exception) -> dict[str, str]:
    if isinstance(error, AccountUnreachable):
        return {"account_id": account_id, "error": error.code or type(error).__name__, "fix": error.fix}
    code = error_code(error) if isinstance(error, ClientError) else ""
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        fix = f"the member role in {account_id} lacks a permission: redeploy member-role.yaml there"
    elif code in ("Throttling", "ThrottlingException", "LimitExceeded", "RequestLimitExceeded"):
        fix = "throttled or over a limit: the next scan tries again"
    else:
        fix = "see the error; the other accounts were scanned"
    return {"account_id": account_id, "error": code or type(error).__name__, "fix": f"{fix} ({error})"}
