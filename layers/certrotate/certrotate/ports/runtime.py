"""The time, the leases and the events every use case runs with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    certificate_name: str
    owner: str
    version: str
    expires: datetime


class Leases(Protocol):
    def acquire(self, certificate_name: str, *, seconds: int) -> Lease: ...  # raises RotationInProgress
    def renew(self, lease: Lease, *, seconds: int) -> Lease: ...
    def release(self, lease: Lease) -> None: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...  # never raises


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
