"""A TLS handshake that returns the certificates a server sends, verified by nothing: the caller compares.

pyOpenSSL (already a dependency of `acme`) is used because the standard library's `ssl` of Python 3.11
returns only the leaf, not the chain the server sent. `connect` opens the TCP connection, so that a
different address can be reached than the name resolves to (like curl's `--connect-to`).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Connect = Callable[[str, int, float], socket.socket]


def direct(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """curl's `--connect-to HOST1:PORT1:HOST2:PORT2`: connections meant for HOST1:PORT1 go to HOST2:PORT2
    (an empty HOST1/PORT1 matches any; an empty HOST2/PORT2 keeps the original)."""

    host: str
    port: int | None
    to_host: str
    to_port: int | None

    @classmethod
    def parse(cls, spec: str) -> ConnectTo:
        parts = spec.rsplit(":", 3) if spec.count(":") >= 3 else []
        if len(parts) != 4:
            raise ValueError(f"--connect-to takes HOST1:PORT1:HOST2:PORT2, not {spec!r}")
        host, port, to_host, to_port = parts
        try:
            return cls(host.lower(), int(port) if port else None, to_host, int(to_port) if to_port else None)
        except ValueError:
            raise ValueError(f"--connect-to has a port that is not a number: {spec!r}") from None

    def applies(self, host: str, port: int) -> bool:
        return (not self.host or self.host == host.lower()) and (self.port is None or self.port == port)


def connector(rules: Sequence[ConnectTo], base: Connect = direct) -> Connect:
    """A Connect that follows the first rule matching each host and port."""

    def connect(host: str, port: int, timeout: float) -> socket.socket:
        for rule in rules:
            if rule.applies(host, port):
                return base(rule.to_host or host, rule.to_port or port, timeout)
        return base(host, port, timeout)

    return connect


def fetch_certificates(
    host: str, port: int, server_name: str, *, timeout: float = 5.0, connect: Connect = direct
) -> list[bytes]:
    """DER of each certificate the server sends for `server_name` (leaf first). Raises OSError (including
    timeouts) when no handshake completes."""
    from OpenSSL import SSL  # imported on use: nothing else in the functions needs it at cold start

    deadline = time.monotonic() + timeout
    sock = connect(host, port, timeout)
    try:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_verify(SSL.VERIFY_NONE)  # nothing is trusted or refused here: the caller compares
        connection = SSL.Connection(context, sock)
        connection.set_tlsext_host_name(server_name.encode("idna"))
        connection.set_connect_state()
        while True:
            try:
                connection.do_handshake()
                break
            except (SSL.WantReadError, SSL.WantWriteError):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    raise TimeoutError(f"TLS handshake with {host}:{port} timed out") from None
            except SSL.Error as exc:
                raise ConnectionError(f"TLS handshake with {host}:{port} failed: {exc}") from None
        chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        from cryptography.hazmat.primitives.serialization import Encoding

        return [c.public_bytes(Encoding.DER) for c in chain]
    finally:
        sock.close()
