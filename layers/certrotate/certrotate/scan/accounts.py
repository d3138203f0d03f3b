"""Many accounts from one place: the scan of every managed account (MANAGED_ACCOUNTS), merged into one report.

Each account is scanned by its own Scan (built on that account's member role). One account that cannot be
scanned (its role missing, access denied, a quota, an outage) never stops the others: it is reported in
`failed_accounts` with what to fix (`explain`: the adapters' reading of the error, injected by wiring), and
the others' rotations are queued as usual."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from certrotate.report.scan_result import ScanResult

logger = Logger(child=True)
ACCOUNTS_AT_ONCE = 4  # accounts scanned in parallel: each has its own API limits, the function has 2 cores


def qualified(account_id: str, name: str) -> str:
    """How a certificate of a managed account is named in reports: `<account_id>:<certificate name>`."""
    return f"{account_id}:{name}"


def scan_accounts(
    accounts: Sequence[str],
    scan_one: Callable[[str], ScanResult],
    *,
    dry_run: bool,
    correlation_id: str,
    explain: Callable[[str, Exception], dict[str, str]],
    workers: int = ACCOUNTS_AT_ONCE,
) -> ScanResult:
    """`explain(account_id, error)`: the account's entry in `failed_accounts` (account_id, error, fix)."""

    def attempt(account: str) -> ScanResult | Exception:
        try:
            return scan_one(account)
        except Exception as error:  # one account's failure is reported, never raised
            return error

    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(accounts))), thread_name_prefix="account"
    ) as pool:
        outcomes = list(zip(accounts, pool.map(attempt, accounts), strict=True))

    merged = ScanResult.empty(dry_run=dry_run, correlation_id=correlation_id, failed_accounts=[])
    assert merged.failed_accounts is not None
    least_room: int | None = None
    for account, outcome in outcomes:
        if isinstance(outcome, Exception):
            failure = explain(account, outcome)
            merged.failed_accounts.append(failure)
            merged.notes.append(f"account {account} not scanned: {failure['fix']}")
            logger.error("account not scanned", extra=failure)
            continue
        merged.scanned += outcome.scanned
        merged.managed += outcome.managed
        # Each account has its own quota: report the fullest account's (least room), which a total would hide.
        room = outcome.quota - outcome.server_certificates
        if least_room is None or room < least_room:
            least_room = room
            merged.server_certificates, merged.quota = outcome.server_certificates, outcome.quota
        for target, source in (
            (merged.expiring, outcome.expiring),
            (merged.enqueued, outcome.enqueued),
            (merged.held_back, outcome.held_back),
            (merged.pending_retirement, outcome.pending_retirement),
            (merged.retired, outcome.retired),
            (merged.resumed, outcome.resumed),
        ):
            target.extend(qualified(account, name) for name in source)
        merged.held.extend(
            {**h, "account_id": account, "certificate_name": qualified(account, h["certificate_name"])}
            for h in outcome.held
        )
        merged.days_to_expiry.update(
            {qualified(account, name): days for name, days in outcome.days_to_expiry.items()}
        )
        merged.notes.extend(f"account {account}: {note}" for note in outcome.notes)
        merged.untrusted.extend(
            {**u, "account_id": account, "certificate_name": qualified(account, u["certificate_name"])}
            for u in outcome.untrusted
        )
    return merged
