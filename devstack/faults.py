"""Fault injection and call counting for the moto server, as WSGI middleware.

    faults.inject(service="elbv2", action="ModifyListener", code="Throttling", times=3)
    ... the next 3 ModifyListener calls fail with a well-formed AWS error; the 4th reaches moto ...
    faults.count(service="elbv2", action="ModifyListener")  # -> 3 errors served
    calls.snapshot()  # -> {("elbv2", "ModifyListener"): 4, ...}
    faults.inject(service="elbv2", region="eu-west-1", code="UnrecognizedClientException", times=100)
    ... elbv2 calls signed for eu-west-1 fail, as in a region that does not accept the caller's token ...

Error bodies are written in the service's own protocol (query XML, EC2 XML, REST-XML, JSON, REST-JSON), so
botocore parses the code exactly as from AWS and its retry modes see `Throttling` as throttling.
Services are named as boto3 names its clients ("elbv2", "route53", "secretsmanager"); actions as the API does.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ServiceModel

from devstack.ratelimits import RateLimits
from devstack.ratelimits import limits as rate_limits

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DEFAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "ThrottlingException": "Rate exceeded",
    "PriorRequestNotComplete": "The request was rejected because Route 53 was still processing a prior "
    "request.",
    "ServiceUnavailable": "Service is unavailable",
    "InternalFailure": "An internal error occurred",
}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
# elb and elbv2 sign as the same service; the API version in the request tells them apart.
_ELB_VERSIONS = {"2012-06-01": "elb", "2015-12-01": "elbv2"}
_SIGNING_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions"}


@dataclass
class Fault:
    """One injected fault: the next `times` matching calls (after skipping `after`) get this error."""

    service: str
    action: str | None
    code: str
    status: int
    message: str
    times: int
    after: int = 0
    region: str | None = None  # only calls signed for this region (None: any)
    # An HTML page instead of an AWS error (what a proxy, a load balancer in between, or a service outage
    # page answers): no error code for botocore to parse.
    html: bool = False
    served: int = 0
    seen: int = field(default=0, repr=False)

    @property
    def remaining(self) -> int:
        return self.times - self.served

    def matches(self, service: str, action: str | None, region: str = "") -> bool:
        return (
            self.service == service
            and (self.action is None or self.action == action)
            and (self.region is None or self.region == region)
        )


class FaultInjector:
    """Thread-safe registry of pending faults; the middleware asks it on every AWS call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._served: Counter[tuple[str, str | None]] = Counter()

    def inject(
        self,
        service: str,
        action: str | None = None,
        code: str = "Throttling",
        status: int = 400,
        times: int = 1,
        message: str | None = None,
        after: int = 0,
        region: str | None = None,
        html: bool = False,
    ) -> Fault:
        """Fails the next `times` calls of `service`/`action` (any action if None) with `code`/`status`,
        letting the first `after` matching calls through; with `region`, only calls signed for that region.
        Faults are consulted in the order injected."""
        if times < 1 or after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (4xx or 5xx)")
        fault = Fault(
            service=service,
            action=action,
            code=code,
            status=status,
            message=message or _DEFAULT_MESSAGES.get(code, f"Injected fault: {code}"),
            times=times,
            after=after,
            region=region,
            html=html,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drops pending faults and forgets the errors served."""
        with self._lock:
            self._faults.clear()
            self._served.clear()

    def count(self, service: str | None = None, action: str | None = None) -> int:
        """How many injected errors were served (optionally only for a service, or a service and action)."""
        with self._lock:
            return sum(
                n
                for (svc, act), n in self._served.items()
                if (service is None or svc == service) and (action is None or act == action)
            )

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def take(self, service: str, action: str | None, region: str = "") -> Fault | None:
        """The fault to serve for this call, if any (consumes one use of it)."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or not fault.matches(service, action, region):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.served += 1
                self._served[(service, action)] += 1
                return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
            return None


class CallCounter:
    """Counts AWS calls per (service, action), faulted ones included: what a client really sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, service: str, action: str) -> None:
        with self._lock:
            self._counts[(service, action)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def count(self, service: str | None = None, action: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (svc, act), n in self._counts.items()
                if (service is None or svc == service) and (action is None or act == action)
            )

    def total(self) -> int:
        return self.count()


# The process-wide instances the local stack installs (moto's state is per process, so are these).
injector = FaultInjector()
calls = CallCounter()


def inject(
    service: str,
    action: str | None = None,
    code: str = "Throttling",
    status: int = 400,
    times: int = 1,
    message: str | None = None,
    after: int = 0,
    region: str | None = None,
    html: bool = False,
) -> Fault:
    """`FaultInjector.inject` on the process-wide injector."""
    return injector.inject(service, action, code, status, times, message, after, region, html)


def clear() -> None:
    injector.clear()


def count(service: str | None = None, action: str | None = None) -> int:
    return injector.count(service, action)


# ------------------------------------------------------------------------------------------------
# Recognising the call
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallInfo:
    service: str
    action: str
    protocol: str  # query, ec2, rest-xml, json, rest-json
    region: str = ""  # the region the request was signed for


_botocore_lock = threading.Lock()


@functools.cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _service_model(service: str) -> ServiceModel | None:
    with _botocore_lock:
        try:
            return _botocore_session().get_service_model(service)
        except Exception:  # an unknown service: the call is still counted, under what we know
            return None


@functools.cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], tuple[str, ...], str]]:
    """(method, path regex, required query keys, operation) for a REST service, most specific first."""
    model = _service_model(service)
    if model is None:
        return []
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = str(http.get("requestUri", "/"))
        path, _, query = uri.partition("?")
        pattern = ""
        for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path.rstrip("/")):
            pattern += re.escape(literal)
            if label:
                pattern += ".+" if label.endswith("+") else "[^/]+"
        required = tuple(part.split("=", 1)[0] for part in query.split("&") if part)
        literal_len = len(re.sub(r"\{[^}]*\}", "", path)) + 100 * len(required)
        routes.append(
            (literal_len, str(http.get("method", "GET")), re.compile(f"^{pattern}/?$"), required, name)
        )
    routes.sort(key=lambda r: -r[0])
    return [(method, regex, required, name) for _, method, regex, required, name in routes]


def _header(environ: dict[str, Any], name: str) -> str:
    return str(environ.get("HTTP_" + name.upper().replace("-", "_"), ""))


def identify(environ: dict[str, Any], body: bytes) -> CallInfo | None:
    """Which AWS service and action a request to the moto server is (None for moto's own API)."""
    path = str(environ.get("PATH_INFO", "/"))
    if path.startswith("/moto-api"):
        return None
    scope = _CREDENTIAL_SCOPE.search(_header(environ, "Authorization"))
    signing_name = scope.group(2) if scope else ""
    region = scope.group(1) if scope else ""
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    form: dict[str, list[str]] = {}
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if "x-www-form-urlencoded" in content_type:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    params = {**query, **form}

    service = _SIGNING_ALIASES.get(signing_name, signing_name)
    if signing_name == "elasticloadbalancing":
        service = _ELB_VERSIONS.get((params.get("Version") or [""])[0], "elbv2")

    target = _header(environ, "X-Amz-Target")
    if target:
        return CallInfo(service or target.split(".")[0].lower(), target.rsplit(".", 1)[-1], "json", region)
    if "Action" in params:
        model = _service_model(service) if service else None
        protocol = "ec2" if model is not None and model.protocol == "ec2" else "query"
        return CallInfo(service or "unknown", params["Action"][0], protocol, region)
    model = _service_model(service) if service else None
    if model is None:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        return CallInfo(service or "unknown", f"{method} {path}", "rest-xml", region)
    method = str(environ.get("REQUEST_METHOD", "GET"))
    for route_method, regex, required, name in _rest_routes(service):
        if route_method == method and regex.match(path) and all(key in query for key in required):
            return CallInfo(service, name, model.protocol, region)
    return CallInfo(service, f"{method} {path}", model.protocol, region)


# ------------------------------------------------------------------------------------------------
# Writing the error
# ------------------------------------------------------------------------------------------------


def error_response(call: CallInfo, fault: Fault) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of `fault` in the protocol of `call`."""
    request_id = str(uuid.uuid4())
    status = f"{fault.status} {_REASONS.get(fault.status, 'Error')}"
    headers = [("x-amzn-RequestId", request_id), ("x-devstack-fault", fault.code)]
    fault_type = "Sender" if fault.status < 500 else "Receiver"
    code, message = escape(fault.code), escape(fault.message)
    if fault.html:
        # Werkzeug's own error page, as the moto server (or a proxy) answers an action it cannot handle.
        headers.append(("Content-Type", "text/html; charset=utf-8"))
        page = (
            f"<!doctype html>\n<html lang=en>\n<title>{status}</title>\n<h1>{escape(fault.message)}</h1>\n"
            "<p>The server encountered an internal error and was unable to complete your request.</p>\n"
        )
        return status, headers, page.encode()
    if call.protocol in ("json", "rest-json"):
        model = _service_model(call.service)
        json_version = (model.metadata.get("jsonVersion") if model else None) or "1.1"
        payload = {"__type": fault.code, "message": fault.message}
        headers.append(("Content-Type", f"application/x-amz-json-{json_version}"))
        headers.append(("x-amzn-ErrorType", fault.code))
        if model is not None and model.metadata.get("awsQueryCompatible") is not None:
            # SQS and friends: botocore takes the query-protocol code from this header.
            headers.append(("x-amzn-query-error", f"{fault.code};{fault_type}"))
        return status, headers, json.dumps(payload).encode()
    if call.protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        model = _service_model(call.service)
        namespace = (model.metadata.get("xmlNamespace") if model else None) or ""
        xmlns = f' xmlns="{escape(str(namespace))}"' if isinstance(namespace, str) and namespace else ""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse{xmlns}><Error><Type>{fault_type}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    headers.append(("Content-Type", "text/xml"))
    return status, headers, body.encode()


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# Calls whose User-Agent carries this stand for a load balancer's own data plane (devstack.alb_front reading
# the rules it answers from), not for the account's API use: never counted, faulted or throttled.
DATA_PLANE_AGENT = "devstack-data-plane"


# Decides whether a call may proceed: None, or the error AWS would answer (devstack.iam_enforcement).
Authorizer = Callable[[CallInfo, dict[str, Any], bytes], "Fault | None"]


class AwsMiddleware:
    """Wraps moto's WSGI app: counts every AWS call, answers injected faults and AWS's throttling, and refuses
    what the caller's IAM policies do not allow (`authorize`), before moto sees the call."""

    def __init__(
        self,
        app: WSGIApp,
        faults: FaultInjector | None = None,
        counter: CallCounter | None = None,
        limits: RateLimits | None = None,
        authorize: Authorizer | None = None,
    ):
        self.app = app
        self.faults = faults or injector
        self.calls = counter or calls
        self.limits = limits or rate_limits
        self.authorize = authorize

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if DATA_PLANE_AGENT in environ.get("HTTP_USER_AGENT", ""):
            return self.app(environ, start_response)
        body = _read_body(environ)
        call = identify(environ, body)
        if call is not None:
            self.calls.record(call.service, call.action)
            fault = self.faults.take(call.service, call.action, call.region)
            if fault is None:
                fault = self._throttle(call)
            if fault is None and self.authorize is not None:
                fault = self.authorize(call, environ, body)
            if fault is not None:
                status, headers, payload = error_response(call, fault)
                headers.append(("Content-Length", str(len(payload))))
                start_response(status, headers)
                return [payload]
        return self.app(environ, start_response)

    def _throttle(self, call: CallInfo) -> Fault | None:
        """AWS's answer when the call's token bucket is empty (see devstack.ratelimits), else None."""
        rule = self.limits.take(call.service, call.action, call.region)
        if rule is None:
            return None
        return Fault(call.service, call.action, rule.code, 400, _DEFAULT_MESSAGES["Throttling"], times=1)


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the request body and puts it back, so moto still finds it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)
