"""What the scan needs from outside: the CA's renewal information, the queue, its index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """A CA's ARI answer (RFC 9773): aware UTC times."""

    start: datetime
    end: datetime
    retry_after: datetime
    explanation_url: str | None = None


class RenewalInfoUnavailable(Exception):
    def __init__(self, reason: str, retry_after: datetime) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RenewalInfoSource(Protocol):
    def offered(self) -> bool: ...  # whether the CA serves renewalInfo at all
    def window(self, ari_id: str) -> RenewalWindow: ...  # raises RenewalInfoUnavailable


class RotationQueue(Protocol):
    def send(self, messages: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[str]: ...


class ScanIndexStore(Protocol):
    """Where a scan keeps its index between runs (adapters/lease_table/scan_index.py): one blob, read once and
    written once a scan."""

    def load(self) -> bytes | None: ...  # None: there is none
    def save(self, blob: bytes) -> None: ...
