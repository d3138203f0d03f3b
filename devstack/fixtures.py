"""Builders for the AWS resources tests and the demo start from: certificates signed by a throwaway
local CA, IAM server certificates, hosted zones, VPCs, load balancer listeners and CloudFront distributions.

Everything takes boto3 clients, so it works against the local stack and (in principle) real AWS alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import ipaddress
import json
import threading
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack import lambda_runner
from devstack.moto_fixes import KEY_USAGE_FIELDS

# The operator contract (CONTRACT.md), spelled out here rather than imported from the code under test so
# that a renamed constant in production code makes the tests fail instead of silently following along.
MANAGED_TAG = "certrotate:managed"

KeyKind = Literal["rsa2048", "rsa4096", "ec256", "ec384"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class IssuedCertificate:
    """A leaf certificate as IAM wants it: PEM body, unencrypted PKCS#8 key and the intermediates."""

    cert_pem: str
    key_pem: str
    chain_pem: str
    not_after: dt.datetime
    names: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: list[str]


@dataclass(frozen=True)
class ListenerRef:
    """An ALB/NLB listener created by a fixture."""

    load_balancer_arn: str
    load_balancer_name: str
    listener_arn: str
    target_group_arn: str


@dataclass(frozen=True)
class ClassicListenerRef:
    load_balancer_name: str
    port: int


@dataclass(frozen=True)
class DistributionRef:
    id: str
    arn: str
    etag: str


def generate_key(kind: KeyKind = "rsa2048") -> PrivateKey:
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key kind {kind!r}: use rsa2048, rsa4096, ec256 or ec384")


def key_to_pem(key: PrivateKey) -> str:
    # PKCS#8 without a password: the form IAM accepts (no `EC PARAMETERS` block for EC keys).
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devstack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


class LocalCA:
    """A root and one intermediate, made once per process: leaves it signs come with a real chain."""

    def __init__(self, name: str = "devstack local") -> None:
        now = _now()
        self.root_key = generate_key("ec256")
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} root"))
            .issuer_name(_name(f"{name} root"))
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(ca_key_usage(), critical=True)
            .add_extension(_ski(self.root_key), critical=False)
            .sign(self.root_key, hashes.SHA256())
        )
        self.intermediate_key = generate_key("ec256")
        self.intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} intermediate"))
            .issuer_name(self.root.subject)
            .public_key(self.intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3000))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(ca_key_usage(), critical=True)
            .add_extension(_ski(self.intermediate_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA256())
        )

    @property
    def root_pem(self) -> str:
        return cert_to_pem(self.root)

    @property
    def chain_pem(self) -> str:
        return cert_to_pem(self.intermediate)

    def issue(
        self,
        names: Sequence[str],
        days_valid: float,
        key: KeyKind | PrivateKey = "rsa2048",
        not_before: dt.datetime | None = None,
        extended_key_usages: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.SERVER_AUTH,),
        key_usages: Sequence[str] = (),
    ) -> IssuedCertificate:
        """`key_usages`: KeyUsage values (`digital_signature`, `key_encipherment`, ...) of a KeyUsage
        extension, as public CAs write one (none by default: the leaf then has no KeyUsage at all)."""
        if not names:
            raise ValueError("a certificate needs at least one name")
        leaf_key = generate_key(key) if isinstance(key, str) else key
        now = _now()
        not_after = now + dt.timedelta(days=days_valid)
        # An already expired certificate (days_valid <= 0) still needs notBefore < notAfter.
        start = not_before or min(now - dt.timedelta(hours=1), not_after - dt.timedelta(days=1))
        san: list[x509.GeneralName] = []
        for name in names:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                san.append(x509.DNSName(name))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])]))
            .issuer_name(self.intermediate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
            .add_extension(_ski(leaf_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                critical=False,
            )
        )
        if key_usages:
            builder = builder.add_extension(leaf_key_usage(key_usages), critical=True)
        cert = builder.sign(self.intermediate_key, hashes.SHA256())
        return IssuedCertificate(
            cert_pem=cert_to_pem(cert),
            key_pem=key_to_pem(leaf_key),
            chain_pem=self.chain_pem,
            not_after=not_after,
            names=tuple(names),
        )


def leaf_key_usage(usages: Sequence[str]) -> x509.KeyUsage:
    unknown = set(usages) - set(KEY_USAGE_FIELDS)
    if unknown:
        raise ValueError(f"unknown KeyUsage values: {sorted(unknown)}")
    return x509.KeyUsage(
        **{name: name in usages for name in KEY_USAGE_FIELDS}, encipher_only=False, decipher_only=False
    )


def ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


_ca_lock = threading.Lock()


@functools.cache
def _local_ca() -> LocalCA:
    return LocalCA()


def local_ca() -> LocalCA:
    """The process-wide throwaway CA (its root is what a test trusts for seeded certificates)."""
    with _ca_lock:
        return _local_ca()


def make_certificate(
    names: Sequence[str],
    days_valid: float = 90,
    key: KeyKind | PrivateKey = "rsa2048",
    ca: LocalCA | None = None,
    extended_key_usages: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    key_usages: Sequence[str] = (),
) -> IssuedCertificate:
    """A leaf for `names` (first is the CN) valid for `days_valid` days from now (<= 0: already expired)."""
    return (ca or local_ca()).issue(
        names, days_valid, key=key, extended_key_usages=extended_key_usages, key_usages=key_usages
    )


def seed_certificate(
    iam: Any,
    name: str,
    names: Sequence[str],
    days_left: float,
    managed: bool = True,
    path: str = "/",
    key: KeyKind = "rsa2048",
    tags: Mapping[str, str] | None = None,
    with_chain: bool = True,
) -> dict[str, Any]:
    """Uploads an IAM server certificate expiring in `days_left` days.

    Returns the ServerCertificateMetadata (Arn, ServerCertificateId, ServerCertificateName, Path,
    Expiration, UploadDate) plus the PEMs under CertificateBody, CertificateChain and PrivateKey.
    """
    issued = make_certificate(names, days_left, key=key)
    all_tags = dict(tags or {})
    if managed:
        all_tags[MANAGED_TAG] = "true"
    kwargs: dict[str, Any] = {
        "ServerCertificateName": name,
        "Path": path,
        "CertificateBody": issued.cert_pem,
        "PrivateKey": issued.key_pem,
    }
    if with_chain:
        kwargs["CertificateChain"] = issued.chain_pem
    if all_tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in all_tags.items()]
    metadata = dict(iam.upload_server_certificate(**kwargs)["ServerCertificateMetadata"])
    metadata["CertificateBody"] = issued.cert_pem
    metadata["CertificateChain"] = issued.chain_pem if with_chain else None
    metadata["PrivateKey"] = issued.key_pem
    return metadata


