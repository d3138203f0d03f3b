"""The stages of a store that renews beside the old certificate: find where it is served, move every
endpoint to the replacement, retire the old one (IAM; a store renewing in place has none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certrotate.deploy.deployment import Deployment
from certrotate.deploy.locate import Located, Locator
from certrotate.model import ProgressRecord, ServerCertificate, Unsearched
from certrotate.model.endpoints import KnownEndpoints
from certrotate.report.results import RotationResult
from certrotate.retire.retirement import Retirement
from certrotate.store.base import HeldLease


@dataclass(frozen=True, slots=True)
class BesideStages:
    locator: Locator
    deployment: Deployment
    retirement: Retirement

    def deploy(
        self,
        old: ServerCertificate,
        stored: ServerCertificate,
        record: ProgressRecord,
        located: Located | None,
        known: KnownEndpoints | None,
        dns_names: Sequence[str],
        result: RotationResult,
        deadline: float,
        lease: HeldLease,
        *,
        ordered: bool,
    ) -> tuple[ServerCertificate, tuple[Unsearched, ...]]:
        """Renew the lease when this run ordered (the order took time), then deploy the replacement."""
        if ordered:
            lease.renew()
        return self.deployment.run(old, stored, record, located, known, dns_names, result, deadline)

    def retire(
        self,
        view: ServerCertificate,
        stored: ServerCertificate,
        result: RotationResult,
        unsearched: Sequence[Unsearched],
        lease: HeldLease,
    ) -> None:
        lease.renew()
        self.retirement.retire_now(view, stored, result, unsearched)
