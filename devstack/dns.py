"""A DNS server that answers TXT and CAA queries from the Route 53 record sets held by the in-process moto
backend (CAA: what a CA, and `certrotate doctor`, ask before issuing; RFC 8659).

Pebble's validation authority is pointed at it (`-dnsserver`), which makes DNS-01 real: a challenge passes
only if the client really wrote the right TXT record into (fake) Route 53. Like public DNS, it answers from
public hosted zones only, from the zone that is the longest suffix match of the name; anything else gets an
empty NOERROR answer.

It also answers A queries for the DNS names of the load balancers and CloudFront distributions moto holds,
with the address of the devstack's TLS front (devstack.tls_front), so a TLS client can reach them by name.

And it plays "another DNS provider": names whose DNS is not in Route 53 but points at a load balancer
(`point_name_at`, a CNAME as a customer would set it elsewhere) are answered with that CNAME and the load
balancer's A record, so the CA reaches the devstack's ALB front (devstack.alb_front) for HTTP-01.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from dnslib import CAA, CNAME, QTYPE, RR, TXT, A  # type: ignore[import-untyped]
from dnslib.server import BaseResolver, DNSLogger, DNSServer, UDPServer  # type: ignore[import-untyped]

from devstack import moto_fixes

log = logging.getLogger(__name__)

_DEFAULT_TTL = 300
ENDPOINT_ADDRESS = "127.0.0.1"  # where devstack.tls_front listens
_ENDPOINT_TTL = 60  # ELB's own records have a 60 s TTL


def txt_records(name: str) -> list[tuple[int, list[str]]]:
    """(TTL, character-strings) of each TXT value Route 53 holds for `name`, quotes and escapes resolved."""
    return [(ttl, moto_fixes.txt_strings(value)) for ttl, value in _records(name, "TXT")]


_CAA_VALUE = re.compile(r'^(\d{1,3})\s+([A-Za-z0-9]+)\s+"((?:[^"\\]|\\.)*)"$')


def caa_records(name: str) -> list[tuple[int, int, str, str]]:
    """(TTL, flags, tag, value) of each CAA record Route 53 holds for `name` (written `0 issue "ca.example"`,
    as Route 53 takes them). What a resolver asks when a CA checks CAA (RFC 8659); climbing the tree is the
    asker's part: this answers one name."""
    found = []
    for ttl, value in _records(name, "CAA"):
        match = _CAA_VALUE.match(value.strip())
        if match:
            found.append((ttl, int(match.group(1)), match.group(2), match.group(3).replace('\\"', '"')))
    return found


def _records(name: str, rtype: str) -> list[tuple[int, str]]:
    """(TTL, value as Route 53 holds it) of the record set of `rtype` at `name`, in the public zone that is
    the longest suffix match of the name."""
    from moto.route53.models import route53_backends

    wanted = moto_fixes.normalize_dns_name(name)
    best_name = None
    candidates: list[Any] = []
    with moto_fixes.STATE_LOCK:
        for account in list(dict.values(route53_backends)):
            for backend in list(dict.values(account)):
                for zone in list(backend.zones.values()):
                    if zone.private_zone:
                        continue  # public DNS never sees private zones
                    zone_name = moto_fixes.normalize_dns_name(zone.name)
                    if wanted != zone_name and not wanted.endswith("." + zone_name):
                        continue
                    if best_name is None or len(zone_name) > len(best_name):
                        best_name, candidates = zone_name, [zone]
                    elif zone_name == best_name:
                        candidates.append(zone)
        answers: list[tuple[int, str]] = []
        for zone in candidates:
            for rrset in list(zone.rrsets):
                if rrset.type != rtype or moto_fixes.normalize_dns_name(rrset.name) != wanted:
                    continue
                ttl = int(rrset.ttl) if rrset.ttl is not None else _DEFAULT_TTL
                answers.extend((ttl, str(value)) for value in rrset.records or [])
            if answers:
                break  # two public zones of one name: DNS would see only one of them
    return answers


# Records of "another DNS provider": name -> the load balancer DNS name it is a CNAME of.
_pointers: dict[str, str] = {}
_pointers_lock = threading.Lock()


def point_name_at(name: str, target: str) -> None:
    """Make `name` a CNAME of `target` (a load balancer's DNS name) outside Route 53."""
    with _pointers_lock:
        _pointers[moto_fixes.normalize_dns_name(name)] = moto_fixes.normalize_dns_name(target)


def pointed_at(name: str) -> str | None:
    with _pointers_lock:
        return _pointers.get(moto_fixes.normalize_dns_name(name))


def forget_pointers() -> None:
    with _pointers_lock:
        _pointers.clear()


def endpoint_has_name(name: str) -> bool:
    """Whether `name` is the DNS name of a load balancer or distribution moto holds."""
    from devstack.tls_front import hostnames

    return moto_fixes.normalize_dns_name(name) in hostnames()


