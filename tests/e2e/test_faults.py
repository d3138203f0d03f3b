"""A rotation that dies at any step, runs twice, or meets throttling, ACME errors or bad input still
converges, issues at most one certificate, and never breaks a listener."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from certrotate.adapters.acme.authority import AcmeAuthority
from certrotate.adapters.aws.elb import LoadBalancerListeners
from certrotate.adapters.aws.iam import IamCertificateStore
from certrotate.adapters.aws.secrets import AccountKeyStore
from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE, DynamoDbLeases

from devstack import dns as devstack_dns
from devstack import fixtures, lambda_runner
from devstack.pebble import Pebble
from tests.e2e.conftest import World


class Crash(BaseException):
    """The Lambda dies here: a BaseException, so no `except Exception` in the code under test catches it."""


def crash_after(
    monkeypatch: pytest.MonkeyPatch,
    cls: type,
    method: str,
    *,
    when: Callable[..., bool] = lambda *a, **k: True,
    before: bool = False,
    nth: int = 1,
) -> None:
    """Make `cls.method` kill the run (once) on its nth matching call, before or after doing its work."""
    original = getattr(cls, method)
    seen = {"n": 0, "fired": False}

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if seen["fired"] or not when(*args, **kwargs):
            return original(self, *args, **kwargs)
        seen["n"] += 1
        if seen["n"] < nth:
            return original(self, *args, **kwargs)
        seen["fired"] = True
        if before:
            raise Crash(f"died before {method}")
        original(self, *args, **kwargs)
        raise Crash(f"died after {method}")

    monkeypatch.setattr(cls, method, wrapper)
    # A dead process never releases its lease: let it stand until it expires.
    monkeypatch.setattr(DynamoDbLeases, "release", lambda self, lease: None)


def expire_leases(world: World) -> None:
    """Time passes beyond ROTATION_LEASE_SECONDS: every lease left by a dead run has expired. Its item stays,
    as it would in DynamoDB until TTL gets round to it (days later, maybe): expiry alone must free it."""
    past = int(time.time()) - 1
    for item in world.leases():
        world.dynamodb.update_item(
            TableName=world.lease_table,
            Key={KEY_ATTRIBUTE: item[KEY_ATTRIBUTE]},
            UpdateExpression="SET #expires = :past",
            ExpressionAttributeNames={"#expires": EXPIRES_ATTRIBUTE},
            ExpressionAttributeValues={":past": {"N": str(past)}},
        )


def setup_two_listeners(world: World) -> tuple[dict[str, Any], list[Any]]:
    old = world.seed("site", ["site.example.com", "*.site.example.com"], days_left=5)
    other = world.seed("other", ["other.example.org"], days_left=300, managed=False)
    listeners = [
        fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="one"),
        fixtures.create_alb_https_listener(
            world.elbv2, world.ec2, other["Arn"], sni_certificate_arns=[old["Arn"]], name="two"
        ),
    ]
    return old, listeners


def assert_converged(world: World, old: dict[str, Any], listeners: list[Any], other_arn: str) -> None:
    replacements = [n for n in world.certificates() if n.startswith("site-cr")]
    assert len(replacements) == 1, f"exactly one new certificate, not {replacements}"
    new_arn = world.certificates()[replacements[0]]["Arn"]
    assert world.listener_certificates(listeners[0].listener_arn) == (new_arn, [])
    assert world.listener_certificates(listeners[1].listener_arn) == (other_arn, [new_arn])
    assert world.txt_records() == [], "no DNS-01 record is left behind"
    names = world.certificates()
    assert "site" not in names or world.tags("site").get("certrotate:replaced-by") == replacements[0]


def is_replaced_by_tag(name: str, tags: dict[str, str]) -> bool:
    return "certrotate:replaced-by" in tags


def is_served_tag(name: str, tags: dict[str, str]) -> bool:
    return "certrotate:replacement-served-since" in tags


CRASH_POINTS = {
    "after the order": dict(cls=AcmeAuthority, method="issue"),
    "before the upload": dict(cls=IamCertificateStore, method="upload", before=True),
    "after the upload": dict(cls=IamCertificateStore, method="upload"),
    "after marking the old one replaced": dict(
        cls=IamCertificateStore, method="tag", when=is_replaced_by_tag
    ),
    "after the first listener": dict(cls=LoadBalancerListeners, method="apply"),
    "between the SNI add and remove": dict(cls=LoadBalancerListeners, method="apply", nth=2),
    "after marking it served": dict(cls=IamCertificateStore, method="tag", when=is_served_tag),
    "before retirement": dict(cls=IamCertificateStore, method="delete", before=True),
    "after retirement": dict(cls=IamCertificateStore, method="delete"),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_rerun_after_a_crash_at_any_step_converges(
    world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    old, listeners = setup_two_listeners(world)
    other_arn = world.listener_certificates(listeners[1].listener_arn)[0]
    spec = dict(CRASH_POINTS[point])
    crash_after(monkeypatch, spec.pop("cls"), spec.pop("method"), **spec)

    with pytest.raises(Crash):
        world.rotate("site")
    monkeypatch.undo()

    # Before the lease expires, a second run (the queue's redelivery, a scan's message) is turned away.
    if "site" in world.certificates():
        with pytest.raises(Exception, match="in progress"):
            world.rotate("site")
    expire_leases(world)
    if "site" in world.certificates():
        rerun = world.rotate("site")
        assert rerun["status"] in ("rotated", "skipped")
    assert_converged(world, old, listeners, other_arn)
    if "site" in world.certificates():  # a later scan finishes whatever retirement is left
        world.scan()
    assert "site" not in world.certificates()


def test_duplicate_deliveries_issue_one_certificate(world: World) -> None:
    setup_two_listeners(world)
    world.scan()
    [record] = world.receive()
    first = world.rotate_from_queue([record])
    second = world.rotate_from_queue([record])
    assert first == second == {"batchItemFailures": []}
    assert len([n for n in world.certificates() if n.startswith("site-cr")]) == 1


def invoke_twice_at_once(world: World, event: dict[str, Any]) -> list[Any]:
    """RotateFunction invoked with `event` by two threads released together; each one's result or error."""
    return world.invoke_together([event, event])


