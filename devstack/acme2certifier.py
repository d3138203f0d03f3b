"""Runs acme2certifier (PyPI, in its own virtualenv) as a second local ACME CA: one that speaks ARI
(RFC 9773 renewalInfo), profiles (`classic` 90 days, `shortlived` 6 days) and External Account Binding,
which Debian's pebble 2.4.0 does not.

It is served on 127.0.0.1 over TLS by a small wsgiref script (its own `__main__` binds 0.0.0.0:80), with a
SQLite database, an openssl CA whose key is made at every start, and DNS-01 validated against the devstack's
DNS server. acme2certifier takes resolver IPs only (port 53), so the DNS server it asks listens on port 53
of a loopback address of its own (127.0.0.2, or the next free one when another stack holds it).

What tests may change while it runs (`reconfigure`): the ARI window forced into the past (`renewal_force`,
what a CA does when it must revoke) and whether EAB is required. The running server re-reads its
configuration on a request to `/devstack/reload`; `/devstack/requests` counts the requests it served
(by method and path), which lets a test count ARI fetches, and lists the `replaces` of each new order
(acme2certifier accepts `replaces` without checking it); `/devstack/refuse-replaces` makes it refuse orders
that name one, as a CA does when the old certificate was already replaced or ordered by another account.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.fixtures import ca_key_usage, cert_to_pem, key_to_pem
from devstack.pebble import write_tls_files

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO_ROOT / ".venv-a2c"
PROFILES = {"classic": 90, "shortlived": 6}  # profile name -> certificate validity in days
RENEWAL_INFO_PATH = "/acme/renewal-info/"
EAB_KID = "devstack-kid"
_HOST = "127.0.0.1"

# Run by the acme2certifier virtualenv's interpreter: serve the WSGI app over TLS on a free port of
# 127.0.0.1, say which port on stdout, re-read the configuration on /devstack/reload, count requests on
# /devstack/requests.
_SERVER_SCRIPT = r"""
import base64, io, json, os, ssl, sys, threading
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

host, certfile, keyfile = sys.argv[1:4]
from acme2certifier.share import acme2certifier_wsgi as a2c
from acme2certifier.acme_srv.helpers.config import load_config_cache_clear

counts = {}
orders = []  # the `replaces` value of each newOrder payload (None when absent)
refusal = {}  # when set: {"status": 409, "type": "alreadyReplaced"} for orders that name `replaces`
explanation = {}  # when set: {"url": ...}, added to renewalInfo answers as `explanationURL` (RFC 9773 4.2)
lock = threading.Lock()

def reload_config():
    config = a2c.CONFIG  # the parser every request reads: refill it in place
    for section in config.sections():
        config.remove_section(section)
    for option in list(config.defaults()):
        config.remove_option("DEFAULT", option)
    config.read(os.environ["ACME_SRV_CONFIGFILE"])
    load_config_cache_clear()

def payload_of(body):
    try:
        encoded = json.loads(body)["payload"]
        return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) or b"{}")
    except (ValueError, KeyError, TypeError):
        return {}

def reply(start_response, status, body, content_type="application/json"):
    start_response(status, [("Content-Type", content_type)])
    return [body]

def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/devstack/reload":
        reload_config()
        return reply(start_response, "204 No Content", b"")
    if path == "/devstack/requests":
        with lock:
            return reply(start_response, "200 OK", json.dumps({"counts": counts, "orders": orders}).encode())
    if path == "/devstack/refuse-replaces":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        with lock:
            refusal.clear()
            if query.get("type"):
                refusal.update(status=int(query["status"][0]), type=query["type"][0])
        return reply(start_response, "204 No Content", b"")
    if path == "/devstack/explanation":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        with lock:
            explanation.clear()
            explanation.update({"url": query["url"][0]} if query.get("url") else {})
        return reply(start_response, "204 No Content", b"")
    with lock:
        key = environ["REQUEST_METHOD"] + " " + path
        counts[key] = counts.get(key, 0) + 1
        url = explanation.get("url")
    if url and path.startswith("/acme/renewal-info/") and environ["REQUEST_METHOD"] == "GET":
        captured = {}
        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
        body = b"".join(a2c.application(environ, capture))
        if captured["status"].startswith("200"):
            answer = json.loads(body)
            answer["explanationURL"] = url
            body = json.dumps(answer).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]
    if path == "/acme/neworders" and environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        replaces = payload_of(body).get("replaces")
        with lock:
            orders.append(replaces)
            refuse = dict(refusal) if replaces else {}
        if refuse:
            problem = {"type": "urn:ietf:params:acme:error:" + refuse["type"], "detail": "refused"}
            body = json.dumps(problem).encode()
            status = str(refuse["status"]) + " Refused"
            return reply(start_response, status, body, "application/problem+json")
    return a2c.application(environ, start_response)

