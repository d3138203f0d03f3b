"""The local stack itself: DNS from Route 53, pebble, fault injection, call counting, the Lambda runner."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
import requests
from acme import challenges, client, crypto_util, messages
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dnslib import QTYPE, RCODE, DNSRecord  # type: ignore[import-untyped]
from josepy.jwk import JWKRSA

from devstack import fixtures, iam_enforcement, lambda_runner
from devstack.dns import txt_records
from devstack.stack import LocalStack

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def txt_change(name: str, values: list[str], action: str = "CREATE", ttl: int = 60) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "TXT",
            "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values],
        },
    }


def put_txt(aws: LocalStack, zone_id: str, name: str, values: list[str], ttl: int = 60) -> None:
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [txt_change(name, values, ttl=ttl)]}
    )


def query(aws: LocalStack, name: str, qtype: str = "TXT", tcp: bool = False) -> DNSRecord:
    assert aws.dns is not None
    packet = DNSRecord.question(name, qtype).send(aws.dns.address, aws.dns.port, tcp=tcp, timeout=3)
    return DNSRecord.parse(packet)


def txt_answers(record: DNSRecord) -> list[list[str]]:
    return [[part.decode() for part in rr.rdata.data] for rr in record.rr if rr.rtype == QTYPE.TXT]


# ----------------------------------------------------------------------------------------------------
# DNS server fed from Route 53
# ----------------------------------------------------------------------------------------------------


@pytest.mark.stack
class TestDns:
    @pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
    def test_answers_txt_from_route53_unquoted(self, aws: LocalStack, tcp: bool) -> None:
        zone = fixtures.create_hosted_zone(aws.client("route53"), "example.com")
        put_txt(aws, zone, "_acme-challenge.example.com", ['"apex-token"', '"wild" "card"'], ttl=42)

        reply = query(aws, "_acme-challenge.example.com", tcp=tcp)

        assert reply.header.rcode == RCODE.NOERROR
        assert sorted(txt_answers(reply)) == [["apex-token"], ["wild", "card"]]
        assert {rr.ttl for rr in reply.rr} == {42}

    def test_name_case_and_escapes(self, aws: LocalStack) -> None:
        zone = fixtures.create_hosted_zone(aws.client("route53"), "Example.COM")
        put_txt(aws, zone, "_ACME-challenge.example.com.", ['"say \\"hi\\""'])
        assert txt_answers(query(aws, "_acme-challenge.EXAMPLE.com")) == [['say "hi"']]

    def test_longest_matching_public_zone_answers(self, aws: LocalStack) -> None:
        route53 = aws.client("route53")
        parent = fixtures.create_hosted_zone(route53, "example.com")
        child = fixtures.create_hosted_zone(route53, "dev.example.com")
        network = fixtures.create_vpc_with_subnets(aws.client("ec2"))
        private = fixtures.create_hosted_zone(route53, "api.dev.example.com", (aws.region, network.vpc_id))
        put_txt(aws, parent, "_acme-challenge.api.dev.example.com", ['"from-parent"'])
        put_txt(aws, child, "_acme-challenge.api.dev.example.com", ['"from-child"'])
        put_txt(aws, private, "_acme-challenge.api.dev.example.com", ['"from-private"'])

        assert txt_answers(query(aws, "_acme-challenge.api.dev.example.com")) == [["from-child"]]

    def test_empty_noerror_otherwise(self, aws: LocalStack) -> None:
        zone = fixtures.create_hosted_zone(aws.client("route53"), "example.com")
        put_txt(aws, zone, "_acme-challenge.example.com", ['"token"'])
        for name, qtype in [
            ("_acme-challenge.example.com", "A"),
            ("_acme-challenge.example.com", "CAA"),
            ("missing.example.com", "TXT"),
            ("example.org", "TXT"),
        ]:
            reply = query(aws, name, qtype)
            assert reply.header.rcode == RCODE.NOERROR
            assert reply.rr == []

    def test_follows_changes_and_deletes(self, aws: LocalStack) -> None:
        route53 = aws.client("route53")
        zone = fixtures.create_hosted_zone(route53, "example.com")
        name = "_acme-challenge.example.com"
        put_txt(aws, zone, name, ['"one"'])
        assert txt_records(name) == [(60, ["one"])]
        route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": [txt_change(name, ['"one"'], action="DELETE")]}
        )
        assert txt_answers(query(aws, name)) == []


# ----------------------------------------------------------------------------------------------------
# Pebble
# ----------------------------------------------------------------------------------------------------


@pytest.mark.stack
class TestPebble:
    def test_directory_answers_over_trusted_https(self, pebble_stack: LocalStack) -> None:
        assert pebble_stack.acme_directory_url is not None
        response = requests.get(
            pebble_stack.acme_directory_url, verify=pebble_stack.acme_ca_bundle, timeout=5
        )
        assert response.status_code == 200
        assert {"newNonce", "newAccount", "newOrder"} <= set(response.json())
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(pebble_stack.acme_directory_url, timeout=5)  # not trusted by default

    def test_issuer_trust_bundle_is_pebbles_root(self, pebble_stack: LocalStack) -> None:
        assert pebble_stack.issuer_trust_bundle is not None
        roots = x509.load_pem_x509_certificates(Path(pebble_stack.issuer_trust_bundle).read_bytes())
        assert len(roots) == 1
        root = roots[0]
        assert root.subject == root.issuer
        assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert pebble_stack.pebble is not None
        both = pebble_stack.pebble.issuer_roots_path(include_intermediates=True)
        assert len(x509.load_pem_x509_certificates(Path(both).read_bytes())) == 2

    def test_env_points_the_code_under_test_at_the_stack(self, pebble_stack: LocalStack) -> None:
        env = pebble_stack.env()
        assert env["AWS_ENDPOINT_URL"] == pebble_stack.endpoint_url
        # The operator's credentials (fake, so nothing reaches real AWS): the code under test is never the
        # administrator; functions get their own role's through lambda_runner.
        assert env["AWS_ACCESS_KEY_ID"] == iam_enforcement.OPERATOR_ACCESS_KEY
        assert env["AWS_SECRET_ACCESS_KEY"] == env["AWS_SESSION_TOKEN"] == "testing"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == pebble_stack.region
        assert env["ACME_DIRECTORY_URL"] == pebble_stack.acme_directory_url
        assert env["REQUESTS_CA_BUNDLE"] == pebble_stack.acme_ca_bundle
        assert env["ISSUER_TRUST_BUNDLE"] == pebble_stack.issuer_trust_bundle
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CertRotate"
        assert all(os.path.isfile(env[k]) for k in ("REQUESTS_CA_BUNDLE", "ISSUER_TRUST_BUNDLE"))

    def test_dns01_issuance_through_route53(self, aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
        """The whole path is real: pebble asks our DNS server, which reads what boto3 wrote to Route 53."""
        if aws.pebble is None:
            pytest.skip("pebble not found: run `make deps`")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(aws.acme_ca_bundle))
        route53 = aws.client("route53")
        zone = fixtures.create_hosted_zone(route53, "example.com")
        account_key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        net = client.ClientNetwork(account_key, user_agent="devstack-test")
        acme = client.ClientV2(client.ClientV2.get_directory(str(aws.acme_directory_url), net), net=net)
        acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        leaf_key = fixtures.key_to_pem(ec.generate_private_key(ec.SECP256R1())).encode()
        order = acme.new_order(crypto_util.make_csr(leaf_key, ["www.example.com"]))
        for authz in order.authorizations:
            dns01 = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
            validation = dns01.chall.validation(account_key)
            put_txt(aws, zone, dns01.chall.validation_domain_name("www.example.com"), [f'"{validation}"'])
            acme.answer_challenge(dns01, dns01.chall.response(account_key))

        done = acme.poll_and_finalize(order, deadline=dt.datetime.now() + dt.timedelta(seconds=30))

        leaf, intermediate = x509.load_pem_x509_certificates(done.fullchain_pem.encode())[:2]
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["www.example.com"]
        root = x509.load_pem_x509_certificate(Path(str(aws.issuer_trust_bundle)).read_bytes())
        leaf.verify_directly_issued_by(intermediate)
        intermediate.verify_directly_issued_by(root)


# ----------------------------------------------------------------------------------------------------
# Faults and call counting
# ----------------------------------------------------------------------------------------------------


@pytest.mark.stack
class TestFaults:
    def test_exactly_n_errors_with_the_code(self, aws: LocalStack) -> None:
        elbv2 = aws.client("elbv2", config=NO_RETRIES)
        aws.faults.inject(service="elbv2", action="DescribeLoadBalancers", code="Throttling", times=3)

        codes = []
        for _ in range(3):
            with pytest.raises(ClientError) as exc:
                elbv2.describe_load_balancers()
            codes.append((exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]))
        assert codes == [("Throttling", "Rate exceeded")] * 3
        assert elbv2.describe_load_balancers()["LoadBalancers"] == []
        assert aws.faults.count(service="elbv2", action="DescribeLoadBalancers") == 3
        assert aws.faults.count() == 3
        assert aws.faults.pending() == []

    def test_botocore_retry_mode_sees_throttling(
        self, aws: LocalStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Record botocore's backoff instead of sleeping it (only where botocore.endpoint sleeps).
        delays: list[float] = []
        fake_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
        fake_time.sleep = delays.append
        monkeypatch.setattr(botocore.endpoint, "time", fake_time)
        iam = aws.client("iam", config=Config(retries={"mode": "standard", "total_max_attempts": 5}))
        aws.faults.inject(service="iam", action="ListServerCertificates", code="Throttling", times=3)

        response = iam.list_server_certificates()

        assert response["ResponseMetadata"]["RetryAttempts"] == 3
        assert len(delays) == 3
        assert aws.calls.count("iam", "ListServerCertificates") == 4

    @pytest.mark.parametrize(
        ("service", "action", "call", "code", "status"),
        [
            ("iam", "ListServerCertificates", lambda c: c.list_server_certificates(), "Throttling", 400),
            ("elb", "DescribeLoadBalancers", lambda c: c.describe_load_balancers(), "Throttling", 400),
            (
                "elbv2",
                "DescribeListeners",
                lambda c: c.describe_listeners(LoadBalancerArn="x"),
                "Throttling",
                400,
            ),
            ("ec2", "DescribeVpcs", lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
            ("route53", "ListHostedZones", lambda c: c.list_hosted_zones(), "PriorRequestNotComplete", 400),
            ("cloudfront", "ListDistributions", lambda c: c.list_distributions(), "Throttling", 400),
            ("secretsmanager", "ListSecrets", lambda c: c.list_secrets(), "ThrottlingException", 400),
            ("events", "ListRules", lambda c: c.list_rules(), "ThrottlingException", 400),
            ("sqs", "ListQueues", lambda c: c.list_queues(), "RequestThrottled", 403),
            ("acm", "ListCertificates", lambda c: c.list_certificates(), "InternalFailure", 500),
        ],
    )
    def test_error_is_in_the_services_protocol(
        self, aws: LocalStack, service: str, action: str, call: Any, code: str, status: int
    ) -> None:
        client = aws.client(service, config=NO_RETRIES)
        aws.faults.inject(service=service, action=action, code=code, status=status, message="injected")
        with pytest.raises(ClientError) as exc:
            call(client)
        response: Any = exc.value.response
        assert response["Error"]["Code"] == code
        assert response["Error"]["Message"] == "injected"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert aws.faults.count(service, action) == 1

    def test_faulted_calls_do_not_reach_aws(self, aws: LocalStack) -> None:
        sm = aws.client("secretsmanager", config=NO_RETRIES)
        aws.faults.inject(
            service="secretsmanager", action="CreateSecret", code="InternalServiceError", status=500
        )
        with pytest.raises(ClientError):
            sm.create_secret(Name="s", SecretString="x")
        assert sm.list_secrets()["SecretList"] == []

    def test_after_and_any_action(self, aws: LocalStack) -> None:
        route53 = aws.client("route53", config=NO_RETRIES)
        zone = fixtures.create_hosted_zone(route53, "example.com")
        aws.faults.inject(service="route53", action="ChangeResourceRecordSets", after=1, times=1)
        put_txt(aws, zone, "a.example.com", ['"first passes"'])
        with pytest.raises(ClientError) as exc:
            route53.change_resource_record_sets(
                HostedZoneId=zone, ChangeBatch={"Changes": [txt_change("b.example.com", ['"second fails"'])]}
            )
        assert exc.value.response["Error"]["Code"] == "Throttling"
        aws.faults.inject(service="route53", code="ServiceUnavailable", status=503, times=2)
        calls: list[Callable[[], Any]] = [route53.list_hosted_zones, lambda: route53.get_hosted_zone(Id=zone)]
        for call in calls:
            with pytest.raises(ClientError) as exc:
                call()
            assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert route53.get_hosted_zone(Id=zone)["HostedZone"]["Name"] == "example.com."
        aws.faults.inject(service="route53", times=5)
        aws.faults.clear()
        assert aws.faults.pending() == []
        route53.list_hosted_zones()

    def test_a_fault_may_be_limited_to_one_region(self, aws: LocalStack) -> None:
        aws.faults.inject(service="elbv2", region="eu-west-1", code="UnrecognizedClientException", times=2)
        aws.client("elbv2", "us-east-1", config=NO_RETRIES).describe_load_balancers()
        far = aws.client("elbv2", "eu-west-1", config=NO_RETRIES)
        for _ in range(2):
            with pytest.raises(ClientError) as exc:
                far.describe_load_balancers()
            assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
        far.describe_load_balancers()
        assert aws.faults.count(service="elbv2") == 2

    def test_call_counting_per_action(self, aws: LocalStack) -> None:
        route53, iam = aws.client("route53"), aws.client("iam")
        zone = fixtures.create_hosted_zone(route53, "example.com")
        aws.calls.reset()
        change = route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": [txt_change("_acme-challenge.example.com", ['"t"'])]}
        )["ChangeInfo"]
        route53.get_change(Id=change["Id"])
        route53.get_change(Id=change["Id"])
        route53.list_resource_record_sets(HostedZoneId=zone)
        route53.list_hosted_zones_by_name(DNSName="example.com")
        iam.list_server_certificates()
        aws.client("elbv2").describe_load_balancers()
        aws.client("elb").describe_load_balancers()

        assert aws.calls.snapshot() == {
            ("route53", "ChangeResourceRecordSets"): 1,
            ("route53", "GetChange"): 2,
            ("route53", "ListResourceRecordSets"): 1,
            ("route53", "ListHostedZonesByName"): 1,
            ("iam", "ListServerCertificates"): 1,
            ("elbv2", "DescribeLoadBalancers"): 1,
            ("elb", "DescribeLoadBalancers"): 1,
        }
        assert aws.calls.count("route53") == 5
        assert aws.calls.total() == 8

    def test_reset_forgets_state_faults_and_counts(self, stack: LocalStack) -> None:
        stack.reset_aws()
        fixtures.create_hosted_zone(stack.client("route53"), "example.com")
        stack.faults.inject(service="iam", times=3)
        stack.reset_aws()
        assert stack.client("route53").list_hosted_zones()["HostedZones"] == []
        assert stack.faults.pending() == []
        assert stack.calls.snapshot() == {("route53", "ListHostedZones"): 1}


# ----------------------------------------------------------------------------------------------------
# Lambda runner
# ----------------------------------------------------------------------------------------------------

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  RotateTimeout:
    Type: Number
    Default: 600
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
    Timeout: 30
    MemorySize: 256
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        LOG_LEVEL: INFO
        DRY: false
        QUEUE_URL: !Ref Queue
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
    Metadata:
      BuildMethod: python3.11
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-rotation.fifo"
      FifoQueue: true
  ScanFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/scan/
      Policies:
        - Statement:
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: !GetAtt Queue.Arn
  RotateFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/rotate/
      Timeout: !Ref RotateTimeout
      MemorySize: 512
      Layers:
        - !Ref SharedLayer
        - arn:aws:lambda:us-east-1:123456789012:layer:published:1
      Environment:
        Variables:
          EXTRA: "1"
Outputs:
  Queue:
    Value: !GetAtt [Queue, Arn]
"""

