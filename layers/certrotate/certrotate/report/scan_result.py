"""What a scan reports: every certificate's days to expiry, what it sent, held, retired and could not prove
(the scan function's result, the contract's shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ScanResult:
    scanned: int
    managed: int
    expiring: list[str]
    enqueued: list[str]
    held_back: list[str]
    held: list[dict[str, Any]]
    pending_retirement: list[str]
    retired: list[str]
    resumed: list[str]
    days_to_expiry: dict[str, float]
    server_certificates: int
    quota: int
    dry_run: bool
    correlation_id: str = ""  # carried by every message this scan sends and every event it emits
    notes: list[str] = field(default_factory=list)
    # Bookkeeping tags whose claim no progress record proves: reported, never acted on (check/claims.py).
    untrusted: list[dict[str, Any]] = field(default_factory=list)
    # Many accounts only (None otherwise, and left out of as_dict): the accounts not scanned, and why.
    failed_accounts: list[dict[str, str]] | None = None

    @classmethod
    def empty(cls, *, dry_run: bool, correlation_id: str, **extra: Any) -> ScanResult:
        """A result with nothing counted yet, to be filled in (the re-check, the merge of many accounts)."""
        return cls(
            scanned=0,
            managed=0,
            expiring=[],
            enqueued=[],
            held_back=[],
            held=[],
            pending_retirement=[],
            retired=[],
            resumed=[],
            days_to_expiry={},
            server_certificates=0,
            quota=0,
            dry_run=dry_run,
            correlation_id=correlation_id,
            **extra,
        )

    @property
    def min_days_to_expiry(self) -> float | None:
        return min(self.days_to_expiry.values()) if self.days_to_expiry else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "managed": self.managed,
            "expiring": self.expiring,
            "enqueued": self.enqueued,
            "held_back": self.held_back,
            "held": self.held,
            "pending_retirement": self.pending_retirement,
            "retired": self.retired,
            "resumed": self.resumed,
            "days_to_expiry": self.days_to_expiry,
            "server_certificates": self.server_certificates,
            "server_certificates_quota": self.quota,
            "dry_run": self.dry_run,
            "correlation_id": self.correlation_id,
            "notes": self.notes,
            "untrusted": self.untrusted,
        } | ({} if self.failed_accounts is None else {"failed_accounts": self.failed_accounts})
