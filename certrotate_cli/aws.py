"""The operator's AWS session (standard boto3 resolution, `--profile`, `--region` or `AWS_REGION`) and what
the deployed stack says: its functions' names, roles and timeouts, and the settings they run with."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from certrotate.adapters.aws.accounts import assumed_session, role_arn
from certrotate.adapters.aws.acm import AcmCertificateStore
from certrotate.adapters.aws.addresses import EndpointAddresses
from certrotate.adapters.aws.cloudfront import CloudFrontDistributions
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.endpoints import AllEndpoints
from certrotate.adapters.aws.errors import error_code
from certrotate.adapters.aws.iam import IamCertificateStore
from certrotate.adapters.aws.regions import EnabledRegions, FixedRegions
from certrotate.adapters.aws.route53 import Route53Challenges
from certrotate.config import MEMBER_ROLE_NAME_DEFAULT, Settings, load_settings
from certrotate.errors import AccountUnreachable
from certrotate.wiring import BOTO_CONFIG, offers_cloudfront

from certrotate_cli.failures import AWS, USAGE, CliError, permission_problem

# Where Lambda finds the layer's files (template.yaml, IssuerTrustBundle): the installed package here.
LAYER_MOUNT = "/opt/python/"

# Outputs of template.yaml the command line reads.
ROTATE_FUNCTION_OUTPUT = "RotateFunctionName"
SCAN_FUNCTION_OUTPUT = "ScanFunctionName"
# member-role.yaml's role for the operators' command line in a managed account: <MemberRoleName>-read.
READ_ROLE_SUFFIX = "-read"
# Beyond the function's own Timeout: Lambda answers at the latest when the function times out; the margin
# covers the network and Lambda's own bookkeeping. A read timeout shorter than the function's lets botocore
# give up and call again: the rotation would run twice.
INVOKE_READ_MARGIN = 60
LAMBDA_TIMEOUT_MAX = 900
_STACK_MISSING = "does not exist"


@dataclass
class Deployment:
    """What the stack tells about the deployed functions (empty when the stack was not found)."""

    stack: str
    outputs: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def found(self) -> bool:
        return bool(self.outputs)


@dataclass(frozen=True)
class FunctionConfiguration:
    name: str
    timeout: int
    role: str
    environment: Mapping[str, str]


class Aws:
    def __init__(
        self,
        *,
        profile: str | None,
        region: str | None,
        session: boto3.session.Session | None = None,
        account: str | None = None,
    ) -> None:
        # boto3 reads AWS_DEFAULT_REGION only; AWS_REGION is what the AWS CLI v2 and every SDK read first.
        region = region or os.environ.get("AWS_REGION") or None
        try:
            self.session = session or boto3.session.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:
            raise CliError(str(exc)) from None
        if not self.session.region_name:
            raise CliError("no AWS region: pass --region or set AWS_REGION (or a region in the profile)")
        self.region: str = self.session.region_name
        self.profile = profile
        self.account = account  # None: the credentials' own account

    @functools.cache  # noqa: B019 - one Aws per command
    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region_name=region or self.region, config=BOTO_CONFIG)  # type: ignore[call-overload]

    @functools.cache  # noqa: B019
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region)

    @functools.cache  # noqa: B019
    def caller(self) -> dict[str, str]:
        identity = self.client("sts").get_caller_identity()
        return {"Account": str(identity["Account"]), "Arn": str(identity["Arn"])}

    def in_account(self, account: str | None, role_name: str) -> Aws:
        """The same operator in another managed account, through a role there (`--account`): the read role
        of member-role.yaml by default (`read_role`), or one named with `--account-role`. The credentials'
        own account: this session."""
        if not account or account == self.caller()["Account"]:
            return self
        arn = role_arn(self.partition(), account, role_name)
        try:
            session = assumed_session(self.client("sts"), arn, account, self.region)
        except AccountUnreachable as exc:
            raise CliError(
                f"cannot read account {account}: assuming {arn} was refused ({exc.code}): pass "
                "--account-role with a role you may assume there, or --profile of that account",
                code=AWS,
            ) from None
        return Aws(profile=self.profile, region=self.region, session=session, account=account)

    def member_role_name(self, stack: str) -> str:
        """The stack's MemberRoleName: the member role the rotate function assumes (its MEMBER_ROLE_NAME; the
        scan's own is <MemberRoleName>-scan)."""
        deployed = self.function_environment(stack, ROTATE_FUNCTION_OUTPUT) or {}
        return deployed.get("MEMBER_ROLE_NAME") or MEMBER_ROLE_NAME_DEFAULT

    def read_role(self, stack: str) -> str:
        """member-role.yaml's read role for the command line in a managed account."""
        return self.member_role_name(stack) + READ_ROLE_SUFFIX

    def store(self) -> IamCertificateStore:
        return IamCertificateStore(self.client("iam"))

    def regions(self, named: tuple[str, ...]) -> FixedRegions | EnabledRegions:
        return FixedRegions(named) if named else EnabledRegions(lambda: self.client("ec2"))

    def endpoints(self, regions: tuple[str, ...]) -> AllEndpoints:
        """The same search the functions make: the regions named, else every region enabled for the
        account; CloudFront where the partition offers it."""
        partition = self.partition()
        return AllEndpoints(
            self.regions(regions),
            lambda region: LoadBalancerListeners(
                region, self.client("elbv2", region), self.client("elb", region)
            ),
            # botocore sends a CloudFront client of any region to the partition's global endpoint.
            (lambda: CloudFrontDistributions(self.client("cloudfront")))
            if offers_cloudfront(partition)
            else None,
            partition=self.partition(),
        )

    def acm(self, regions: tuple[str, ...]) -> AcmCertificateStore:
        return AcmCertificateStore(self.regions(regions), lambda region: self.client("acm", region))

    def dns(self) -> Route53Challenges:
        """Route 53 as the rotation reads it: which public zones could answer DNS-01 (read only here)."""
        # botocore sends a Route 53 client of any region to the partition's global endpoint.
        return Route53Challenges(self.client("route53"))

    def addresses(self) -> EndpointAddresses:
        # botocore sends a CloudFront client of any region to the partition's global endpoint.
        return EndpointAddresses(self.client, lambda: self.client("cloudfront"))

    @functools.cache  # noqa: B019
    def deployment(self, stack: str) -> Deployment:
        """The stack's outputs. A stack that does not exist is a note (the settings' defaults are used where
        that makes sense); a refusal to read it is a permission problem, never "not found"."""
        try:
            described = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and _STACK_MISSING in str(exc):
                return Deployment(stack, note=f"stack {stack!r} not found in {self.region}")
            if permission_problem(exc):
                raise CliError(
                    f"permission problem: cloudformation:DescribeStacks on stack {stack!r} was refused "
                    f"({error_code(exc)}): the command line reads the stack's outputs; grant it, or pass "
                    "--profile with credentials that may",
                    code=AWS,
                ) from None
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return Deployment(stack, outputs)

    def require_function(self, stack: str, output: str, way_out: str) -> str:
        deployment = self.deployment(stack)
        function = deployment.outputs.get(output)
        if not function:
            raise CliError(
                f"{deployment.note or f'stack {stack!r} has no output {output}'}: pass --stack{way_out}",
                code=USAGE,
            )
        return function

    @functools.cache  # noqa: B019
    def function_configuration(self, stack: str, output: str) -> FunctionConfiguration | None:
        """The deployed function's configuration (None when the stack or function is missing)."""
        name = self.deployment(stack).outputs.get(output)
        if not name:
            return None
        try:
            configuration = self.client("lambda").get_function_configuration(FunctionName=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return FunctionConfiguration(
            name=name,
            timeout=int(configuration.get("Timeout") or LAMBDA_TIMEOUT_MAX),
            role=str(configuration.get("Role", "")),
            environment=dict(configuration.get("Environment", {}).get("Variables", {})),
        )

    def function_environment(self, stack: str, output: str) -> Mapping[str, str] | None:
        """The environment variables of a deployed function (None when the stack or function is missing)."""
        configuration = self.function_configuration(stack, output)
        return None if configuration is None else configuration.environment

    def invoker(self, timeout_seconds: int) -> Any:
        """A Lambda client that waits as long as the function may run and never calls it twice: a rotation
        whose answer is slow is still running, and a second call would only meet its lease (or, for a dry
        run, repeat it). Throttling is not retried either: the operator sees it and runs again."""
        config = BOTO_CONFIG.merge(
            Config(
                read_timeout=timeout_seconds + INVOKE_READ_MARGIN,
                connect_timeout=10,
                retries={"mode": "standard", "total_max_attempts": 1},
            )
        )
        return self.session.client("lambda", region_name=self.region, config=config)

    def settings(
        self, stack: str, *, renew_before_days: int | None, regions: tuple[str, ...] | None
    ) -> tuple[Settings, str]:
        """The settings the deployed scan runs with, and where they came from; flags override them."""
        deployed = self.function_environment(stack, SCAN_FUNCTION_OUTPUT)
        source = f"stack {stack}" if deployed is not None else "defaults (stack not found)"
        env = {k: v for k, v in (deployed or {}).items() if not k.startswith("AWS_")}
        env["AWS_REGION"] = self.region
        bundle = local_trust_bundle(env.pop("ISSUER_TRUST_BUNDLE", ""))
        if bundle:
            env["ISSUER_TRUST_BUNDLE"] = bundle  # chains checked as the functions check them
        if renew_before_days is not None:
            env["RENEW_BEFORE_DAYS"] = str(renew_before_days)
            source += ", --renew-before-days"
        if regions:
            env["LOAD_BALANCER_REGIONS"] = ",".join(regions)
        if self.account:
            source += f", account {self.account}"
        return load_settings(env), source


def local_trust_bundle(deployed: str) -> str:
    """The deployed ISSUER_TRUST_BUNDLE as a file on this machine: the same path, or a file of the layer
    (`/opt/python/...`) in the installed package; "" when neither is here (the default roots are then used:
    Let's Encrypt staging's for its directory, else certifi's)."""
    if not deployed or os.path.isfile(deployed):
        return deployed
    if deployed.startswith(LAYER_MOUNT):
        import certrotate

        here = Path(certrotate.__file__).resolve().parent.parent / deployed.removeprefix(LAYER_MOUNT)
        if here.is_file():
            return str(here)
    return ""
