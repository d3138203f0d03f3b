"""Let's Encrypt's duplicate-certificate limit in front of pebble, which has no rate limits at all.

An HTTPS reverse proxy: every ACME request goes through it to pebble unchanged (the Host header too, so the
URLs pebble writes into its answers, and checks in each JWS, are the proxy's). It reads the JWS payloads of
new-order and finalize requests and counts, per exact set of names (case-insensitive, in any order):

- `orders`: new orders pebble accepted;
- `issued`: finalizations pebble accepted (what Let's Encrypt counts as a certificate);
- `refused`: requests it answered itself with `urn:ietf:params:acme:error:rateLimited`;
- `rejected`: new orders it refused by policy (see below);
- `failed_validations`, per name: authorizations pebble reported `invalid` (Let's Encrypt allows 5 failed
  validations per name per hour), read from the answers it relays.

Once `limit` certificates (5) were issued for a set of names within `window` (7 days), a new order or a
finalization for exactly that set is answered as Let's Encrypt does: HTTP 429, a problem document of type
rateLimited, and `Retry-After` in seconds until the oldest of them leaves the window.
(https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers)

It also models the CA's policy: names given to `forbid()` are refused at new-order with
`urn:ietf:params:acme:error:rejectedIdentifier` (HTTP 400), as Let's Encrypt refuses names on its block list
(or with `malformed`, as it refuses a name it cannot parse as one).

And its directory names the CA's CAA identity (`meta.caaIdentities`, RFC 8555 section 7.1.1), as Let's
Encrypt's does (`letsencrypt.org`) and pebble's does not: CAA_IDENTITY is what a CAA record names to allow
the devstack's CA.

And it counts ACME accounts: `accounts_created()` is the number of newAccount requests pebble answered with
201 Created (a request for a key that already has an account is answered 200 with its URL, RFC 8555 7.3.1),
and `order_accounts()` the account URLs (JWS `kid`) that new orders were signed with.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509

DUPLICATE_CERTIFICATE_LIMIT = 5
CAA_IDENTITY = "devstack-ca.test"
WINDOW_SECONDS = 7 * 86_400
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
)
_HOST = "127.0.0.1"

NameSet = frozenset[str]


def name_set(names: Iterable[str]) -> NameSet:
    return frozenset(n.strip().rstrip(".").lower() for n in names if n.strip())


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _payload(body: bytes) -> dict[str, Any] | None:
    """The JSON payload of a JWS-signed ACME request (None for POST-as-GET and anything else)."""
    try:
        jws = json.loads(body)
        raw = jws.get("payload", "") if isinstance(jws, dict) else ""
        if not raw:
            return None
        payload = json.loads(_b64decode(raw))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def _csr_names(csr_b64: str) -> NameSet:
    csr = x509.load_der_x509_csr(_b64decode(csr_b64))
    names = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    return name_set(names)


class DuplicateCertificateLimit:
    """`with DuplicateCertificateLimit(pebble_port, tls_ca, tls_cert, tls_key) as ca: ca.directory_url`."""

    def __init__(
        self,
        upstream_port: int,
        tls_ca_path: str,
        tls_cert_path: str,
        tls_key_path: str,
        *,
        limit: int = DUPLICATE_CERTIFICATE_LIMIT,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstream_port = upstream_port
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._upstream_tls = ssl.create_default_context(cafile=tls_ca_path)
        self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_tls.load_cert_chain(tls_cert_path, tls_key_path)
        self._lock = threading.Lock()
        self._issued_at: dict[NameSet, list[float]] = defaultdict(list)
        self._orders: Counter[NameSet] = Counter()
        self._refused: Counter[NameSet] = Counter()
        self._forbidden: set[str] = set()
        self._forbidden_as = "rejectedIdentifier"
        self._rejected_orders: Counter[NameSet] = Counter()
        self._accounts_created: list[str] = []
        self._order_accounts: list[str] = []
        self._invalid: dict[str, set[str]] = defaultdict(set)  # name -> authorization URLs seen invalid
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @classmethod
    def in_front_of(cls, pebble: Any, **kwargs: Any) -> DuplicateCertificateLimit:
        """In front of a running devstack Pebble, serving with its TLS certificate."""
        workdir = Path(pebble.workdir)
        return cls(
            pebble.port,
            pebble.tls_ca_path,
            str(workdir / "tls-cert.pem"),
            str(workdir / "tls-key.pem"),
            **kwargs,
        )

    @property
    def directory_url(self) -> str:
        return f"https://{_HOST}:{self.port}/dir"

    # -- lifecycle ----

    def start(self) -> DuplicateCertificateLimit:
        limits = self

        class Handler(_ProxyHandler):
            proxy = limits

        server = ThreadingHTTPServer((_HOST, 0), Handler)
        server.daemon_threads = True
        # The handshake happens in the request's thread, on its first read, not in the accepting loop.
        server.socket = self._server_tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="ca-limits", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DuplicateCertificateLimit:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- accounting ----

    def reset(self) -> None:
        with self._lock:
            self._issued_at.clear()
            self._orders.clear()
            self._refused.clear()
            self._forbidden.clear()
            self._forbidden_as = "rejectedIdentifier"
            self._rejected_orders.clear()
            self._accounts_created.clear()
            self._order_accounts.clear()
            self._invalid.clear()

    def issued_elsewhere(self, names: Iterable[str], count: int = 1) -> None:
        """Certificates for exactly these names that other clients of the CA obtained just now (they count
        toward the same limit: Let's Encrypt counts per set of names, not per account)."""
        for _ in range(count):
            self._record("finalize", name_set(names))

    def forbid(self, *names: str, problem: str = "rejectedIdentifier") -> None:
        """From now on (until reset), a new order that names any of these is refused by policy, with the
        problem type `problem` (rejectedIdentifier, or malformed as for a name the CA cannot parse)."""
        with self._lock:
            self._forbidden.update(name_set(names))
            self._forbidden_as = problem

    def accounts_created(self) -> int:
        """newAccount requests pebble answered with 201 Created: accounts registered at the CA."""
        with self._lock:
            return len(self._accounts_created)

    def order_accounts(self) -> set[str]:
        """The account URLs (JWS kid) new orders were signed with."""
        with self._lock:
            return set(self._order_accounts)

    def orders(self, names: Iterable[str]) -> int:
        """New orders pebble accepted for exactly these names."""
        with self._lock:
            return self._orders[name_set(names)]

    def issued(self, names: Iterable[str]) -> int:
        """Certificates issued (finalizations accepted) for exactly these names, ever since the last reset."""
        with self._lock:
            return len(self._issued_at[name_set(names)])

    def refused(self, names: Iterable[str]) -> int:
        """Requests for exactly these names answered with rateLimited."""
        with self._lock:
            return self._refused[name_set(names)]

    def failed_validations(self, name: str) -> int:
        """Authorizations of `name` that pebble answered as `invalid` (each counted once)."""
        with self._lock:
            return len(self._invalid[name.strip().rstrip(".").lower()])

    def rejected(self, names: Iterable[str]) -> int:
        """New orders for exactly these names refused by policy (rejectedIdentifier)."""
        with self._lock:
            return self._rejected_orders[name_set(names)]

    def _retry_after(self, names: NameSet) -> int | None:
        """Seconds until another certificate for `names` may be issued, or None when one may be now."""
        now = self.clock()
        with self._lock:
            recent = [t for t in self._issued_at[names] if now - t < self.window_seconds]
            if len(recent) < self.limit:
                return None
            self._refused[names] += 1
            oldest = sorted(recent)[len(recent) - self.limit]
        return max(1, int(oldest + self.window_seconds - now + 0.999))

    def _record(self, kind: str, names: NameSet) -> None:
        with self._lock:
            if kind == "order":
                self._orders[names] += 1
            else:
                self._issued_at[names].append(self.clock())

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request: refuse it as Let's Encrypt would, or pass it to pebble and count it."""
        kind, names = self._classify(method, body)
        with self._lock:
            forbidden = sorted(names & self._forbidden) if kind == "order" else []
            if forbidden:
                self._rejected_orders[names] += 1
        if forbidden:
            return self._rejected(forbidden)
        if kind and names:
            wait = self._retry_after(names)
            if wait is not None:
                return self._rate_limited(names, wait)
        connection = http.client.HTTPSConnection(
            _HOST, self.upstream_port, context=self._upstream_tls, timeout=60
        )
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            if body or method == "POST":
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
            answer = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            status = response.status
        finally:
            connection.close()
        if kind and names and status in (200, 201):
            self._record(kind, names)
        if method == "GET" and path == "/dir" and status == 200:
            payload = _with_caa_identity(payload)
        if kind == "order" and status == 201:
            with self._lock:
                self._order_accounts.append(_kid(body))
        if kind == "account" and status == 201:
            with self._lock:
                self._accounts_created.append(dict(answer).get("Location", ""))
        self._note_invalid(path, payload)
        return status, answer, payload

    def _note_invalid(self, path: str, payload: bytes) -> None:
        """An authorization (or one of its challenges) answered `invalid`: a failed validation of its name."""
        if b'"invalid"' not in payload:
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        identifier = body.get("identifier") if isinstance(body, dict) else None
        if body.get("status") == "invalid" and isinstance(identifier, dict) and identifier.get("value"):
            with self._lock:
                self._invalid[str(identifier["value"]).lower()].add(path)

    @staticmethod
    def _classify(method: str, body: bytes) -> tuple[str, NameSet]:
        if method != "POST" or not body:
            return "", frozenset()
        payload = _payload(body)
        if payload is None:
            return "", frozenset()
        if isinstance(payload.get("identifiers"), list):
            return "order", name_set(str(i.get("value", "")) for i in payload["identifiers"])
        if "termsOfServiceAgreed" in payload or "onlyReturnExisting" in payload:
            return "account", frozenset()
        if isinstance(payload.get("csr"), str):
            try:
                return "finalize", _csr_names(payload["csr"])
            except ValueError:
                return "", frozenset()  # pebble answers badCSR itself
        return "", frozenset()

    def _rejected(self, names: list[str]) -> tuple[int, list[tuple[str, str]], bytes]:
        problem = {
            "type": f"urn:ietf:params:acme:error:{self._forbidden_as}",
            "detail": (
                f'Error creating new order :: Cannot issue for "{names[0]}": The ACME server refuses to '
                "issue a certificate for this domain name, because it is forbidden by policy"
            ),
            "status": 400,
        }
        headers = [("Content-Type", "application/problem+json")]
        return 400, headers, json.dumps(problem).encode()

    def _rate_limited(self, names: NameSet, wait: int) -> tuple[int, list[tuple[str, str]], bytes]:
        retry_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.clock() + wait))
        problem = {
            "type": "urn:ietf:params:acme:error:rateLimited",
            "detail": (
                f"too many certificates ({self.limit}) already issued for this exact set of identifiers "
                f"in the last {self.window_seconds / 86_400:g} days: {', '.join(sorted(names))}, "
                f"retry after {retry_at}"
            ),
            "status": 429,
        }
        body = json.dumps(problem).encode()
        headers = [
            ("Content-Type", "application/problem+json"),
            ("Retry-After", str(wait)),
            ("Link", f'<{self.directory_url}>;rel="index"'),
        ]
        return 429, headers, body


def _with_caa_identity(payload: bytes) -> bytes:
    directory = json.loads(payload)
    directory.setdefault("meta", {})["caaIdentities"] = [CAA_IDENTITY]
    return json.dumps(directory, indent=2).encode()


def _kid(body: bytes) -> str:
    """The account URL a JWS-signed request names in its protected header ("" for a jwk-signed one)."""
    try:
        protected = json.loads(_b64decode(json.loads(body).get("protected", "")))
    except (ValueError, TypeError, AttributeError):
        return ""
    return str(protected.get("kid", "")) if isinstance(protected, dict) else ""


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: DuplicateCertificateLimit
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, payload = self.proxy.forward(
                self.command, self.path, list(self.headers.items()), body
            )
        except OSError as exc:
            self.send_error(502, f"pebble did not answer: {exc}")
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = _handle
    do_HEAD = _handle
    do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        return  # every request would be logged to stderr otherwise
