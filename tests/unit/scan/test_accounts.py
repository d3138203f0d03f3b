"""Merging many accounts' scans: names qualified by account, a failing account reported, not raised."""

from __future__ import annotations

from botocore.exceptions import ClientError
from certrotate.adapters.aws.errors import account_failure
from certrotate.errors import AccountUnreachable
from certrotate.report.scan_result import ScanResult
from certrotate.scan.accounts import scan_accounts

A, B, C = "111111111111", "222222222222", "333333333333"


def _result(names: list[str], used: int, quota: int) -> ScanResult:
    return ScanResult(
        scanned=len(names),
        managed=len(names),
        expiring=names[:1],
        enqueued=names[:1],
        held_back=[],
        held=[{"certificate_name": names[0], "until": "x", "reason": "r", "permanent": True, "failures": 1}],
        pending_retirement=[],
        retired=[],
        resumed=[],
        days_to_expiry={n: 5.0 for n in names},
        server_certificates=used,
        quota=quota,
        dry_run=False,
        notes=["a note"],
    )


def test_accounts_are_merged_and_a_failing_one_is_reported() -> None:
    def scan_one(account: str) -> ScanResult:
        if account == B:
            raise AccountUnreachable(B, f"arn:aws:iam::{B}:role/certrotate-member", "AccessDenied", "denied")
        if account == C:
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "slow down"}}, "ListServerCertificates"
            )
        return _result(["web", "api"], used=18, quota=20)

    merged = scan_accounts([A, B, C], scan_one, dry_run=False, correlation_id="c-1", explain=account_failure)

    assert merged.expiring == merged.enqueued == [f"{A}:web"]
    assert merged.scanned == 2
    assert set(merged.days_to_expiry) == {f"{A}:web", f"{A}:api"}
    assert merged.held[0]["certificate_name"] == f"{A}:web" and merged.held[0]["account_id"] == A
    assert merged.notes[0] == f"account {A}: a note"
    assert [f["account_id"] for f in merged.failed_accounts or []] == [B, C]
    denied, throttled = merged.failed_accounts or []
    assert denied["error"] == "AccessDenied" and "member-role.yaml" in denied["fix"]
    assert throttled["error"] == "Throttling" and "next scan" in throttled["fix"]
    assert merged.as_dict()["failed_accounts"] == merged.failed_accounts
    assert merged.correlation_id == "c-1"


def test_the_fullest_account_gives_the_quota_figures() -> None:
    figures = {A: (3, 20), B: (95, 100), C: (10, 1000)}
    merged = scan_accounts(
        [A, B, C],
        lambda account: _result([f"n{account}"], *figures[account]),
        dry_run=True,
        correlation_id="c",
        explain=account_failure,
    )
    assert (merged.server_certificates, merged.quota) == (95, 100)


def test_a_single_account_result_has_no_failed_accounts_field() -> None:
    assert "failed_accounts" not in _result(["web"], 1, 20).as_dict()