def create_hosted_zone(route53: Any, name: str, private_vpc: tuple[str, str] | None = None) -> str:
    """Creates a hosted zone and returns its bare ID (without `/hostedzone/`).

    `private_vpc` = (region, vpc_id) makes it a private zone, which public DNS (and so ACME) never sees.
    """
    kwargs: dict[str, Any] = {"Name": name, "CallerReference": str(uuid.uuid4())}
    if private_vpc is not None:
        kwargs["VPC"] = {"VPCRegion": private_vpc[0], "VPCId": private_vpc[1]}
        kwargs["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "devstack private zone"}
    zone_id: str = route53.create_hosted_zone(**kwargs)["HostedZone"]["Id"]
    return zone_id.rsplit("/", 1)[-1]


def create_record_set(
    route53: Any, zone_id: str, name: str, record_type: str, values: Sequence[str], ttl: int = 300
) -> None:
    """Creates a record set (someone else's: a CAA record, another client's TXT values, a CNAME)."""
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": record_type,
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": value} for value in values],
                    },
                }
            ]
        },
    )


def create_vpc_with_subnets(ec2: Any, region: str | None = None) -> Network:
    """A VPC with two subnets in two availability zones, as an ALB requires."""
    region = region or ec2.meta.region_name
    vpc_id: str = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    return Network(vpc_id=vpc_id, subnet_ids=subnet_ids)