class Handler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ["HTTPS"] = "on"  # the URLs it hands out are https://
        return environ

    def log_message(self, *args):
        pass

server = make_server(host, 0, app, handler_class=Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(certfile, keyfile)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening {server.server_port}", flush=True)
server.serve_forever()
"""


class Acme2CertifierNotFoundError(RuntimeError):
    pass


class Acme2CertifierStartError(RuntimeError):
    pass


class Acme2Certifier:
    """`with Acme2Certifier(dns_address="127.0.0.2") as ca: ca.directory_url ...`

    dns_address: the loopback address whose port 53 answers DNS from Route 53 (IPs only, see above).
    renewal_force: the ARI window of every certificate lies in the past ("renew now").
    eab_required: accounts must be bound to the EAB key `EAB_KID` (`eab_hmac_key`).
    retry_after_seconds: the Retry-After of renewalInfo answers.
    keep_log: where its log (timestamped: challenge validations, what DNS answered it) is copied when it
    stops; its working directory goes.
    """

    def __init__(
        self,
        dns_address: str,
        *,
        venv: Path | None = None,
        renewal_force: bool = False,
        eab_required: bool = False,
        retry_after_seconds: int = 3600,
        startup_timeout: float = 20.0,
        keep_log: Path | None = None,
    ) -> None:
        self.dns_address = dns_address
        self.keep_log = keep_log
        self.venv = venv or Path(os.environ.get("CERTROTATE_A2C_VENV", DEFAULT_VENV))
        self.renewal_force = renewal_force
        self.eab_required = eab_required
        self.retry_after_seconds = retry_after_seconds
        self.startup_timeout = startup_timeout
        self.eab_hmac_key = secrets.token_urlsafe(32)  # base64url, as EAB wants it
        self.port = 0
        self.startup_seconds = 0.0  # measured: tests keep the cost of a CA small
        self._process: subprocess.Popen[str] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- paths and URLs ----

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("acme2certifier is not running")
        return Path(self._workdir.name)

    @property
    def base_url(self) -> str:
        return f"https://{_HOST}:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/directory"

    @property
    def tls_ca_path(self) -> str:
        """PEM of the CA behind its HTTPS certificate: what REQUESTS_CA_BUNDLE must name."""
        return str(self.workdir / "tls-ca.pem")

    @property
    def issuer_roots_path(self) -> str:
        """PEM of the root it issues under: what ISSUER_TRUST_BUNDLE must name."""
        return str(self.workdir / "ca-root.pem")

    @property
    def log_path(self) -> Path:
        return self.workdir / "acme2certifier.log"

    # -- lifecycle ----

    def start(self) -> Acme2Certifier:
        python = self.venv / "bin" / "python"
        if not python.exists():
            raise Acme2CertifierNotFoundError(
                f"acme2certifier's virtualenv {self.venv} is missing: run `make a2c`"
            )
        started = time.monotonic()
        self._workdir = tempfile.TemporaryDirectory(prefix="devstack-a2c-")
        try:
            write_tls_files(self.workdir, "devstack acme2certifier TLS CA")
            self._ssl = ssl.create_default_context(cafile=self.tls_ca_path)
            self._write_issuing_ca()
            self._write_config()
            (self.workdir / "server.py").write_text(_SERVER_SCRIPT)
            self._launch(python)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._workdir is not None:
            if self.keep_log is not None and self.log_path.exists():
                shutil.copyfile(self.log_path, self.keep_log)
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Acme2Certifier:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests change and read ----

    def reconfigure(self, *, renewal_force: bool | None = None, eab_required: bool | None = None) -> None:
        """Change settings of the running server (no restart: it re-reads its configuration)."""
        self.refuse_replaces(None)
        self.explain(None)
        if renewal_force is not None:
            self.renewal_force = renewal_force
        if eab_required is not None:
            self.eab_required = eab_required
        self._write_config()
        self._request("/devstack/reload")

    def request_counts(self) -> dict[str, int]:
        """Requests served so far, by `METHOD /path`."""
        counts: dict[str, int] = json.loads(self._request("/devstack/requests"))["counts"]
        return counts

    def replaces_sent(self) -> list[str | None]:
        """The `replaces` field of every newOrder so far (None: the order named none)."""
        orders: list[str | None] = json.loads(self._request("/devstack/requests"))["orders"]
        return orders

    def explain(self, url: str | None) -> None:
        """Add `explanationURL` to renewalInfo answers (what a CA says when it moves a window: why)."""
        query = "?" + urllib.parse.urlencode({"url": url}) if url else ""
        self._request(f"/devstack/explanation{query}")

    def refuse_replaces(self, problem: str | None, status: int = 409) -> None:
        """Refuse orders that name `replaces` with this ACME problem (RFC 9773 section 5: `alreadyReplaced`;
        Let's Encrypt also answers `unauthorized` when another account ordered the old certificate)."""
        query = f"?status={status}&type={problem}" if problem else ""
        self._request(f"/devstack/refuse-replaces{query}")

    def renewal_info_gets(self) -> int:
        return sum(
            n for key, n in self.request_counts().items() if key.startswith(f"GET {RENEWAL_INFO_PATH}")
        )

    def orders_placed(self) -> int:
        return sum(n for key, n in self.request_counts().items() if key == "POST /acme/neworders")

    # -- internals ----

    def _request(self, path: str, timeout: float = 5.0) -> str:
        with urllib.request.urlopen(f"{self.base_url}{path}", context=self._ssl, timeout=timeout) as response:
            body: bytes = response.read()
            return body.decode()

    def _write_issuing_ca(self) -> None:
        """A root that issues directly (a new key at every start, like pebble's)."""
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devstack acme2certifier root")])
        root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                ca_key_usage(),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        (self.workdir / "ca-key.pem").write_text(key_to_pem(key))
        Path(self.issuer_roots_path).write_text(cert_to_pem(root))
        (self.workdir / "certs").mkdir()
        (self.workdir / "eab.json").write_text(json.dumps({EAB_KID: self.eab_hmac_key}))

    def _write_config(self) -> None:
        work = self.workdir
        sections: dict[str, Mapping[str, object]] = {
            "DEFAULT": {"debug": False, "dns_server_list": json.dumps([self.dns_address])},
            # Timestamped, with the thread (validations run in threads of their own): a timeline to read.
            "Helper": {"log_format": "%(asctime)s.%(msecs)03d %(threadName)s %(levelname)s %(message)s"},
            "Nonce": {"nonce_check_disable": False},
            "DBhandler": {
                "handler_module": "acme2certifier.dbhandlers.wsgi_handler",
                "dbfile": work / "acme_srv.db",
            },
            "Challenge": {"dns_validation_pause_timer": 0},
            "Order": {
                "profiles": json.dumps({name: f"{days} days" for name, days in PROFILES.items()}),
                "profiles_check_disable": False,
                "profile_cahandler": json.dumps({name: name for name in PROFILES}),
            },
            "Renewalinfo": {
                "renewal_force": self.renewal_force,
                "retry_after_timeout": self.retry_after_seconds,
                # The window opens with a third of the lifetime left, as a public CA's does.
                "renewalthreshold_pctg": 66.67,
            },
            "CAhandler": {"multi_handler": True, "default_handler": "classic"},
        }
        for name, days in PROFILES.items():
            sections[f"CAhandler:{name}"] = {
                "handler_module": "acme2certifier.cahandlers.openssl_ca_handler",
                "issuing_ca_key": work / "ca-key.pem",
                "issuing_ca_cert": self.issuer_roots_path,
                "issuing_ca_crl": work / "ca.crl",
                "cert_save_path": work / "certs",
                "cert_validity_days": days,
                # Without it a CSR with names only in its SAN yields an empty subject with a non-critical SAN.
                "cn_enforce": True,
            }
        if self.eab_required:
            sections["EABhandler"] = {
                "eab_handler_module": "acme2certifier.eabhandlers.json_handler",
                "key_file": work / "eab.json",
            }
        text = "".join(
            f"[{section}]\n" + "".join(f"{key}: {value}\n" for key, value in options.items()) + "\n"
            for section, options in sections.items()
        )
        (work / "acme_srv.cfg").write_text(text)

    def _launch(self, python: Path) -> None:
        env = {**os.environ, "ACME_SRV_CONFIGFILE": str(self.workdir / "acme_srv.cfg")}
        env.pop("PYTHONPATH", None)  # its own packages only
        with self.log_path.open("w") as log:
            self._process = subprocess.Popen(
                [str(python), str(self.workdir / "server.py"), _HOST, *self._tls_files()],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self._process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = self._process.stdout.readline()  # the server's first line names its port
        if not line.startswith("listening "):
            raise Acme2CertifierStartError(f"acme2certifier did not start:\n{self._log_tail()}")
        self.port = int(line.split()[1])
        while time.monotonic() < deadline:
            try:
                if "newOrder" in json.loads(self._request("/directory", timeout=2.0)):
                    return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise Acme2CertifierStartError(f"acme2certifier did not answer its directory:\n{self._log_tail()}")

    def _tls_files(self) -> list[str]:
        return [str(self.workdir / "tls-cert.pem"), str(self.workdir / "tls-key.pem")]

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
