"""Failures while moving endpoints to the replacement, and rollbacks refused."""

from __future__ import annotations

from collections.abc import Sequence

from certrotate.errors.base import CertRotateError, InvalidRequest, PermanentFailure


class ListenerUpdateFailed(CertRotateError):
    """A listener could not be repointed; the others were."""


class LoadBalancerFull(ListenerUpdateFailed, PermanentFailure):
    """An ALB/NLB holds its quota of certificates: the replacement cannot join the SNI list beside the old."""

    def __init__(self, load_balancer: str, listener: str) -> None:
        super().__init__(
            f"load balancer {load_balancer} holds its quota of certificates (25 besides the listeners' "
            f"defaults): no room to add the replacement to the SNI list of listener {listener} before "
            "removing the old one",
            fix=(
                f"remove unused certificates from the listeners of {load_balancer}, or raise the quota "
                "'Certificates per Application/Network Load Balancer' in Service Quotas, or deploy with "
                "SniSwapWhenFull=true (remove then add: SNI clients get the default certificate for "
                "seconds); then rotate with force=true"
            ),
        )
        self.load_balancer = load_balancer


class AliasesNotCovered(ListenerUpdateFailed, PermanentFailure):
    """A CloudFront distribution has aliases the certificate does not cover: CloudFront would refuse it."""

    def __init__(self, distribution_id: str, missing: Sequence[str]) -> None:
        super().__init__(
            f"distribution {distribution_id} has aliases the certificate does not cover: "
            + ", ".join(missing),
            fix=(
                f"add {', '.join(missing)} to the certificate's names (issue a new one by hand) or remove "
                f"them from the aliases of distribution {distribution_id}, then rotate with force=true"
            ),
        )
        self.distribution_id = distribution_id
        self.missing = tuple(missing)


class EndpointsRefused(ListenerUpdateFailed, PermanentFailure):
    """Every endpoint that could not be repointed refused for a reason no retry fixes."""


class NothingToRollBack(InvalidRequest):
    """A rollback named a certificate with no replacement (nor a predecessor), or one whose predecessor was
    retired: refused before any change."""


class RollbackRefused(InvalidRequest):
    """A rollback whose pair does not prove itself (the replacement does not name the old one back, is not
    at the name derived from the old one's ID, or the old one cannot serve in its place): refused before
    any change."""