def _unique(prefix: str) -> str:
    # Load balancer names: at most 32 characters of [A-Za-z0-9-].
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_v2_listener(
    elbv2: Any,
    ec2: Any,
    kind: Literal["application", "network"],
    protocol: Literal["HTTPS", "TLS"],
    certificate_arn: str,
    sni_certificate_arns: Iterable[str],
    name: str | None,
    port: int,
    network: Network | None,
) -> ListenerRef:
    network = network or create_vpc_with_subnets(ec2)
    lb_name = name or _unique("alb" if kind == "application" else "nlb")
    lb = elbv2.create_load_balancer(Name=lb_name, Subnets=network.subnet_ids, Type=kind, Scheme="internal")[
        "LoadBalancers"
    ][0]
    target_group = elbv2.create_target_group(
        Name=_unique("tg"),
        Protocol="HTTP" if kind == "application" else "TCP",
        Port=80,
        VpcId=network.vpc_id,
        TargetType="instance",
    )["TargetGroups"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol=protocol,
        Port=port,
        Certificates=[{"CertificateArn": certificate_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group["TargetGroupArn"]}],
    )["Listeners"][0]
    sni = list(sni_certificate_arns)
    if sni:
        elbv2.add_listener_certificates(
            ListenerArn=listener["ListenerArn"], Certificates=[{"CertificateArn": arn} for arn in sni]
        )
    return ListenerRef(
        load_balancer_arn=lb["LoadBalancerArn"],
        load_balancer_name=lb_name,
        listener_arn=listener["ListenerArn"],
        target_group_arn=target_group["TargetGroupArn"],
    )


def create_alb_https_listener(
    elbv2: Any,
    ec2: Any,
    certificate_arn: str,
    sni_certificate_arns: Iterable[str] = (),
    name: str | None = None,
    port: int = 443,
    network: Network | None = None,
) -> ListenerRef:
    """An Application Load Balancer with an HTTPS listener: default certificate plus SNI certificates."""
    return _create_v2_listener(
        elbv2, ec2, "application", "HTTPS", certificate_arn, sni_certificate_arns, name, port, network
    )


def create_alb_http_listener(elbv2: Any, load_balancer_arn: str, port: int = 80) -> str:
    """A plain-HTTP listener on the load balancer whose default action redirects to HTTPS (as most port-80
    listeners in front of an HTTPS site do); its ARN."""
    listener_arn: str = elbv2.create_listener(
        LoadBalancerArn=load_balancer_arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[
            {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    return listener_arn


def create_nlb_tls_listener(
    elbv2: Any,
    ec2: Any,
    certificate_arn: str,
    sni_certificate_arns: Iterable[str] = (),
    name: str | None = None,
    port: int = 443,
    network: Network | None = None,
) -> ListenerRef:
    """A Network Load Balancer with a TLS listener: default certificate plus SNI certificates."""
    return _create_v2_listener(
        elbv2, ec2, "network", "TLS", certificate_arn, sni_certificate_arns, name, port, network
    )


def create_classic_https_listener(
    elb: Any,
    ec2: Any,
    certificate_arn: str,
    name: str | None = None,
    port: int = 443,
    network: Network | None = None,
) -> ClassicListenerRef:
    """A Classic Load Balancer with one HTTPS listener on `port` serving `certificate_arn`."""
    network = network or create_vpc_with_subnets(ec2)
    lb_name = name or _unique("clb")
    elb.create_load_balancer(
        LoadBalancerName=lb_name,
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": port,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": certificate_arn,
            }
        ],
        Subnets=network.subnet_ids,
        Scheme="internal",
    )
    return ClassicListenerRef(load_balancer_name=lb_name, port=port)


# Lambda@Edge event types, in the order create_cloudfront_distribution assigns them to functions.
EDGE_EVENT_TYPES = ("viewer-request", "origin-request", "origin-response", "viewer-response")


def create_cloudfront_web_acl(wafv2: Any, name: str | None = None) -> str:
    """A WAFv2 web ACL of CloudFront's scope (the client must be for us-east-1); returns its ARN."""
    name = name or _unique("edge-acl")
    acl = wafv2.create_web_acl(
        Name=name,
        Scope="CLOUDFRONT",
        DefaultAction={"Allow": {}},
        Rules=[],
        VisibilityConfig={
            "SampledRequestsEnabled": False,
            "CloudWatchMetricsEnabled": False,
            "MetricName": name,
        },
    )
    return str(acl["Summary"]["ARN"])


def create_edge_function_version(lambda_client: Any, iam: Any, name: str | None = None) -> str:
    """A Lambda@Edge candidate: a us-east-1 function whose numbered version (what CloudFront associates) is
    returned as a version ARN."""
    name = name or _unique("edge-fn")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "index.py", "def handler(event, context):\n    return event['Records'][0]['cf']['request']\n"
        )
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(lambda_client.publish_version(FunctionName=name)["FunctionArn"])


