"""curl-style --connect-to rules for the TLS probe: parsing, matching, and which address is dialled."""

from __future__ import annotations

import socket

import pytest
from certrotate.adapters.net.tls_probe import ConnectTo, connector


def test_parse_and_match() -> None:
    rule = ConnectTo.parse("shop-1.us-east-1.elb.amazonaws.com:443:127.0.0.1:8443")
    assert rule == ConnectTo("shop-1.us-east-1.elb.amazonaws.com", 443, "127.0.0.1", 8443)
    assert rule.applies("SHOP-1.us-east-1.elb.amazonaws.com", 443)
    assert not rule.applies("shop-1.us-east-1.elb.amazonaws.com", 8443)
    anything = ConnectTo.parse("::bastion:")
    assert anything == ConnectTo("", None, "bastion", None)
    assert anything.applies("any.example.com", 1234)


@pytest.mark.parametrize("spec", ["host:443", "host:443:other", "host:port:other:1", "a:1:b:x"])
def test_bad_rules_are_refused_with_the_rule_named(spec: str) -> None:
    with pytest.raises(ValueError, match="--connect-to"):
        ConnectTo.parse(spec)


def test_the_first_matching_rule_picks_the_address_and_the_rest_go_direct() -> None:
    dialled: list[tuple[str, int]] = []

    def record(host: str, port: int, timeout: float) -> socket.socket:
        dialled.append((host, port))
        return socket.socket()

    connect = connector(
        [ConnectTo.parse("a.example.com:443:127.0.0.1:9000"), ConnectTo.parse("a.example.com::127.0.0.2:")],
        record,
    )
    for host, port in [("a.example.com", 443), ("a.example.com", 8443), ("b.example.com", 443)]:
        connect(host, port, 1.0).close()
    assert dialled == [("127.0.0.1", 9000), ("127.0.0.2", 8443), ("b.example.com", 443)]
