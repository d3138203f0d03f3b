"""CloudFront distributions whose viewer certificate is an IAM certificate (path /cloudfront/...)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code, retry_on_codes
from certrotate.errors import ListenerUpdateFailed
from certrotate.model import ChangeKind, Endpoint, EndpointChange, EndpointKind

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient

# A lost update race; IAM lag. InvalidViewerCertificate also means "does not cover every alias": the rotation
# checks the aliases before the call (errors.AliasesNotCovered), so here it is the lag.
RETRYABLE = frozenset({"PreconditionFailed", "InvalidViewerCertificate"})
CONSISTENCY_WAIT = 120.0
# "User: arn:... is not authorized to perform: lambda:EnableReplication* on resource: ..."
_DENIED_ACTION = re.compile(r"not authorized to perform:?\s+([A-Za-z0-9-]+:[A-Za-z0-9*]+)")
_SEE = ' (docs/deploy.md, "What the functions may do")'


class CloudFrontDistributions:
    def __init__(self, client: CloudFrontClient) -> None:
        self._cf = client

    def discover(self) -> list[Endpoint]:
        found: list[Endpoint] = []
        for page in self._cf.get_paginator("list_distributions").paginate():
            for item in page.get("DistributionList", {}).get("Items", []):
                endpoint = _endpoint(
                    item["Id"],
                    dict(item.get("ViewerCertificate", {})),
                    _aliases(item.get("Aliases")),
                    status=item.get("Status"),
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
        return _endpoint(
            endpoint.resource_id, dict(config.get("ViewerCertificate", {})), _aliases(config.get("Aliases"))
        )

    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None:
        if change.kind is not ChangeKind.SET_DEFAULT:
            raise ListenerUpdateFailed(f"{change.endpoint.label} has a single viewer certificate")
        distribution_id = change.endpoint.resource_id
        sent: dict[str, Any] = {}  # the configuration last sent, to explain a refusal

        def update() -> None:
            current = self._cf.get_distribution_config(Id=distribution_id)
            config: Any = current["DistributionConfig"]
            sent.update(config)
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
                f"updating distribution {distribution_id} failed: {_explain(exc, sent)}"
            ) from None
        return self.read(change.endpoint)


def _aliases(aliases: Any) -> tuple[str, ...]:
    return tuple((aliases or {}).get("Items") or ())


def _edge_functions(config: dict[str, Any]) -> list[str]:
    """The Lambda@Edge function versions a distribution configuration associates, in every cache behaviour."""
    behaviours = [config.get("DefaultCacheBehavior", {}), *config.get("CacheBehaviors", {}).get("Items", [])]
    arns = [
        item["LambdaFunctionARN"]
        for behaviour in behaviours
        for item in behaviour.get("LambdaFunctionAssociations", {}).get("Items", [])
    ]
    return list(dict.fromkeys(arns))


def _explain(exc: ClientError, config: dict[str, Any]) -> str:
    """CloudFront's refusal, with the permission it wants: UpdateDistribution re-sends the web ACL and the
    Lambda@Edge associations, and CloudFront checks the caller may use them even when they are unchanged."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    said = f"{code}: {message}" if message else code
    web_acl = config.get("WebACLId") or ""
    functions = ", ".join(_edge_functions(config))
    denied = code.startswith("AccessDenied")
    named = _DENIED_ACTION.search(message) if denied else None
    if code == "InvalidWebACLId" and web_acl:
        wanted = "wafv2:GetWebACL" if web_acl.startswith("arn:") else "waf:GetWebACL"  # WAF Classic: an ID
        return (
            f"{said} - CloudFront checks on every update that the caller may read the distribution's "
            f"web ACL: the rotate function needs {wanted} on {web_acl}{_SEE}"
        )
    if named:
        action = named.group(1)
        on = f" on {functions}" if action.lower().startswith("lambda:") and functions else ""
        return f"{said} - the rotate function needs {action}{on}{_SEE}"
    if functions and (code == "InvalidLambdaFunctionAssociation" or denied):
        return (
            f"{said} - CloudFront checks every Lambda@Edge association on every update: the rotate "
            f"function needs lambda:GetFunction and lambda:EnableReplication* on {functions}, which must "
            f"still exist{_SEE}"
        )
    if denied:
        return f"{said} - the rotate function needs cloudfront:UpdateDistribution on the distribution{_SEE}"
    return said


def _endpoint(
    distribution_id: str, viewer: dict[str, Any], aliases: tuple[str, ...], status: str | None = None
) -> Endpoint | None:
    """`status` is the distribution's Status when listed (a config read has none: then not `deploying`)."""
    certificate_id = viewer.get("IAMCertificateId")
    if not certificate_id:
        return None
    deploying = status is not None and status != "Deployed"
    return Endpoint(
        EndpointKind.CLOUDFRONT,
        "global",
        distribution_id,
        "",
        certificate_id,
        aliases=aliases,
        deploying=deploying,
    )
