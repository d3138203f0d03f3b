"""The devstack's DNS server (devstack/dns.py): what a CA's DNS-01 lookup reaches, and what it logs."""

from __future__ import annotations

import socket
from pathlib import Path

import dns.resolver
import pytest

from devstack import fixtures
from devstack.dns import Route53DnsServer
from devstack.stack import LocalStack

pytestmark = pytest.mark.stack


def test_no_other_socket_can_take_its_udp_port() -> None:
    """On Linux two UDP sockets that both set SO_REUSEADDR share a port and the later one gets the
    datagrams: another test run's server trying the same loopback port 53 took a CA's queries while it
    held it. The server does not set it, so nobody else can bind its port."""
    with Route53DnsServer() as server:
        intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            with pytest.raises(OSError):
                intruder.bind((server.address, server.port))
        finally:
            intruder.close()


def test_the_query_log_names_each_txt_answer_as_route_53_held_it(aws: LocalStack, tmp_path: Path) -> None:
    zone = fixtures.create_hosted_zone(aws.client("route53"), "example.com")
    fixtures.create_record_set(
        aws.client("route53"), zone, "_acme-challenge.www.example.com", "TXT", ['"the-value"']
    )
    log = tmp_path / "dns.log"
    with Route53DnsServer(query_log=log) as server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [server.address]
        resolver.port = server.port
        answer = resolver.resolve("_acme-challenge.www.example.com", "TXT")
        assert [r.strings for r in answer] == [(b"the-value",)]
        with pytest.raises(dns.resolver.NoAnswer):
            resolver.resolve("_acme-challenge.nothing.example.com", "TXT")
    [found, missing] = log.read_text().splitlines()
    assert found.endswith(' TXT _acme-challenge.www.example.com. "the-value"')
    assert missing.endswith(" TXT _acme-challenge.nothing.example.com. -")
