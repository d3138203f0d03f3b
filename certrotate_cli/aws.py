"""The operator's AWS session (standard boto3 resolution, `--profile`, `--region`) and what the deployed
stack says: its functions' names and the settings they run with."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from certrotate.adapters.addresses import EndpointAddresses
from certrotate.adapters.cloudfront import CloudFrontDistributions
from certrotate.adapters.elb import LoadBalancerListeners
from certrotate.adapters.endpoints import AllEndpoints
from certrotate.adapters.iam import IamCertificateStore
from certrotate.adapters.regions import EnabledRegions, FixedRegions
from certrotate.adapters.route53 import Route53Challenges
from certrotate.config import Settings, load_settings
from certrotate.wiring import BOTO_CONFIG, global_endpoint_region

# Outputs of template.yaml the command line reads.
ROTATE_FUNCTION_OUTPUT = "RotateFunctionName"
SCAN_FUNCTION_OUTPUT = "ScanFunctionName"


class CliError(Exception):
    """A problem the operator can fix; printed as one line, exit code 2."""


@dataclass
class Deployment:
    """What the stack tells about the deployed functions (empty when the stack was not found)."""

    stack: str
    outputs: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def found(self) -> bool:
        return bool(self.outputs)


class Aws:
    def __init__(self, *, profile: str | None, region: str | None) -> None:
        try:
            self.session = boto3.session.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:
            raise CliError(str(exc)) from None
        if not self.session.region_name:
            raise CliError("no AWS region: pass --region or set AWS_REGION (or a region in the profile)")
        self.region: str = self.session.region_name

    @functools.cache  # noqa: B019 - one Aws per command
    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region_name=region or self.region, config=BOTO_CONFIG)  # type: ignore[call-overload]

    def store(self) -> IamCertificateStore:
        return IamCertificateStore(self.client("iam"))

    def endpoints(self, regions: tuple[str, ...]) -> AllEndpoints:
        """The same search the functions make: the regions named, else every region enabled for the
        account; CloudFront where the partition offers it."""
        partition = self.session.get_partition_for_region(self.region)
        cloudfront_region = global_endpoint_region(
            "cloudfront", partition, self.session._session.get_data("endpoints")
        )
        return AllEndpoints(
            FixedRegions(regions) if regions else EnabledRegions(lambda: self.client("ec2")),
            lambda region: LoadBalancerListeners(
                region, self.client("elbv2", region), self.client("elb", region)
            ),
            (lambda: CloudFrontDistributions(self.client("cloudfront", cloudfront_region)))
            if cloudfront_region
            else None,
            partition=partition,
        )

    def dns(self) -> Route53Challenges:
        """Route 53 as the rotation reads it: which public zones could answer DNS-01 (read only here)."""
        partition = self.session.get_partition_for_region(self.region)
        region = global_endpoint_region("route53", partition, self.session._session.get_data("endpoints"))
        return Route53Challenges(self.client("route53", region))

    def addresses(self) -> EndpointAddresses:
        partition = self.session.get_partition_for_region(self.region)
        region = global_endpoint_region("cloudfront", partition, self.session._session.get_data("endpoints"))
        return EndpointAddresses(self.client, lambda: self.client("cloudfront", region))

    @functools.cache  # noqa: B019
    def deployment(self, stack: str) -> Deployment:
        try:
            described = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as exc:
            return Deployment(stack, note=f"stack {stack!r} not found ({exc.response['Error'].get('Code')})")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return Deployment(stack, outputs)

    def function_environment(self, stack: str, output: str) -> Mapping[str, str] | None:
        """The environment variables of a deployed function (None when the stack or function is missing)."""
        deployment = self.deployment(stack)
        name = deployment.outputs.get(output)
        if not name:
            return None
        try:
            configuration = self.client("lambda").get_function_configuration(FunctionName=name)
        except ClientError:
            return None
        return dict(configuration.get("Environment", {}).get("Variables", {}))

    def settings(
        self, stack: str, *, renew_before_days: int | None, regions: tuple[str, ...] | None
    ) -> tuple[Settings, str]:
        """The settings the deployed scan runs with, and where they came from; flags override them."""
        deployed = self.function_environment(stack, SCAN_FUNCTION_OUTPUT)
        source = f"stack {stack}" if deployed is not None else "defaults (stack not found)"
        env = {k: v for k, v in (deployed or {}).items() if not k.startswith("AWS_")}
        env["AWS_REGION"] = self.region
        env.pop("ISSUER_TRUST_BUNDLE", None)  # a path inside the function's package: not here
        if renew_before_days is not None:
            env["RENEW_BEFORE_DAYS"] = str(renew_before_days)
            source += ", --renew-before-days"
        if regions:
            env["LOAD_BALANCER_REGIONS"] = ",".join(regions)
        return load_settings(env), source