HANDLER = """\
import os
import devstack_test_layer_pkg as shared

shared.LOADS.append(__name__)

def lambda_handler(event, context):
    return {{
        "function": "{name}",
        "shared": shared.NAME,
        "module": __name__,
        "event": event,
        "env": {{k: os.environ.get(k) for k in ("LOG_LEVEL", "DRY", "QUEUE_URL", "EXTRA", "FROM_CALLER")}},
        "lambda_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "context": {{
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
        }},
    }}
"""


@pytest.fixture
def sam_app(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "layers/shared/devstack_test_layer_pkg").mkdir(parents=True)
    (tmp_path / "layers/shared/devstack_test_layer_pkg/__init__.py").write_text(
        'NAME = "shared"\nLOADS = []\n'
    )
    for name in ("scan", "rotate"):
        (tmp_path / "functions" / name).mkdir(parents=True)
        (tmp_path / "functions" / name / "app.py").write_text(HANDLER.format(name=name))
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    saved_path = list(sys.path)
    yield template
    lambda_runner.cold_start(lambda_runner.template(template))
    sys.path[:] = saved_path


class TestLambdaRunner:
    def test_reads_code_uri_handler_and_layers(self, sam_app: Path) -> None:
        template = lambda_runner.Template(sam_app)
        assert sorted(template.function_ids()) == ["RotateFunction", "ScanFunction"]
        scan, rotate = template.function("ScanFunction"), template.function("RotateFunction")
        assert scan.code_uri == sam_app.parent / "functions/scan"
        assert scan.handler == "app.lambda_handler"
        assert scan.layers == rotate.layers == (sam_app.parent / "layers/shared",)
        assert (scan.timeout, scan.memory_size) == (30, 256)
        assert (rotate.timeout, rotate.memory_size) == (600, 512)
        assert scan.environment == {"LOG_LEVEL": "INFO", "DRY": "false"}
        assert rotate.environment == {"LOG_LEVEL": "INFO", "DRY": "false", "EXTRA": "1"}
        with pytest.raises(lambda_runner.TemplateError, match="ScanFunction"):
            template.function("NoSuchFunction")

    def test_invokes_both_functions_like_lambda(self, sam_app: Path) -> None:
        env = {"FROM_CALLER": "yes", "LOG_LEVEL": "DEBUG"}
        before = dict(os.environ)
        with lambda_runner.lambda_environment({"FROM_CALLER": None, "AWS_LAMBDA_FUNCTION_NAME": None}):
            scan = lambda_runner.invoke("ScanFunction", {"dry_run": True}, env, template_path=sam_app)
            rotate = lambda_runner.invoke(
                "RotateFunction", {"certificate_name": "www"}, env, template_path=sam_app
            )
            again = lambda_runner.invoke("ScanFunction", {}, env, template_path=sam_app)
        assert dict(os.environ) == before

        assert (scan["function"], rotate["function"]) == ("scan", "rotate")
        assert scan["module"] != rotate["module"]  # two app.py, two modules
        assert scan["shared"] == "shared"
        assert scan["event"] == {"dry_run": True}
        assert scan["env"] == {
            "LOG_LEVEL": "DEBUG",
            "DRY": "false",
            "QUEUE_URL": None,
            "EXTRA": None,
            "FROM_CALLER": "yes",
        }
        assert rotate["env"]["EXTRA"] == "1"
        assert scan["lambda_name"] == "ScanFunction"
        assert scan["context"]["function_name"] == "ScanFunction"
        assert scan["context"]["memory"] == 256
        assert 29_000 < scan["context"]["remaining"] <= 30_000
        assert 599_000 < rotate["context"]["remaining"] <= 600_000
        assert scan["context"]["request_id"] != again["context"]["request_id"]
        # Imported once per process, as in a warm container.
        layer_pkg = sys.modules["devstack_test_layer_pkg"]
        assert sorted(layer_pkg.LOADS) == sorted({scan["module"], rotate["module"]})

    def test_cold_start_imports_again(self, sam_app: Path) -> None:
        with lambda_runner.lambda_environment():
            first = lambda_runner.invoke("ScanFunction", {}, {}, template_path=sam_app)
            lambda_runner.cold_start(lambda_runner.template(sam_app))
            (sam_app.parent / "layers/shared/devstack_test_layer_pkg/__init__.py").write_text(
                'NAME = "shared v2"\nLOADS = []\n'
            )
            second = lambda_runner.invoke("ScanFunction", {}, {}, template_path=sam_app)
        assert (first["shared"], second["shared"]) == ("shared", "shared v2")

    def test_result_must_be_json(self, sam_app: Path) -> None:
        (sam_app.parent / "functions/scan/app.py").write_text(
            "def lambda_handler(event, context):\n    return {1j}\n"
        )
        with (
            lambda_runner.lambda_environment(),
            pytest.raises(TypeError),
        ):
            lambda_runner.invoke("ScanFunction", {}, {}, template_path=sam_app)

    def test_loader_accepts_cloudformation_tags(self, tmp_path: Path) -> None:
        path = tmp_path / "t.yaml"
        path.write_text(
            textwrap.dedent(
                """\
                A: !Ref X
                B: !GetAtt Queue.Arn
                C: !Sub ["${A}-x", {A: !Ref Y}]
                D: !If [Cond, !Ref Z, !Ref "AWS::NoValue"]
                E: !Join [",", [a, b]]
                """
            )
        )
        document = lambda_runner.load_yaml(path)
        assert document["A"] == lambda_runner.CfnTag("Ref", "X")
        assert document["B"] == lambda_runner.CfnTag("GetAtt", "Queue.Arn")
        assert document["C"] == lambda_runner.CfnTag(
            "Sub", ["${A}-x", {"A": lambda_runner.CfnTag("Ref", "Y")}]
        )
        assert document["D"].tag == "If"
        assert json.dumps(document["E"].value) == '[",", ["a", "b"]]'