def create_cloudfront_distribution(
    cloudfront: Any,
    iam_certificate_id: str,
    aliases: Sequence[str] = (),
    web_acl_id: str | None = None,
    lambda_function_arns: Sequence[str] = (),
) -> DistributionRef:
    """A distribution serving an IAM server certificate (ViewerCertificate.IAMCertificateId), optionally
    protected by a web ACL (WAFv2 ARN or WAF Classic ID) and with Lambda@Edge function versions associated
    with its default cache behaviour (one per event type, in EDGE_EVENT_TYPES order)."""
    if len(lambda_function_arns) > len(EDGE_EVENT_TYPES):
        raise ValueError(f"a cache behaviour has at most {len(EDGE_EVENT_TYPES)} Lambda@Edge associations")
    origin_id = "origin-1"
    config: dict[str, Any] = {
        "CallerReference": str(uuid.uuid4()),
        "Comment": "devstack",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": origin_id,
                    "DomainName": "origin.example.com",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": origin_id,
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "ViewerCertificate": {
            "IAMCertificateId": iam_certificate_id,
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
            "CloudFrontDefaultCertificate": False,
        },
    }
    if aliases:
        config["Aliases"] = {"Quantity": len(aliases), "Items": list(aliases)}
    if web_acl_id:
        config["WebACLId"] = web_acl_id
    if lambda_function_arns:
        config["DefaultCacheBehavior"]["LambdaFunctionAssociations"] = {
            "Quantity": len(lambda_function_arns),
            "Items": [
                {"LambdaFunctionARN": arn, "EventType": event, "IncludeBody": False}
                for arn, event in zip(lambda_function_arns, EDGE_EVENT_TYPES, strict=False)
            ],
        }
    response = cloudfront.create_distribution(DistributionConfig=config)
    distribution = response["Distribution"]
    return DistributionRef(id=distribution["Id"], arn=distribution["ARN"], etag=response["ETag"])


LEASE_TABLE = "certrotate-leases"


def create_lease_table(dynamodb: Any, name: str = LEASE_TABLE) -> str:
    """The rotation lease table exactly as template.yaml's LeaseTable declares it (key schema, billing mode,
    TTL), read from the template so that the tests cannot drift from what is deployed. Returns its name."""
    props = lambda_runner.template().resources["LeaseTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


ADMINISTRATOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def deploy_role(
    account_id: str, role_name: str, trusted_account: str, policy: dict[str, Any] | None = None
) -> str:
    """What AWS Organizations does for OrganizationAccountAccessRole in a member account: the role exists
    there, trusting `trusted_account`, with `policy` (an administrator's by default: the tests' own way in,
    never the code's; certrotate's member roles come from member-role.yaml: iam_enforcement.deploy_member).
    Written into moto's state directly: no credentials of the member account exist before some role in it
    does. Returns the role's ARN."""
    from moto.iam.models import iam_backends

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = iam_backends[account_id]["aws"]
    role = iam.create_role(role_name, json.dumps(trust), "/", None, "devstack role", [], None)
    iam.put_role_policy(role_name, "devstack", json.dumps(policy or ADMINISTRATOR_POLICY))
    return str(role.arn)


def import_acm_certificate(
    acm: Any,
    names: Sequence[str],
    days_left: float,
    managed: bool = True,
    key: KeyKind = "rsa2048",
    tags: Mapping[str, str] | None = None,
    key_usages: Sequence[str] = (),
) -> tuple[str, IssuedCertificate]:
    """Imports into ACM a certificate expiring in `days_left` days; returns its ARN and the certificate."""
    issued = make_certificate(names, days_left, key=key, key_usages=key_usages)
    all_tags = dict(tags or {})
    if managed:
        all_tags[MANAGED_TAG] = "true"
    kwargs: dict[str, Any] = (
        {"Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]} if all_tags else {}
    )
    arn: str = acm.import_certificate(
        Certificate=issued.cert_pem.encode(),
        PrivateKey=issued.key_pem.encode(),
        CertificateChain=issued.chain_pem.encode(),
        **kwargs,
    )["CertificateArn"]
    return arn, issued