def test_two_simultaneous_rotations_order_once(world: World) -> None:
    world.seed("race", ["race.example.com"], days_left=5)
    outcomes = invoke_twice_at_once(world, {"certificate_name": "race", "force": True})
    statuses = sorted(o["status"] if isinstance(o, dict) else "error" for o in outcomes)
    errors = [str(o) for o in outcomes if not isinstance(o, dict)]
    assert statuses in (["error", "rotated"], ["rotated", "skipped"]), outcomes
    assert all("in progress" in e for e in errors), errors
    assert len([n for n in world.certificates() if n.startswith("race-cr")]) == 1


@pytest.mark.parametrize(
    ("service", "action", "code", "times"),
    [
        ("elbv2", "ModifyListener", "Throttling", 4),
        ("elbv2", "ModifyListener", "CertificateNotFound", 3),
        ("route53", "ChangeResourceRecordSets", "PriorRequestNotComplete", 3),
        ("route53", "GetChange", "Throttling", 4),
        ("iam", "UploadServerCertificate", "Throttling", 4),
        ("dynamodb", "PutItem", "ThrottlingException", 2),
        ("dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", 2),
    ],
)
def test_aws_faults_are_retried_with_backoff(
    world: World, service: str, action: str, code: str, times: int
) -> None:
    old = world.seed("site", ["site.example.com"], days_left=5)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.stack.faults.inject(service=service, action=action, code=code, status=400, times=times)
    result = world.rotate("site")
    assert result["status"] == "rotated"
    assert world.stack.faults.count(service, action) == times, "every injected fault was met and ridden out"
    assert world.stack.faults.pending() == []
    new_arn = world.certificates()[result["new_certificate_name"]]["Arn"]
    assert world.listener_certificates(listener.listener_arn) == (new_arn, [])


def test_a_failed_validation_names_the_name_removes_records_and_uploads_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.seed("site", ["site.example.com", "broken.example.com"], days_left=5)
    original = devstack_dns.txt_records
    monkeypatch.setattr(devstack_dns, "txt_records", lambda name: [] if "broken" in name else original(name))
    before = set(world.certificates())
    with pytest.raises(Exception, match=r"validation of broken\.example\.com failed"):
        world.rotate("site")
    assert set(world.certificates()) == before
    assert world.txt_records() == []
    assert "certrotate:replaced-by" not in world.tags("site")

    # The failure left the CA in good order: once the name validates again, a rerun issues.
    monkeypatch.undo()
    assert world.rotate("site")["status"] == "rotated"


