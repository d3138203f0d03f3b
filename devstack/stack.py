"""The whole local stack in one context manager:

    with LocalStack() as stack:
        iam = stack.client("iam")
        os.environ.update(stack.env())   # what the code under test reads
        stack.faults.inject(service="route53", action="ChangeResourceRecordSets", code="Throttling")

moto runs in this process (a threaded HTTP server), so the moto fixes, the fault injector and the DNS server
all see the same state the HTTP clients change.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack import deployed, iam_enforcement, moto_fixes
from devstack import dns as devstack_dns
from devstack import faults as faults_module
from devstack.alb_front import AlbFront
from devstack.ca_limits import DuplicateCertificateLimit
from devstack.dns import Route53DnsServer
from devstack.faults import Authorizer, AwsMiddleware, CallCounter, FaultInjector
from devstack.iam_enforcement import Enforcement
from devstack.pebble import Pebble
from devstack.ratelimits import RateLimits
from devstack.ratelimits import limits as rate_limits

# The tests' administrator (stack.client): fixtures only. The code under test runs as the principal it is
# deployed as (devstack.iam_enforcement): the functions with their roles, the command line as the operator.
FAKE_ACCESS_KEY = iam_enforcement.ADMIN_ACCESS_KEY
FAKE_SECRET_KEY = "testing"
FAKE_SESSION_TOKEN = "testing"
# Who may stand for whom in client_as(): the two functions, the operator.
IDENTITIES = {
    **iam_enforcement.FUNCTION_ACCESS_KEYS,
    "operator": iam_enforcement.OPERATOR_ACCESS_KEY,
    "break-glass": iam_enforcement.BREAK_GLASS_ACCESS_KEY,
}
METRICS_NAMESPACE = "CertRotate"


class MiddlewareMotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer with its WSGI app wrapped in the fault/call middleware."""

    def __init__(
        self,
        faults: FaultInjector,
        calls: CallCounter,
        limits: RateLimits | None = None,
        ip_address: str = "127.0.0.1",
        port: int = 0,
        authorize: Authorizer | None = None,
    ) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.faults = faults
        self.calls = calls
        self.limits = limits or rate_limits
        self.authorize = authorize
        self._startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        # As moto's, with the middleware around the app, and a failed bind reported instead of a hang.
        try:
            app = AwsMiddleware(
                DomainDispatcherApplication(create_backend_app),
                self.faults,
                self.calls,
                self.limits,
                self.authorize,
            )
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
        except BaseException as error:
            self._startup_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        super().start()
        if self._startup_error is not None:
            raise RuntimeError(
                f"moto server could not start on {self._ip_address}:{self._port}: {self._startup_error}"
            ) from self._startup_error


