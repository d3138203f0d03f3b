"""Runs Debian's `pebble` (a real, small ACME CA) as a subprocess for the local stack.

Pebble serves HTTPS with a certificate we generate (the packaged example config points at files that do not
exist); its issuing root changes at every start and is fetched from the management port.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.fixtures import cert_to_pem, key_to_pem

DEFAULT_ENV: dict[str, str] = {
    "PEBBLE_VA_NOSLEEP": "1",  # no random 0-15 s sleep before each validation
    "PEBBLE_WFE_NONCEREJECT": "0",  # no deliberate badNonce (a dedicated test can turn it back on)
    "PEBBLE_AUTHZREUSE": "0",  # always fresh authorizations: otherwise tests flake half the time
}
_HOST = "127.0.0.1"


class PebbleNotFoundError(RuntimeError):
    pass


class PebbleStartError(RuntimeError):
    pass


class Pebble:
    """`with Pebble(dns_server="127.0.0.1:5353") as pebble: pebble.directory_url ...`

    http_port: where HTTP-01 validation connects (pebble's default 5002; the stack gives its ALB front's).

    env: overrides of DEFAULT_ENV (a value of None removes the variable).
    certificate_validity_period: seconds; pebble's default is 5 years.
    """

    def __init__(
        self,
        dns_server: str | None = None,
        env: Mapping[str, str | None] | None = None,
        certificate_validity_period: int | None = None,
        binary: str | None = None,
        startup_timeout: float = 10.0,
        http_port: int = 5002,
    ) -> None:
        self.dns_server = dns_server
        self.http_port = http_port  # where its HTTP-01 validation connects (devstack.alb_front listens there)
        self.env_overrides = dict(env or {})
        self.certificate_validity_period = certificate_validity_period
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._roots_path: Path | None = None
        self.port = 0
        self.management_port = 0

    # -- paths and URLs ----

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("pebble is not running")
        return Path(self._workdir.name)

    @property
    def directory_url(self) -> str:
        return f"https://{_HOST}:{self.port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://{_HOST}:{self.management_port}"

    @property
    def tls_ca_path(self) -> str:
        """PEM of the CA behind pebble's HTTPS certificate: what REQUESTS_CA_BUNDLE must name."""
        return str(self.workdir / "tls-ca.pem")

    @property
    def log_path(self) -> Path:
        return self.workdir / "pebble.log"

    # -- lifecycle ----

    def start(self) -> Pebble:
        binary = self.binary or shutil.which("pebble") or "/usr/bin/pebble"
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise PebbleNotFoundError("pebble not found: run `make deps`")
        self._workdir = tempfile.TemporaryDirectory(prefix="devstack-pebble-")
        self._write_tls_files()
        self._ssl = ssl.create_default_context(cafile=self.tls_ca_path)
        # A port picked free can be taken before pebble binds it; then pick again.
        for attempt in range(3):
            self.port, self.management_port = _free_tcp_ports(2)
            self._launch(binary)
            try:
                self._wait_ready()
                return self
            except PebbleStartError:
                output = self._stop_process()
                if "address already in use" not in output or attempt == 2:
                    self._cleanup()
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        self._stop_process()
        self._cleanup()

    def __enter__(self) -> Pebble:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the issuing CA ----

    def issuer_roots_path(self, include_intermediates: bool = False) -> str:
        """A PEM file of pebble's issuing root(s) (/roots/N), fetched once per start.

        Intermediates (/intermediates/N) are added only on request: a trust bundle that holds them would
        accept a certificate uploaded without its chain, which is exactly what ISSUER_TRUST_BUNDLE must catch.
        """
        if not include_intermediates and self._roots_path is not None:
            return str(self._roots_path)
        pems = self._fetch_all("roots")
        if include_intermediates:
            pems += self._fetch_all("intermediates")
            path = self.workdir / "issuer-roots-and-intermediates.pem"
        else:
            path = self.workdir / "issuer-roots.pem"
        path.write_text("".join(pems))
        if not include_intermediates:
            self._roots_path = path
        return str(path)

    def _fetch_all(self, kind: str) -> list[str]:
        pems: list[str] = []
        # /roots/0 always exists; more only with PEBBLE_ALTERNATE_ROOTS.
        for index in range(16):
            try:
                pem = self._get(f"{self.management_url}/{kind}/{index}")
            except urllib.error.HTTPError as error:
                if error.code == 404 and index > 0:
                    break
                raise
            pems.append(pem if pem.endswith("\n") else pem + "\n")
        return pems

    def _get(self, url: str, timeout: float = 5.0) -> str:
        with urllib.request.urlopen(url, context=self._ssl, timeout=timeout) as response:
            body: bytes = response.read()
            return body.decode()

    # -- internals ----

    def _write_tls_files(self) -> None:
        write_tls_files(self.workdir, "devstack pebble TLS CA")

    def _config(self) -> dict[str, object]:
        pebble: dict[str, object] = {
            "listenAddress": f"{_HOST}:{self.port}",
            "managementListenAddress": f"{_HOST}:{self.management_port}",
            "certificate": str(self.workdir / "tls-cert.pem"),
            "privateKey": str(self.workdir / "tls-key.pem"),
            # Ports its validation authority connects to for http-01 (at the address DNS gives for the name)
            # and tls-alpn-01.
            "httpPort": self.http_port,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.certificate_validity_period is not None:
            pebble["certificateValidityPeriod"] = int(self.certificate_validity_period)
        return {"pebble": pebble}

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in {**DEFAULT_ENV, **self.env_overrides}.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        return env

    def _launch(self, binary: str) -> None:
        config_path = self.workdir / "pebble-config.json"
        config_path.write_text(json.dumps(self._config(), indent=2))
        args = [binary, "-config", str(config_path)]
        if self.dns_server:
            args += ["-dnsserver", self.dns_server]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args,
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise PebbleStartError(f"pebble exited during start-up:\n{self._log_tail()}")
            try:
                directory = json.loads(self._get(self.directory_url, timeout=1.0))
                if "newOrder" in directory:
                    return
            except (OSError, ValueError) as error:  # not listening yet
                last_error = error
            time.sleep(0.05)
        raise PebbleStartError(
            f"pebble did not answer {self.directory_url} within {self.startup_timeout:.0f} s "
            f"({last_error}):\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _stop_process(self) -> str:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        return self._log_tail() if self._workdir is not None else ""

    def _cleanup(self) -> None:
        self._roots_path = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def write_tls_files(workdir: Path, ca_common_name: str) -> None:
    """A throwaway TLS CA (tls-ca.pem) and a server certificate for 127.0.0.1/localhost (tls-cert.pem,
    tls-key.pem) in `workdir`: what a local HTTPS listener needs and REQUESTS_CA_BUNDLE must name."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(_HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (workdir / "tls-ca.pem").write_text(cert_to_pem(ca))
    (workdir / "tls-cert.pem").write_text(cert_to_pem(cert))
    (workdir / "tls-key.pem").write_text(key_to_pem(key))


def _free_tcp_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((_HOST, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()
