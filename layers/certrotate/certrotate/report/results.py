"""What a rotation returns: the operator contract's result shapes (IAM by certificate name, ACM by ARN)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["rotated", "skipped", "planned"]


@dataclass(slots=True)
class RotationResult:
    """One rotation's result, for any store; `as_dict` gives the contract's shape of the store: by
    certificate name (IAM: endpoints and retirement) or by ARN (ACM: serial, expiration, what uses it)."""

    certificate_name: str  # the subject: IAM's name, or ACM's ARN (subject_field says which)
    status: Status
    new_certificate_name: str | None
    reason: str
    correlation_id: str
    dns_names: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # what was done, or with dry_run what would be done
    endpoints_changed: list[str] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)  # regions (or CloudFront) that refused the search
    retired: bool = False
    retirement: str | None = None
    held_until: str | None = None  # set when a permanent failure's hold-off (or the CA's) kept it back
    serial: str | None = None  # in place: the serial the store serves now (hex)
    expiration: str | None = None  # in place: its NotAfter
    in_use_by: list[str] = field(default_factory=list)  # in place: left as they were (a re-import keeps them)
    subject_field: str = "certificate_name"  # "certificate_arn": the ACM shape

    @property
    def certificate_arn(self) -> str:
        return self.certificate_name

    def as_dict(self) -> dict[str, Any]:
        if self.subject_field == "certificate_arn":
            return {
                "certificate_arn": self.certificate_name,
                "status": self.status,
                "reason": self.reason,
                "correlation_id": self.correlation_id,
                "dns_names": self.dns_names,
                "steps": self.steps,
                "serial": self.serial,
                "expiration": self.expiration,
                "in_use_by": self.in_use_by,
                "held_until": self.held_until,
            }
        return {
            "certificate_name": self.certificate_name,
            "status": self.status,
            "new_certificate_name": self.new_certificate_name,
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "dns_names": self.dns_names,
            "steps": self.steps,
            "endpoints_changed": self.endpoints_changed,
            "not_searched": self.not_searched,
            "old_certificate_retired": self.retired,
            "retirement": self.retirement,
            "held_until": self.held_until,
        }
