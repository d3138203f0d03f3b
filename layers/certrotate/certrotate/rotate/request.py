"""What a rotation is asked (the settings it runs under are store.base.RotationSettings)."""

from __future__ import annotations

from dataclasses import dataclass

from certrotate.model.endpoints import KnownEndpoints


@dataclass(frozen=True, slots=True)
class RotationRequest:
    subject: str  # IAM: the certificate's name; ACM: its ARN
    force: bool = False
    dry_run: bool = False
    # Where the scan saw the certificate served: used instead of a search of every region while fresh.
    known_endpoints: KnownEndpoints | None = None
    # Sent by the renewal-info re-check: before "not due", ask the CA's renewal window (the CA decides, not
    # the message; the re-check writes no renewal tag, so that it makes no IAM call).
    ask_ca: bool = False