class QueryLog:
    """One line per TXT (or ANY) question answered, when a benchmark or test keeps them: when it was asked,
    how long the answer took (the moto state's lock and this process's threads), the name and every value
    answered. DNS-01 values are public by design."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", buffering=1)
        self._lock = threading.Lock()

    def write(self, asked_at: float, seconds: float, qname: str, qtype: str, values: list[str]) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime(asked_at)) + f".{int(asked_at % 1 * 1000):03d}"
        with self._lock:
            self._file.write(f"{stamp} {seconds * 1000:.1f}ms {qtype} {qname} {' '.join(values) or '-'}\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Route53Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, query_log: QueryLog | None = None) -> None:
        self.query_log = query_log

    def resolve(self, request: Any, handler: Any) -> Any:
        asked_at, started = time.time(), time.monotonic()
        reply = self._resolve(request)
        if self.query_log is not None and request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            values = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.TXT]
            self.query_log.write(
                asked_at, time.monotonic() - started, str(request.q.qname), QTYPE[request.q.qtype], values
            )
        return reply

    def _resolve(self, request: Any) -> Any:
        reply = request.reply()
        qname = request.q.qname
        if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for ttl, strings in txt_records(str(qname)):
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT([s.encode() for s in strings]), ttl=ttl))
        if request.q.qtype in (QTYPE.CAA, QTYPE.ANY):
            for ttl, flags, tag, value in caa_records(str(qname)):
                reply.add_answer(RR(qname, QTYPE.CAA, rdata=CAA(flags, tag, value), ttl=ttl))
        target = pointed_at(str(qname))
        if target is not None and request.q.qtype in (QTYPE.A, QTYPE.CNAME, QTYPE.ANY):
            reply.add_answer(RR(qname, QTYPE.CNAME, rdata=CNAME(target + "."), ttl=_ENDPOINT_TTL))
            if request.q.qtype != QTYPE.CNAME and endpoint_has_name(target):
                reply.add_answer(RR(target + ".", QTYPE.A, rdata=A(ENDPOINT_ADDRESS), ttl=_ENDPOINT_TTL))
        elif request.q.qtype in (QTYPE.A, QTYPE.ANY) and endpoint_has_name(str(qname)):
            reply.add_answer(RR(qname, QTYPE.A, rdata=A(ENDPOINT_ADDRESS), ttl=_ENDPOINT_TTL))
        return reply


class ExclusiveUDPServer(UDPServer):  # type: ignore[misc]
    """dnslib's UDP server without SO_REUSEADDR: with it, Linux lets another socket that sets it too (another
    test run's DNS server trying 127.0.0.2:53, or a port-0 bind handed this port) bind the same UDP port and
    take the datagrams meant for this one, a CA's DNS-01 queries among them, until it closes."""

    def server_bind(self) -> None:
        self.allow_reuse_address = False
        super().server_bind()


class Route53DnsServer:
    """UDP and TCP on one free port of `address`; `start()` returns once both listen. `query_log`: a file
    that gets a line per TXT question answered (QueryLog)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0, query_log: Path | None = None) -> None:
        self.address = address
        self._requested_port = port
        self.port = 0
        self._servers: list[DNSServer] = []
        self._query_log_path = query_log
        self._query_log: QueryLog | None = None

    @property
    def hostport(self) -> str:
        """`host:port` as pebble's -dnsserver wants it."""
        return f"{self.address}:{self.port}"

    def start(self) -> Route53DnsServer:
        resolver = Route53Resolver(self._query_log)
        # dnslib logs every query with print(); route it to logging, where it is quiet unless asked.
        dns_log = DNSLogger(logf=log.debug, prefix=False)
        last_error: OSError | None = None
        for _ in range(20):
            try:
                udp = DNSServer(
                    resolver,
                    address=self.address,
                    port=self._requested_port,
                    logger=dns_log,
                    server=ExclusiveUDPServer,
                )
            except OSError as error:
                last_error = error
                break
            port = int(udp.server.server_address[1])
            try:
                tcp = DNSServer(resolver, address=self.address, port=port, tcp=True, logger=dns_log)
            except OSError as error:  # the TCP port of that number is taken: try another number
                udp.server.server_close()
                last_error = error
                if self._requested_port:
                    break
                continue
            self._servers = [udp, tcp]
            self.port = port
            if self._query_log_path is not None:  # opened once bound: a failed attempt leaves no file open
                resolver.query_log = self._query_log = QueryLog(self._query_log_path)
            for server in self._servers:
                server.start_thread()
            return self
        raise RuntimeError(f"could not bind a DNS server on {self.address}: {last_error}")

    def stop(self) -> None:
        # shutdown() waits out a poll interval; do UDP and TCP at once.
        stoppers = [threading.Thread(target=server.server.shutdown) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers:
            server.server.server_close()
        self._servers = []
        if self._query_log is not None:
            self._query_log.close()
            self._query_log = None

    def __enter__(self) -> Route53DnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
