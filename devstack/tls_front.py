"""A TLS front for the fake load balancers and distributions: what clients of the real ones would see.

moto keeps listeners and certificates as data; nothing answers a handshake. The front runs one small TLS
server per secure listener (ALB HTTPS, NLB TLS, Classic HTTPS/SSL) and per CloudFront distribution with an
IAM certificate, on 127.0.0.1 and a port of its own. At every handshake it reads from moto (in this
process) what the listener holds right now and serves, for the name the client sent (SNI), the certificate
an ELB would pick: one of its list (default included) that covers the name, else the default. The private
keys stay in memory (pyOpenSSL), as moto's IAM backend holds them.

Clients reach a listener under the load balancer's DNS name: the devstack's DNS answers A 127.0.0.1 for it
(devstack.dns), and the port is mapped with curl's `--connect-to` syntax (`connect_to()`), because every
load balancer listens on 443 and one address can hold one 443.

`freeze(host, port)` keeps a listener serving what it serves now, whatever moto says later: a load balancer
node that has not picked up a change yet (ELB propagates changes over a little time).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from devstack import moto_fixes

log = logging.getLogger(__name__)

SECURE_V2 = frozenset({"HTTPS", "TLS"})
SECURE_CLASSIC = frozenset({"HTTPS", "SSL"})


@dataclass(frozen=True)
class FrontEndpoint:
    """A secure listener or distribution as moto holds it now: where clients reach it, what it serves."""

    # ("elbv2", region, listener ARN) | ("classic", region, name, port) | ("cloudfront", id)
    key: tuple[str, ...]
    host: str
    port: int
    default: str | None  # certificate ARN (load balancers) or IAM certificate ID (CloudFront)
    sni: tuple[str, ...] = ()


def _backends(module: Any) -> Iterator[Any]:
    for account in list(dict.values(module)):
        yield from list(dict.values(account))


def moto_endpoints() -> list[FrontEndpoint]:
    """Every endpoint that terminates TLS with an IAM certificate, in every account and region moto holds."""
    from moto.cloudfront.models import cloudfront_backends
    from moto.elb.models import elb_backends
    from moto.elbv2.models import elbv2_backends

    found: list[FrontEndpoint] = []
    with moto_fixes.STATE_LOCK:
        for backend in _backends(elbv2_backends):
            for lb in list(backend.load_balancers.values()):
                for listener in list(lb.listeners.values()):
                    if (listener.protocol or "").upper() not in SECURE_V2:
                        continue
                    default = listener.certificate or (listener.certificates or [None])[0]
                    sni = tuple(moto_fixes._sni(listener))
                    key: tuple[str, ...] = ("elbv2", backend.region_name, listener.arn)
                    found.append(FrontEndpoint(key, lb.dns_name, int(listener.port), default, sni))
        for backend in _backends(elb_backends):
            for lb in list(backend.load_balancers.values()):
                for listener in lb.listeners:
                    if listener.protocol not in SECURE_CLASSIC or not listener.ssl_certificate_id:
                        continue
                    port = int(listener.load_balancer_port)
                    key = ("classic", backend.region_name, lb.name, str(port))
                    found.append(FrontEndpoint(key, lb.dns_name, port, listener.ssl_certificate_id))
        for backend in _backends(cloudfront_backends):
            for distribution in list(backend.distributions.values()):
                viewer = getattr(distribution.distribution_config, "ViewerCertificate", None)
                certificate_id = getattr(viewer, "iam_certificate_id", None)
                if certificate_id:
                    key = ("cloudfront", distribution.distribution_id)
                    found.append(FrontEndpoint(key, distribution.domain_name, 443, certificate_id))
    return found


def hostnames() -> set[str]:
    """DNS names of every load balancer and distribution moto holds (secure or not), lower case."""
    from moto.cloudfront.models import cloudfront_backends
    from moto.elb.models import elb_backends
    from moto.elbv2.models import elbv2_backends

    names: set[str] = set()
    with moto_fixes.STATE_LOCK:
        for module in (elbv2_backends, elb_backends):
            for backend in _backends(module):
                names.update(lb.dns_name.lower() for lb in list(backend.load_balancers.values()))
        for backend in _backends(cloudfront_backends):
            names.update(d.domain_name.lower() for d in list(backend.distributions.values()))
    return names


@dataclass(frozen=True)
class _Certificate:
    names: tuple[str, ...]
    context: SSL.Context


def _covers(names: tuple[str, ...], host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(
        n == host or (n.startswith("*.") and "." in host and host.split(".", 1)[1] == n[2:]) for n in names
    )


class _Server:
    def __init__(self, front: TlsFront, endpoint: FrontEndpoint, address: str) -> None:
        self.endpoint = endpoint
        self.frozen: FrontEndpoint | None = None
        self._front = front
        self._socket = socket.create_server((address, 0))
        self.port = int(self._socket.getsockname()[1])
        self._context = SSL.Context(SSL.TLS_SERVER_METHOD)
        self._context.set_tlsext_servername_callback(self._choose)
        self._thread = threading.Thread(target=self._accept, name=f"tls-front-{self.port}", daemon=True)
        self._thread.start()

    def _current(self) -> FrontEndpoint | None:
        if self.frozen is not None:
            return self.frozen
        return next((e for e in moto_endpoints() if e.key == self.endpoint.key), None)

    def _choose(self, connection: SSL.Connection) -> None:
        try:
            self._select(connection)
        except Exception:
            log.exception("tls front %s: choosing a certificate failed", self.endpoint.host)
            raise

    def _select(self, connection: SSL.Connection) -> None:
        raw = connection.get_servername()
        host = raw.decode() if raw else ""
        current = self._current()
        if current is None or current.default is None:
            raise SSL.Error("the listener is gone")
        listed = [self._front.certificate(r) for r in (current.default, *current.sni)]
        matching = [c for c in listed if c is not None and host and _covers(c.names, host)]
        chosen = matching[0] if matching else listed[0]
        if chosen is None:
            raise SSL.Error(f"IAM holds no certificate {current.default}")
        connection.set_context(chosen.context)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # Blocking, with a kernel-level timeout: pyOpenSSL on a Python-timeout socket raises WantRead instead.
        client.setblocking(True)
        limit = struct.pack("ll", 10, 0)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        connection = SSL.Connection(self._context, client)
        connection.set_accept_state()
        try:
            connection.do_handshake()
            connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            connection.shutdown()
        except (SSL.Error, OSError) as exc:
            log.debug("tls front %s: %s", self.endpoint.host, exc)
        finally:
            client.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


class TlsFront:
    """Start with `sync()` after creating listeners (and again after creating more); `stop()` at the end."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
        self._servers: dict[tuple[str, ...], _Server] = {}
        self._certificates: dict[tuple[str, str], _Certificate] = {}
        self._lock = threading.Lock()

    def sync(self) -> dict[tuple[str, int], int]:
        """Serve every secure endpoint moto holds now (and stop serving those that are gone); returns
        {(DNS name, listener port): local port}."""
        endpoints = {e.key: e for e in moto_endpoints()}
        with self._lock:
            for key in [k for k in self._servers if k not in endpoints]:
                self._servers.pop(key).stop()
            for key, endpoint in endpoints.items():
                if key not in self._servers:
                    self._servers[key] = _Server(self, endpoint, self.address)
            return {(s.endpoint.host.lower(), s.endpoint.port): s.port for s in self._servers.values()}

    def connect_to(self) -> list[str]:
        """curl-style `--connect-to` rules that reach each endpoint under its DNS name and port."""
        return [f"{host}:{port}:{self.address}:{local}" for (host, port), local in self.sync().items()]

    def freeze(self, host: str, port: int = 443) -> None:
        """Keep serving what the endpoint serves now, whatever changes in moto later (stale propagation)."""
        server = self._server(host, port)
        server.frozen = server._current()

    def thaw(self, host: str, port: int = 443) -> None:
        self._server(host, port).frozen = None

    def _server(self, host: str, port: int) -> _Server:
        self.sync()
        with self._lock:
            for server in self._servers.values():
                if server.endpoint.host.lower() == host.lower() and server.endpoint.port == port:
                    return server
        raise KeyError(f"no secure endpoint {host}:{port} in moto")

    def certificate(self, reference: str) -> _Certificate | None:
        """The IAM certificate an endpoint names (ARN, or ID for CloudFront), with a TLS context serving it.
        Kept once built: a frozen endpoint may name a certificate IAM deleted since."""
        from moto.iam.models import iam_backends

        with moto_fixes.STATE_LOCK:
            for backend in _backends(iam_backends):
                for cert in list(backend.certificates.values()):
                    if reference not in (cert.arn, getattr(cert, "devstack_id", None)):
                        continue
                    cache_key = (reference, cert.cert_body)
                    if cache_key not in self._certificates:
                        built = _build(cert.cert_body, cert.cert_chain, cert.private_key)
                        self._certificates[cache_key] = built
                    return self._certificates[cache_key]
        return next((c for (ref, _), c in self._certificates.items() if ref == reference), None)

    def stop(self) -> None:
        with self._lock:
            for server in self._servers.values():
                server.stop()
            self._servers.clear()
            self._certificates.clear()

    def __enter__(self) -> TlsFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _build(body_pem: str, chain_pem: str | None, key_pem: str) -> _Certificate:
    leaf = x509.load_pem_x509_certificate(body_pem.encode())
    chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem and chain_pem.strip() else []
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate(leaf)
    for intermediate in chain:
        context.add_extra_chain_cert(intermediate)
    context.use_privatekey(key)  # type: ignore[arg-type]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return _Certificate(names, context)
