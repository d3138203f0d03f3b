"""Plain HTTP answered as an Application Load Balancer would, from the listener rules moto holds.

Pebble's HTTP-01 validation connects to `httpPort` of the address the devstack DNS gives for the name; that
address is this server's, so pebble really fetches the token from whatever the ALB's port-80 listener would
answer. A request is routed like DNS routes it in the real world: the Host names a load balancer (its own DNS
name, or a name that another DNS provider points at it: devstack.dns.point_name_at), and that load balancer's
HTTP listener on port 80 evaluates its rules as ELB documents it ("Listener rules for your Application Load
Balancer"): in priority order, lowest first, the first rule whose every condition matches wins (within a
condition any value may match), else the default rule. Host and path patterns take `*` and `?`; hosts match
case-insensitively, paths case-sensitively. Actions: fixed-response (status, content type, body), redirect
(#{protocol}, #{host}, #{port}, #{path}, #{query} placeholders), forward (503: the devstack has no targets).

The rules are read through boto3 from the moto server on every request, as an API client would see them
(with faults.DATA_PLANE_AGENT: the load balancer's own reads are not the account's API calls, so they are
never counted, faulted or throttled), and applied as the load balancer would apply them then: a change takes
effect `moto_fixes.set_alb_rule_delay` seconds late, as the ALB guide warns ("rule updates do not take effect
immediately").
A load balancer with no port-80 HTTP listener, or a name pointing nowhere, gets its connection closed
unanswered (on AWS: refused, or no such host).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack import dns as devstack_dns
from devstack import moto_fixes

log = logging.getLogger(__name__)

_ELB_DNS = re.compile(r"^[^.]+\.([a-z0-9-]+)\.elb\.amazonaws\.com$")
_REDIRECT_CODES = {"HTTP_301": 301, "HTTP_302": 302}


def _pattern(value: str, *, case_sensitive: bool) -> re.Pattern[str]:
    # ELB's wildcards are `*` (any characters) and `?` (one): fnmatch's, without its [...] classes.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def _any_matches(values: list[str], text: str, *, case_sensitive: bool) -> bool:
    return any(_pattern(v, case_sensitive=case_sensitive).match(text) for v in values)


class Request:
    """What the listener's rules look at."""

    def __init__(self, method: str, host: str, target: str, headers: dict[str, str], source_ip: str) -> None:
        parts = urlsplit(target)
        self.method = method
        self.host = host
        self.path = parts.path or "/"
        self.query = parts.query
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.source_ip = source_ip


def condition_matches(condition: dict[str, Any], request: Request) -> bool:
    field = condition.get("Field")
    if field == "host-header":
        values = condition.get("HostHeaderConfig", {}).get("Values") or condition.get("Values", [])
        return _any_matches(values, request.host, case_sensitive=False)
    if field == "path-pattern":
        values = condition.get("PathPatternConfig", {}).get("Values") or condition.get("Values", [])
        return _any_matches(values, request.path, case_sensitive=True)
    if field == "http-request-method":
        return request.method in condition.get("HttpRequestMethodConfig", {}).get("Values", [])
    if field == "http-header":
        config = condition.get("HttpHeaderConfig", {})
        header = request.headers.get(str(config.get("HttpHeaderName", "")).lower())
        return header is not None and _any_matches(config.get("Values", []), header, case_sensitive=False)
    if field == "query-string":
        pairs = parse_qsl(request.query, keep_blank_values=True)
        for wanted in condition.get("QueryStringConfig", {}).get("Values", []):
            for key, value in pairs:
                key_ok = "Key" not in wanted or fnmatch.fnmatchcase(key.lower(), wanted["Key"].lower())
                if key_ok and _any_matches([wanted.get("Value", "")], value, case_sensitive=False):
                    return True
        return False
    if field == "source-ip":
        address = ipaddress.ip_address(request.source_ip)
        cidrs = condition.get("SourceIpConfig", {}).get("Values", [])
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
    return False  # a condition this front does not know never matches: the rule is not taken