class LocalStack:
    """moto server (fixed, with faults and call counting) + DNS server from Route 53 + pebble (optional)."""

    def __init__(
        self,
        region: str = "us-east-1",
        with_pebble: bool = True,
        pebble_env: dict[str, str | None] | None = None,
        certificate_validity_period: int | None = None,
        quiet: bool = True,
        ca_limits: bool = True,
        enforce_iam: bool = True,
    ) -> None:
        self.region = region
        self.with_pebble = with_pebble
        self.pebble_env = pebble_env
        self.certificate_validity_period = certificate_validity_period
        self.quiet = quiet
        self.with_ca_limits = ca_limits
        self.faults: FaultInjector = faults_module.injector
        self.calls: CallCounter = faults_module.calls
        # AWS's API rate limits, off unless a test or benchmark turns them on (devstack.ratelimits).
        self.limits: RateLimits = rate_limits
        # The shipped IAM policies, enforced on every call (off: enforce_iam=False, or DEVSTACK_IAM=off).
        self.iam: Enforcement = iam_enforcement.enforcement
        self.iam.enabled = enforce_iam and self.iam.enabled
        self.moto_server: MiddlewareMotoServer | None = None
        self.dns: Route53DnsServer | None = None
        # Plain HTTP answered from the ALBs' port-80 listener rules: where pebble's HTTP-01 validation goes.
        self.alb_front: AlbFront | None = None
        self.pebble: Pebble | None = None
        # Let's Encrypt's duplicate-certificate limit in front of pebble (which has none): what the code
        # under test talks to, and what tests ask how many orders and certificates a failure cost.
        self.ca_limits: DuplicateCertificateLimit | None = None
        self.endpoint_url = ""
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle ----

    def start(self) -> LocalStack:
        moto_fixes.apply()
        self.iam.active = True
        if self.quiet:
            # werkzeug logs every request at INFO; tests and benchmarks want their own output.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        try:
            self.moto_server = MiddlewareMotoServer(
                self.faults, self.calls, self.limits, authorize=self.iam.authorize
            )
            self.moto_server.start()
            host, port = self.moto_server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            self.dns = Route53DnsServer().start()
            data_plane = Config(user_agent_extra=faults_module.DATA_PLANE_AGENT)
            self.alb_front = AlbFront(
                lambda service, region: self.client(service, region, data_plane)
            ).start()
            if self.with_pebble:
                self.pebble = Pebble(
                    dns_server=self.dns.hostport,
                    http_port=self.alb_front.port,
                    env=self.pebble_env,
                    certificate_validity_period=self.certificate_validity_period,
                ).start()
                if self.with_ca_limits:
                    self.ca_limits = DuplicateCertificateLimit.in_front_of(self.pebble).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.ca_limits is not None:
            self.ca_limits.stop()
            self.ca_limits = None
        if self.pebble is not None:
            self.pebble.stop()
            self.pebble = None
        if self.alb_front is not None:
            self.alb_front.stop()
            self.alb_front = None
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if self.moto_server is not None:
            self.moto_server.stop()
            self.moto_server = None
        self.iam.active = False
        self._clients.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests use ----

    @property
    def acme_directory_url(self) -> str | None:
        if self.ca_limits is not None:
            return self.ca_limits.directory_url
        return self.pebble.directory_url if self.pebble else None

    @property
    def acme_ca_bundle(self) -> str | None:
        """PEM for REQUESTS_CA_BUNDLE: trusts pebble's HTTPS listener."""
        return self.pebble.tls_ca_path if self.pebble else None

    @property
    def issuer_trust_bundle(self) -> str | None:
        """PEM for ISSUER_TRUST_BUNDLE: the root pebble issues under (new at every pebble start)."""
        return self.pebble.issuer_roots_path() if self.pebble else None

    @property
    def dns_server(self) -> str | None:
        return self.dns.hostport if self.dns else None

    def client(self, service: str, region: str | None = None, config: Config | None = None) -> Any:
        """A boto3 client for the local stack with fake credentials (cached unless `config` is given)."""
        if not self.endpoint_url:
            raise RuntimeError("the stack is not started")
        region = region or self.region
        if config is None:
            with self._clients_lock:
                key = (service, region)
                if key not in self._clients:
                    self._clients[key] = self._new_client(service, region, None)
                return self._clients[key]
        return self._new_client(service, region, config)

    def client_as(
        self, who: str, service: str, region: str | None = None, config: Config | None = None
    ) -> Any:
        """A boto3 client with the credentials of `who` (IDENTITIES: "ScanFunction", "RotateFunction",
        "operator"), for tests that drive certrotate's adapters directly: they run as the principal that makes
        those calls when deployed, under its policies (deployed with this stack's env() if not yet)."""
        if not self.endpoint_url:
            raise RuntimeError("the stack is not started")
        if who not in IDENTITIES:
            raise ValueError(f"no identity {who!r}: one of {', '.join(IDENTITIES)}")
        self.iam.ensure_central(self.env())
        return self._new_client(service, region or self.region, config, IDENTITIES[who])

    def _new_client(
        self, service: str, region: str, config: Config | None, access_key: str = FAKE_ACCESS_KEY
    ) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=FAKE_SECRET_KEY,
            aws_session_token=FAKE_SESSION_TOKEN,
            region_name=region,
        )
        return session.client(service, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]

    def env(self) -> dict[str, str]:
        """Environment for the code under test: standard AWS variables (fake credentials, so nothing can
        reach real AWS: the operator's, which the command line uses; a function invoked through lambda_runner
        gets its own role's instead, as Lambda gives it), the ACME CA and its trust files, and Powertools
        settings for running outside Lambda."""
        if not self.endpoint_url:
            raise RuntimeError("the stack is not started")
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": iam_enforcement.OPERATOR_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        if self.alb_front is not None:
            # Port 80 of any name is the ALB front (where pebble fetches HTTP-01 tokens too): the rotation's
            # HTTP-01 self-check goes there, as curl's --connect-to would send it.
            env["ENDPOINT_CHECK_CONNECT_TO"] = f":80:{self.alb_front.address}:{self.alb_front.port}"
        if self.pebble is not None:
            env["ACME_DIRECTORY_URL"] = str(self.acme_directory_url)
            env["REQUESTS_CA_BUNDLE"] = self.pebble.tls_ca_path
            env["ISSUER_TRUST_BUNDLE"] = self.pebble.issuer_roots_path()
        return env

    def reset_aws(self) -> None:
        """Forgets all AWS state (moto reset), pending faults, call counts, rate limits, moto-fix settings
        and the CA's certificate counts."""
        if not self.endpoint_url:
            raise RuntimeError("the stack is not started")
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        # Resetting every backend after a large test (hundreds of certificates, every region) takes seconds,
        # and more on a loaded machine: 10 s timed out under load.
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        self.faults.clear()
        self.calls.reset()
        self.iam.reset()
        self.limits.disable()
        moto_fixes.reset_settings()
        devstack_dns.forget_pointers()
        deployed.invocations.reset()
        if self.alb_front is not None:
            self.alb_front.requests.clear()
        if self.ca_limits is not None:
            self.ca_limits.reset()


def start_dns_on_port_53(query_log: Path | None = None) -> Route53DnsServer:
    """A DNS server on port 53 (acme2certifier asks resolver IPs only) of 127.0.0.2, or of the next loopback
    address whose port 53 is free: stacks of other test runs on the same machine may hold the first.
    It reads the same fake Route 53 as the stack's own DNS server (moto runs in this process)."""
    last_error: Exception | None = None
    for last_octet in range(2, 40):
        try:
            return Route53DnsServer(address=f"127.0.0.{last_octet}", port=53, query_log=query_log).start()
        except RuntimeError as error:
            last_error = error
    raise RuntimeError(f"no loopback address with a free port 53 (port 53 needs root): {last_error}")