@pytest.mark.parametrize("secret", ["created empty (the template)", "absent"])
def test_two_first_rotations_at_once_register_one_acme_account(
    world: World, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    """No account key yet: two first rotations find the secret empty at the same moment. Exactly one of them
    creates the key (the lease table's #acme-account decides); both order with the one account it
    registers. The template creates the secret without a value, so a plain write always succeeds: without
    that agreement, both would register and the last write would win."""
    secret_id = world.env["ACME_ACCOUNT_SECRET_ID"]
    if secret.startswith("created"):
        world.secrets.create_secret(Name=secret_id)  # no value, as template.yaml's AcmeAccountSecret
    for name in ("first", "second"):
        world.seed(name, [f"{name}.example.com"], days_left=5)
    both_read = threading.Barrier(2, timeout=60)
    original_load = AccountKeyStore.load
    waited: set[int] = set()

    def load_in_step(store: AccountKeyStore) -> Any:
        """Each rotation's first read of the secret waits for the other's: both find it empty."""
        stored = original_load(store)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_read.wait()
        return stored

    monkeypatch.setattr(AccountKeyStore, "load", load_in_step)
    outcomes = world.invoke_together([{"certificate_name": "first"}, {"certificate_name": "second"}])

    assert [o["status"] if isinstance(o, dict) else repr(o) for o in outcomes] == ["rotated", "rotated"]
    assert world.stack.ca_limits is not None
    assert world.stack.ca_limits.accounts_created() == 1, "one account registered at the CA"
    assert len(world.stack.ca_limits.order_accounts()) == 1, "both ordered with it"
    stored = json.loads(world.secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    assert stored["key"] and stored["accounts"] == {
        world.env["ACME_DIRECTORY_URL"]: next(iter(world.stack.ca_limits.order_accounts()))
    }


@pytest.fixture(scope="module")
def nonce_rejecting_pebble(stack: Any) -> Any:
    with Pebble(dns_server=stack.dns_server, env={"PEBBLE_WFE_NONCEREJECT": "40"}) as pebble:
        yield pebble


def test_bad_nonces_are_retried(world: World, nonce_rejecting_pebble: Pebble) -> None:
    # pebble rejects 40% of nonces: at 12 attempts of 2 tries each (acme.BAD_NONCE_ATTEMPTS) a request fails
    # with probability 0.4**24 = 2.8e-10; a rotation makes about 15 requests (200 would still be < 6e-8), and
    # meets a rejection in all but 0.6**15 = 5e-4 of runs.
    world.seed("site", ["site.example.com", "www.site.example.com"], days_left=5)
    result = world.invoke(
        "RotateFunction",
        {"certificate_name": "site"},
        ACME_DIRECTORY_URL=nonce_rejecting_pebble.directory_url,
        REQUESTS_CA_BUNDLE=nonce_rejecting_pebble.tls_ca_path,
        ISSUER_TRUST_BUNDLE=nonce_rejecting_pebble.issuer_roots_path(),
        ACME_ACCOUNT_SECRET_ID="certrotate/acme-account-nonce",
    )
    assert result["status"] == "rotated"


BAD_EVENTS = [
    ({}, "missing field 'certificate_name'"),
    ({"certificate_name": "site", "force": "true"}, "force"),
    ({"certificate_name": "site", "dryrun": True}, "unknown field 'dryrun'"),
    ({"certificate_name": "no-such-certificate"}, "no IAM server certificate is named 'no-such-certificate'"),
    ({"certificate_name": "unmanaged"}, "lacks the tag certrotate:managed=true"),
    ({"certificate_name": "bad name!"}, "must be an IAM server certificate name"),
]


@pytest.mark.parametrize(("event", "message"), BAD_EVENTS)
def test_bad_events_fail_clearly_and_change_nothing(
    world: World, event: dict[str, Any], message: str
) -> None:
    world.seed("site", ["site.example.com"], days_left=5)
    world.seed("unmanaged", ["u.example.com"], days_left=5, managed=False)
    before = world.snapshot()
    with pytest.raises(Exception) as caught:
        world.rotate_raw(event)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert world.snapshot() == before


BAD_SETTINGS = [
    ({"RENEW_BEFORE_DAYS": "soon"}, "RENEW_BEFORE_DAYS must be a whole number"),
    ({"ROTATION_LEASE_SECONDS": "1"}, "ROTATION_LEASE_SECONDS must be between"),
    ({"ACME_DIRECTORY_URL": "http://plain.example/dir"}, "ACME_DIRECTORY_URL must be an https:// URL"),
    ({"ISSUER_TRUST_BUNDLE": "/missing.pem"}, "ISSUER_TRUST_BUNDLE names no readable file"),
    ({"ACME_ACCOUNT_SECRET_ID": ""}, "ACME_ACCOUNT_SECRET_ID is required"),
    ({"LEASE_TABLE_NAME": ""}, "LEASE_TABLE_NAME is required"),
    ({"LOAD_BALANCER_REGIONS": "moon-1"}, "not an AWS region name"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_bad_settings_fail_clearly_and_change_nothing(
    world: World, settings: dict[str, str], message: str
) -> None:
    world.seed("site", ["site.example.com"], days_left=5)
    before = world.snapshot()
    with pytest.raises(Exception, match=message):
        world.invoke("RotateFunction", {"certificate_name": "site"}, **settings)
    assert world.snapshot() == before


def test_too_little_time_left_fails_clearly_before_ordering(world: World) -> None:
    world.seed("site", ["site.example.com"], days_left=5)
    before = world.snapshot()
    spec = lambda_runner.template().function("RotateFunction")
    context = lambda_runner.LambdaContext(spec)
    context._deadline = time.monotonic() + 60  # the invocation has a minute left: too little to order
    saved = dict(os.environ)
    try:
        with pytest.raises(Exception, match="too little to order a certificate: a rerun continues"):
            lambda_runner.invoke("RotateFunction", {"certificate_name": "site"}, world.env, context=context)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert world.snapshot() == before