def choose_rule(rules: list[dict[str, Any]], request: Request) -> dict[str, Any] | None:
    """The rule an ALB applies: lowest priority first, all conditions matching; else the default rule."""
    ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
    for rule in ordered:
        if all(condition_matches(c, request) for c in rule.get("Conditions", [])):
            return rule
    return next((r for r in rules if r.get("IsDefault")), None)


def respond(action: dict[str, Any], request: Request) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of the rule's action."""
    kind = action.get("Type")
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig", {})
        content_type = config.get("ContentType") or "text/plain"
        return (
            int(config["StatusCode"]),
            {"Content-Type": content_type},
            config.get("MessageBody", "").encode(),
        )
    if kind == "redirect":
        config = action.get("RedirectConfig", {})
        values = {
            "protocol": "http",
            "host": request.host,
            "port": "80",
            "path": request.path.lstrip("/"),
            "query": request.query,
        }

        def fill(text: str) -> str:
            return re.sub(r"#\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

        protocol = fill(config.get("Protocol", "#{protocol}")).lower()
        host = fill(config.get("Host", "#{host}"))
        port = fill(config.get("Port", "#{port}"))
        path = fill(config.get("Path", "/#{path}"))
        query = fill(config.get("Query", "#{query}"))
        location = f"{protocol}://{host}:{port}{path}" + (f"?{query}" if query else "")
        return _REDIRECT_CODES.get(config.get("StatusCode", "HTTP_301"), 301), {"Location": location}, b""
    return 503, {"Content-Type": "text/plain"}, b"503 Service Temporarily Unavailable"


class AlbFront:
    """`with AlbFront(client) as front: front.port` - `client(service, region)` gives boto3 clients of the
    moto server."""

    def __init__(
        self, client: Callable[[str, str], Any], address: str = devstack_dns.ENDPOINT_ADDRESS
    ) -> None:
        self._client_for = client
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self.address = address
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, str, int]] = []  # (host, path, status) served, for tests

    def start(self) -> AlbFront:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                front._handle(self)

            do_HEAD = do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((self.address, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="alb-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AlbFront:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _client(self, service: str, region: str) -> Any:
        with self._clients_lock:
            if (service, region) not in self._clients:
                self._clients[(service, region)] = self._client_for(service, region)
            return self._clients[(service, region)]

    # -- routing ----

    def _load_balancer(self, host: str) -> tuple[str, str] | None:
        """(region, load balancer ARN) that DNS sends `host` to."""
        target = devstack_dns.pointed_at(host) or host
        found = _ELB_DNS.match(target.lower())
        if not found:
            return None
        region = found.group(1)
        for page in self._client("elbv2", region).get_paginator("describe_load_balancers").paginate():
            for balancer in page["LoadBalancers"]:
                if balancer["DNSName"].lower() == target.lower():
                    return region, str(balancer["LoadBalancerArn"])
        return None

    def _http_listener(self, region: str, balancer: str) -> str | None:
        for listener in self._client("elbv2", region).describe_listeners(LoadBalancerArn=balancer)[
            "Listeners"
        ]:
            if listener.get("Protocol") == "HTTP" and listener.get("Port") == 80:
                return str(listener["ListenerArn"])
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        host = (handler.headers.get("Host") or "").rsplit(":", 1)[0].rstrip(".").lower()
        request = Request(
            handler.command, host, handler.path, dict(handler.headers.items()), handler.client_address[0]
        )
        where = self._load_balancer(host)
        listener = self._http_listener(*where) if where else None
        if where is None or listener is None:
            handler.close_connection = True  # nothing listens there
            return
        listed = self._client("elbv2", where[0]).describe_rules(ListenerArn=listener)["Rules"]
        # Rule changes reach the load balancer's nodes a while after the API shows them (moto_fixes).
        rule = choose_rule(moto_fixes.rules_in_effect(listener, listed), request)
        actions = sorted(rule.get("Actions", []) if rule else [], key=lambda a: int(a.get("Order", 1)))
        status, headers, body = respond(actions[-1] if actions else {}, request)
        self.requests.append((host, request.path, status))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Server", "awselb/2.0")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
