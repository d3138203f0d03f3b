"""Candidate optimisations of the code under test, applied by monkeypatch in the benchmark's processes only
(the layer itself is never edited here): each is measured before/after, and proposed in docs/performance.md.

Spelled `name=value`:
  insync_first_delay=0.2   Route53Challenges._wait_in_sync polls GetChange again after this many seconds
                           (the layer waits FIRST_POLL_DELAY, 0.5 s, then doubles up to 5 s)
  parallel_discovery=8     LoadBalancerListeners lists the listeners and listener certificates of up to this
                           many ALB/NLBs at once (the layer lists them one after the other)
  discover_ttl=30          a container reuses its listing of the endpoints for this many seconds (each
                           endpoint is still read afresh right before it is changed); the layer lists
                           every load balancer and listener again for every rotation
  zones_ttl=300            a container reuses its list of hosted zones for this many seconds (the proposal
                           also lists them again when no zone matches a name; the benchmark never needs to);
                           the layer lists the zones for every order
  finalize_first_poll=0.1  the order's first finalization poll after this many seconds, and at once when the
                           CA answered the finalization with a valid order. Adopted: the layer polls the
                           order itself (AcmeAuthority._await_certificate) and no longer calls acme's
                           ClientV2.poll_finalization, which this patches: it now changes nothing
  lazy_ec2=1               the ec2 client behind EnabledRegions built at the first DescribeRegions (a
                           rotation handed the scan's endpoint index never lists the regions; EC2's service
                           model: ~20 MB, ~0.2 s per cold start). Adopted in wiring.regions: changes nothing
  index_records=off        a rotation handed no endpoints finds no record in the scan index and searches every
                           region (what it did before the scan kept where each certificate is served)
  scan_tags=relevant       the scan lists tags only of certificates that can need action: those within the
                           renewal window, and those whose deterministic replacement name is in the listing
                           (replaced or stalled ones); the layer lists the tags of every certificate
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from certrotate.decide.due import is_due
from certrotate.decide.naming import replacement_name

KNOWN = (
    "insync_first_delay",
    "parallel_discovery",
    "discover_ttl",
    "zones_ttl",
    "scan_tags",
    "finalize_first_poll",
    "lazy_ec2",
    "index_records",
)

# What each patch replaces (module, attribute): tests/unit/project/test_benchmark_targets.py checks that it
# still exists and that the replacement takes the arguments the original takes (lazy_ec2 replaces nothing).
REPLACES: dict[str, tuple[str, str]] = {
    "insync_first_delay": ("certrotate.adapters.aws.route53", "Route53Challenges._wait_in_sync"),
    "parallel_discovery": ("certrotate.adapters.aws.elb", "LoadBalancerListeners._list_v2"),
    "discover_ttl": ("certrotate.adapters.aws.endpoints", "AllEndpoints.discover"),
    "zones_ttl": ("certrotate.adapters.aws.route53", "Route53Challenges.zones"),
    "scan_tags": ("certrotate.scan.tags", "TagIndex.where_needed"),
    "finalize_first_poll": ("acme.client", "ClientV2.poll_finalization"),
    "index_records": ("certrotate.adapters.lease_table.scan_index", "ScanIndexRecords.served"),
}


def parse(specs: Iterable[str]) -> dict[str, str]:
    patches: dict[str, str] = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in KNOWN or not value:
            raise ValueError(
                f"unknown patch {spec!r}: expected one of {', '.join(k + '=...' for k in KNOWN)}"
            )
        patches[name] = value
    return patches


def apply(specs: Iterable[str]) -> list[str]:
    """Applies the patches to the imported layer (call after the handler module is loaded)."""
    applied = []
    for name, value in parse(specs).items():
        if name == "insync_first_delay":
            _insync_first_delay(float(value))
        elif name == "parallel_discovery":
            _parallel_discovery(int(value))
        elif name == "discover_ttl":
            _discover_ttl(float(value))
        elif name == "zones_ttl":
            _zones_ttl(float(value))
        elif name == "lazy_ec2":
            pass  # adopted: the layer builds the ec2 client at the first DescribeRegions (wiring.regions)
        elif name == "finalize_first_poll":
            _finalize_first_poll(float(value))
        elif name == "index_records" and value == "off":
            from certrotate.adapters.lease_table import scan_index

            scan_index.ScanIndexRecords.served = lambda self, certificate_id: None  # type: ignore[method-assign]
        elif name == "scan_tags" and value == "relevant":
            _scan_relevant_tags()
        applied.append(f"{name}={value}")
    return applied


def _insync_first_delay(first: float) -> None:
    from certrotate.adapters.aws import route53
    from certrotate.errors import CertRotateError

    def _wait_in_sync(self: Any, change_id: str, deadline: float, polled: Callable[[], None] | None) -> None:
        # route53.Route53Challenges._wait_in_sync with the first delay as a parameter.
        limit = min(deadline, self._monotonic() + route53.SYNC_WAIT)
        delay = first
        while True:
            status = self._r53.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if polled is not None:
                polled()
            if status == "INSYNC":
                return
            left = limit - self._monotonic()
            if left <= 0:
                raise CertRotateError(f"Route 53 change {change_id} was not INSYNC in time")
            self._sleep(min(delay, left))
            delay = min(delay * 2, route53.LONGEST_POLL_DELAY)

    route53.Route53Challenges._wait_in_sync = _wait_in_sync  # type: ignore[method-assign]


def _finalize_first_poll(first: float) -> None:
    import datetime
    import time

    from acme import client, errors, messages

    def poll_finalization(
        self: Any,
        orderr: messages.OrderResource,
        deadline: datetime.datetime,
        fetch_alternative_chains: bool = False,
    ) -> messages.OrderResource:
        # acme 5's ClientV2.poll_finalization, with the first wait a parameter (acme: 1 s) and none when
        # the finalization's answer already says valid.
        sleep_seconds: float = 0.0 if orderr.body.status == messages.STATUS_VALID else first
        while datetime.datetime.now() < deadline:
            if sleep_seconds > 0:
                time.sleep(sleep_seconds)
            response = self._post_as_get(orderr.uri)
            body = messages.Order.from_json(response.json())
            if body.status == messages.STATUS_INVALID:
                if body.error is not None:
                    raise errors.IssuanceError(body.error)
                raise errors.Error("The certificate order failed. No further information was provided.")
            if body.status == messages.STATUS_READY:
                self.begin_finalization(orderr)
                sleep_seconds = 1
            elif body.status == messages.STATUS_VALID and body.certificate is not None:
                certificate_response = self._post_as_get(body.certificate)
                orderr = orderr.update(body=body, fullchain_pem=certificate_response.text)
                if fetch_alternative_chains:
                    urls = self._get_links(certificate_response, "alternate")
                    orderr = orderr.update(
                        alternative_fullchains_pem=[self._post_as_get(u).text for u in urls]
                    )
                return orderr
            elif body.status == messages.STATUS_PROCESSING:
                retry_after = min(self.retry_after(response, 1), deadline)
                sleep_seconds = (retry_after - datetime.datetime.now()).total_seconds()
        raise errors.TimeoutError()

    client.ClientV2.poll_finalization = poll_finalization  # type: ignore[method-assign]


def _parallel_discovery(threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from botocore.exceptions import ClientError
    from certrotate.adapters.aws import elb
    from certrotate.adapters.aws.errors import error_code

    def _list_v2(self: Any) -> list[Any]:
        # elb.LoadBalancerListeners._list_v2 with the per-load-balancer work on a thread pool.
        balancers = [
            lb
            for page in self._v2.get_paginator("describe_load_balancers").paginate()
            for lb in page["LoadBalancers"]
            if lb.get("Type") in ("application", "network")
        ]

        def one(lb: dict[str, Any]) -> list[Any]:
            found = []
            try:
                for listeners in self._v2.get_paginator("describe_listeners").paginate(
                    LoadBalancerArn=lb["LoadBalancerArn"]
                ):
                    for listener in listeners["Listeners"]:
                        if listener.get("Protocol") in elb.SECURE_V2:
                            endpoint = self._read_v2(listener["ListenerArn"], lb["LoadBalancerArn"])
                            if endpoint is not None:
                                found.append(endpoint)
            except ClientError as exc:
                if error_code(exc) not in elb.GONE_V2:
                    raise
            return found

        if len(balancers) <= 1:
            return [e for lb in balancers for e in one(lb)]
        with ThreadPoolExecutor(max_workers=min(threads, len(balancers))) as pool:
            return [e for chunk in pool.map(one, balancers) for e in chunk]

    elb.LoadBalancerListeners._list_v2 = _list_v2  # type: ignore[method-assign]


def _scan_relevant_tags() -> None:
    from certrotate.scan.tags import TagIndex

    def where_needed(
        self: Any, reader: Any, listed: list[Any], kept: Any, now: Any, notes: list[str], *, read_all: bool
    ) -> tuple[list[Any], set[str]]:
        # scan.tags.TagIndex.where_needed, narrowed as before the scan index: tags read only for the
        # certificates due by RENEW_BEFORE_DAYS and those whose replacement is listed (the rest as the layer).
        names = {c.name for c in listed}
        window = self._floor
        wanted = [
            c for c in listed if is_due(c, now, window) or replacement_name(c.name, c.certificate_id) in names
        ]
        read = reader.read_tags(wanted, notes) if wanted else {}
        return [read.get(c.certificate_id, c) for c in listed], set(read)

    TagIndex.where_needed = where_needed  # type: ignore[method-assign,assignment]


def _discover_ttl(seconds: float) -> None:
    import time

    from certrotate.adapters.aws import endpoints

    original = endpoints.AllEndpoints.discover

    def discover(self: Any, *, include_cloudfront: bool) -> Any:
        # The survey is immutable (a frozen dataclass of tuples): the cached one is handed out as is.
        cache: dict[bool, tuple[float, Any]] = self.__dict__.setdefault("_bench_cache", {})
        hit = cache.get(include_cloudfront)
        if hit is not None and time.monotonic() - hit[0] < seconds:
            return hit[1]
        found = original(self, include_cloudfront=include_cloudfront)
        cache[include_cloudfront] = (time.monotonic(), found)
        return found

    endpoints.AllEndpoints.discover = discover  # type: ignore[method-assign]


def _zones_ttl(seconds: float) -> None:
    import time

    from certrotate.adapters.aws import route53

    original = route53.Route53Challenges.zones

    def zones(self: Any, **kwargs: Any) -> list[Any]:
        hit = self.__dict__.get("_bench_zones")
        if hit is not None and time.monotonic() - hit[0] < seconds:
            return list(hit[1])
        found: list[Any] = original(self, fresh=True)
        self.__dict__["_bench_zones"] = (time.monotonic(), found)
        return list(found)

    route53.Route53Challenges.zones = zones  # type: ignore[method-assign]
