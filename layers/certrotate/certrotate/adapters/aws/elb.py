"""Load balancer listeners of one region: ALB/NLB (elbv2) and Classic (elb).

Listing costs one paginated call for each kind of load balancer, one per ALB/NLB, and one per secure
listener (its certificate list): never one per certificate.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from certrotate.adapters.aws.errors import error_code, retry_on_codes
from certrotate.errors import ListenerUpdateFailed, LoadBalancerFull
from certrotate.model import ChangeKind, Endpoint, EndpointChange, EndpointKind

if TYPE_CHECKING:
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

SECURE_V2 = frozenset({"HTTPS", "TLS"})
SECURE_CLASSIC = frozenset({"HTTPS", "SSL"})
# Right after an upload, ELB may not see the new certificate yet (IAM is eventually consistent).
NOT_YET_VISIBLE = frozenset({"CertificateNotFound", "CertificateNotFoundException"})
GONE_V2 = frozenset({"ListenerNotFound", "LoadBalancerNotFound"})
GONE_CLASSIC = frozenset({"LoadBalancerNotFound", "ListenerNotFound", "AccessPointNotFound"})
CONSISTENCY_WAIT = 120.0  # at most this long for a new certificate to become visible to ELB


class LoadBalancerListeners:
    def __init__(
        self, region: str, elbv2: ElasticLoadBalancingv2Client, elb: ElasticLoadBalancingClient
    ) -> None:
        self.region = region
        self._v2 = elbv2
        self._classic = elb

    # -- reading ---------------------------------------------------------------------------------------

    def discover(self) -> list[Endpoint]:
        return self._list_v2() + self._list_classic()

    def _list_v2(self) -> list[Endpoint]:
        found: list[Endpoint] = []
        for page in self._v2.get_paginator("describe_load_balancers").paginate():
            for lb in page["LoadBalancers"]:
                if lb.get("Type") not in ("application", "network"):
                    continue  # gateway load balancers terminate no TLS
                try:
                    for listeners in self._v2.get_paginator("describe_listeners").paginate(
                        LoadBalancerArn=lb["LoadBalancerArn"]
                    ):
                        for listener in listeners["Listeners"]:
                            if listener.get("Protocol") in SECURE_V2:
                                endpoint = self._read_v2(listener["ListenerArn"], lb["LoadBalancerArn"])
                                if endpoint is not None:
                                    found.append(endpoint)
                except ClientError as exc:
                    if error_code(exc) not in GONE_V2:
                        raise  # deleted while we listed: it serves nothing
        return found

    def _read_v2(self, listener_arn: str, load_balancer_arn: str) -> Endpoint | None:
        default: str | None = None
        sni: list[str] = []
        try:
            for page in self._v2.get_paginator("describe_listener_certificates").paginate(
                ListenerArn=listener_arn
            ):
                for cert in page["Certificates"]:
                    if cert.get("IsDefault"):
                        default = cert["CertificateArn"]
                    else:
                        sni.append(cert["CertificateArn"])
        except ClientError as exc:
            if error_code(exc) in GONE_V2:
                return None
            raise
        return Endpoint(
            EndpointKind.ELBV2_LISTENER, self.region, listener_arn, load_balancer_arn, default, tuple(sni)
        )

    def _list_classic(self) -> list[Endpoint]:
        found: list[Endpoint] = []
        for page in self._classic.get_paginator("describe_load_balancers").paginate():
            for lb in page["LoadBalancerDescriptions"]:
                found.extend(self._classic_endpoints(lb))
        return found

    def _classic_endpoints(self, lb: object) -> list[Endpoint]:
        assert isinstance(lb, dict)
        endpoints = []
        for description in lb.get("ListenerDescriptions", []):
            listener = description["Listener"]
            if listener.get("Protocol", "").upper() in SECURE_CLASSIC and listener.get("SSLCertificateId"):
                endpoints.append(
                    Endpoint(
                        EndpointKind.CLASSIC_LISTENER,
                        self.region,
                        f"{lb['LoadBalancerName']}:{listener['LoadBalancerPort']}",
                        lb["LoadBalancerName"],
                        listener["SSLCertificateId"],
                    )
                )
        return endpoints

    def read(self, endpoint: Endpoint) -> Endpoint | None:
        if endpoint.kind is EndpointKind.ELBV2_LISTENER:
            return self._read_v2(endpoint.resource_id, endpoint.load_balancer)
        try:
            response = self._classic.describe_load_balancers(LoadBalancerNames=[endpoint.load_balancer])
        except ClientError as exc:
            if error_code(exc) in GONE_CLASSIC:
                return None
            raise
        for lb in response["LoadBalancerDescriptions"]:
            for candidate in self._classic_endpoints(lb):
                if candidate.resource_id == endpoint.resource_id:
                    return candidate
        return None

    # -- changing --------------------------------------------------------------------------------------

    def apply(self, change: EndpointChange, *, deadline: float) -> Endpoint | None:
        endpoint = change.endpoint
        try:
            retry_on_codes(
                lambda: self._send(change),
                NOT_YET_VISIBLE,
                deadline=min(deadline, time.monotonic() + CONSISTENCY_WAIT),
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in (GONE_V2 if endpoint.kind is EndpointKind.ELBV2_LISTENER else GONE_CLASSIC):
                return None
            if code in ("TooManyCertificates", "TooManyCertificatesException"):
                # Permanent: retrying the add meets the same full list (25 per load balancer, defaults aside).
                name = _load_balancer_name(endpoint.load_balancer)
                raise LoadBalancerFull(name, endpoint.resource_id) from None
            raise ListenerUpdateFailed(f"{change.kind.value} failed: {code}: {exc}") from None
        return self.read(endpoint)

    def _send(self, change: EndpointChange) -> None:
        endpoint = change.endpoint
        if endpoint.kind is EndpointKind.CLASSIC_LISTENER:
            if change.kind is not ChangeKind.SET_DEFAULT:
                raise ListenerUpdateFailed(f"{endpoint.label} has no SNI list")
            port = int(endpoint.resource_id.rsplit(":", 1)[1])
            self._classic.set_load_balancer_listener_ssl_certificate(
                LoadBalancerName=endpoint.load_balancer,
                LoadBalancerPort=port,
                SSLCertificateId=change.certificate,
            )
            return
        certificates: list[Any] = [{"CertificateArn": change.certificate}]
        if change.kind is ChangeKind.SET_DEFAULT:
            # Only the default is named: the SNI list stays as it is.
            self._v2.modify_listener(ListenerArn=endpoint.resource_id, Certificates=certificates)
        elif change.kind is ChangeKind.ADD_SNI:
            self._v2.add_listener_certificates(ListenerArn=endpoint.resource_id, Certificates=certificates)
        else:
            self._v2.remove_listener_certificates(ListenerArn=endpoint.resource_id, Certificates=certificates)


def _load_balancer_name(arn: str) -> str:
    """`app/<name>/<id>` of a load balancer ARN is what the console shows; a name stays as it is."""
    _, _, resource = arn.partition(":loadbalancer/")
    parts = resource.split("/")
    return f"{parts[1]} ({arn})" if len(parts) == 3 else arn
