"""CloudFront distributions whose viewer certificate is an IAM certificate (path /cloudfront/...)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters._retry import error_code, retry_on_codes
from certrotate.errors import ListenerUpdateFailed
from certrotate.model import ChangeKind, Endpoint, EndpointChange, EndpointKind

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient

RETRYABLE = frozenset({"PreconditionFailed", "InvalidViewerCertificate"})  # lost update race; IAM lag
CONSISTENCY_WAIT = 120.0


class CloudFrontDistributions:
    def __init__(self, client: CloudFrontClient) -> None:
        self._cf = client

    def discover(self) -> list[Endpoint]:
        found: list[Endpoint] = []
        for page in self._cf.get_paginator("list_distributions").paginate():
            for item in page.get("DistributionList", {}).get("Items", []):
                endpoint = _endpoint(
                    item["Id"], dict(item.get("ViewerCertificate", {})), status=item.get("Status")
                )
                if endpoint is not None:
                    found.append(endpoint)
        return found

    def read(self, endpoint: Endpoint) -> Endpoint | None:
        try:
            config = self._cf.get_distribution_config(Id=endpoint.resource_id)["DistributionConfig"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchDistribution":
                return None
            raise
        return _endpoint(endpoint.resource_id, dict(config.get("ViewerCertificate", {})))

    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None:
        if change.kind is not ChangeKind.SET_DEFAULT:
            raise ListenerUpdateFailed(f"{change.endpoint.label} has a single viewer certificate")
        distribution_id = change.endpoint.resource_id

        def update() -> None:
            current = self._cf.get_distribution_config(Id=distribution_id)
            config: Any = current["DistributionConfig"]
            viewer = config["ViewerCertificate"]
            viewer["IAMCertificateId"] = change.certificate
            if "Certificate" in viewer:  # the deprecated mirror of IAMCertificateId
                viewer["Certificate"] = change.certificate
            self._cf.update_distribution(
                Id=distribution_id, IfMatch=current["ETag"], DistributionConfig=config
            )

        try:
            retry_on_codes(update, RETRYABLE, deadline=min(deadline, time.monotonic() + CONSISTENCY_WAIT))
        except ClientError as exc:
            if error_code(exc) == "NoSuchDistribution":
                return None
            raise ListenerUpdateFailed(
                f"updating distribution {distribution_id} failed: {error_code(exc)}"
            ) from None
        return self.read(change.endpoint)


def _endpoint(distribution_id: str, viewer: dict[str, Any], status: str | None = None) -> Endpoint | None:
    """`status` is the distribution's Status when listed (a config read has none: then not `deploying`)."""
    certificate_id = viewer.get("IAMCertificateId")
    if not certificate_id:
        return None
    deploying = status is not None and status != "Deployed"
    return Endpoint(
        EndpointKind.CLOUDFRONT, "global", distribution_id, "", certificate_id, deploying=deploying
    )
