"""The devstack's TLS front: load balancers and distributions answer handshakes under their DNS names with
what moto says they hold, chosen by SNI as ELB chooses; the devstack's DNS resolves their names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from certrotate.adapters.net.tls_probe import ConnectTo, connector, fetch_certificates
from certrotate.report.served import Presented
from dnslib import QTYPE, DNSRecord  # type: ignore[import-untyped,unused-ignore]

from devstack import fixtures
from devstack.stack import LocalStack
from devstack.tls_front import TlsFront


@pytest.fixture
def front(aws: LocalStack) -> Iterator[TlsFront]:
    with TlsFront() as running:
        yield running


def served(front: TlsFront, host: str, port: int, server_name: str) -> Presented:
    rules = [ConnectTo.parse(r) for r in front.connect_to()]
    return Presented.from_der(
        fetch_certificates(host, port, server_name, timeout=3, connect=connector(rules))
    )


def dns_name(aws: LocalStack, arn: str) -> str:
    return str(
        aws.client("elbv2").describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["DNSName"]
    )


def seed(aws: LocalStack, name: str, names: list[str]) -> dict[str, Any]:
    return fixtures.seed_certificate(aws.client("iam"), name, names, days_left=60)


@pytest.mark.stack
class TestTlsFront:
    def test_serves_by_sni_as_elb_chooses_with_the_chain(self, aws: LocalStack, front: TlsFront) -> None:
        default = seed(aws, "default", ["default.example.org"])
        apex = seed(aws, "apex", ["example.com"])
        wild = seed(aws, "wild", ["*.example.com"])
        ref = fixtures.create_alb_https_listener(
            aws.client("elbv2"),
            aws.client("ec2"),
            default["Arn"],
            sni_certificate_arns=[apex["Arn"], wild["Arn"]],
        )
        host = dns_name(aws, ref.load_balancer_arn)

        assert served(front, host, 443, "example.com").leaf.dns_names == ("example.com",)
        assert served(front, host, 443, "www.example.com").leaf.dns_names == ("*.example.com",)
        nothing = served(front, host, 443, "unknown.example.net")
        assert nothing.leaf.dns_names == ("default.example.org",)  # no match: the default
        assert len(nothing.chain) == 1  # the intermediate IAM holds

    def test_follows_listener_changes_unless_frozen(self, aws: LocalStack, front: TlsFront) -> None:
        old, new = seed(aws, "old", ["shop.example.com"]), seed(aws, "new", ["shop.example.com"])
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_nlb_tls_listener(elbv2, aws.client("ec2"), old["Arn"], port=8443)
        host = dns_name(aws, ref.load_balancer_arn)
        old_serial = served(front, host, 8443, "shop.example.com").leaf.serial

        front.freeze(host, 8443)
        elbv2.modify_listener(ListenerArn=ref.listener_arn, Certificates=[{"CertificateArn": new["Arn"]}])
        assert served(front, host, 8443, "shop.example.com").leaf.serial == old_serial
        front.thaw(host, 8443)
        assert served(front, host, 8443, "shop.example.com").leaf.serial != old_serial

    def test_classic_listeners_and_distributions(self, aws: LocalStack, front: TlsFront) -> None:
        cert = seed(aws, "site", ["site.example.com"])
        fixtures.create_classic_https_listener(aws.client("elb"), aws.client("ec2"), cert["Arn"], name="clb")
        distribution = fixtures.create_cloudfront_distribution(
            aws.client("cloudfront"), cert["ServerCertificateId"]
        )
        domain = aws.client("cloudfront").get_distribution(Id=distribution.id)["Distribution"]["DomainName"]
        classic = aws.client("elb").describe_load_balancers(LoadBalancerNames=["clb"])[
            "LoadBalancerDescriptions"
        ]
        for host in (classic[0]["DNSName"], domain):
            assert served(front, host, 443, "site.example.com").leaf.dns_names == ("site.example.com",)

    def test_stops_serving_deleted_load_balancers(self, aws: LocalStack, front: TlsFront) -> None:
        cert = seed(aws, "site", ["site.example.com"])
        elbv2 = aws.client("elbv2")
        ref = fixtures.create_alb_https_listener(elbv2, aws.client("ec2"), cert["Arn"])
        host = dns_name(aws, ref.load_balancer_arn)
        assert (host.lower(), 443) in front.sync()
        elbv2.delete_listener(ListenerArn=ref.listener_arn)
        assert (host.lower(), 443) not in front.sync()


@pytest.mark.stack
def test_dns_answers_a_for_load_balancer_and_distribution_names(aws: LocalStack) -> None:
    cert = seed(aws, "site", ["site.example.com"])
    ref = fixtures.create_alb_https_listener(aws.client("elbv2"), aws.client("ec2"), cert["Arn"])
    host = dns_name(aws, ref.load_balancer_arn)
    assert aws.dns is not None

    def ask(name: str) -> list[str]:
        reply = DNSRecord.parse(DNSRecord.question(name, "A").send(aws.dns.address, aws.dns.port, timeout=3))
        return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]

    assert ask(host) == ["127.0.0.1"]
    assert ask(host.upper()) == ["127.0.0.1"]
    assert ask("nothing.us-east-1.elb.amazonaws.com") == []
