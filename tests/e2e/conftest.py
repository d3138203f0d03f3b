"""The end-to-end world: moto server (with fidelity fixes), pebble and a DNS server fed from Route 53,
shared by the session; AWS state is reset before each test. Handlers are invoked as Lambda would, from
template.yaml's CodeUri, Handler and layer ContentUri."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from certrotate import wiring
from certrotate.adapters.lease_table.progress import PROGRESS_KEY_PREFIX
from certrotate.adapters.lease_table.scan_index import INDEX_KEY_PREFIX

from devstack import fixtures, lambda_runner, moto_fixes
from devstack.stack import LocalStack
from tests.paths import EVENTS

ZONE = "example.com"
SECOND_REGION = "us-west-2"
UNNAMED_REGION = "eu-west-1"  # enabled for the account, named in no setting: found through DescribeRegions
# The regions DescribeRegions reports as enabled. Real accounts have opt-in regions disabled; three keep each
# search of every region quick on moto (about 0.05 s per region and search on this machine).
ENABLED_REGIONS = ("us-east-1", SECOND_REGION, UNNAMED_REGION)
KEY_MARKERS = ("PRIVATE KEY-----", '"d":', '\\"d\\":')  # PEM keys and JWK private members


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


class World:
    """One test's AWS account on the local stack, with what it takes to invoke the functions."""

    def __init__(self, stack: LocalStack, **settings: str) -> None:
        self.stack = stack
        self.iam = stack.client("iam")
        self.elbv2 = stack.client("elbv2")
        self.elb = stack.client("elb")
        self.ec2 = stack.client("ec2")
        self.sqs = stack.client("sqs")
        self.route53 = stack.client("route53")
        self.secrets = stack.client("secretsmanager")
        self.cloudfront = stack.client("cloudfront")
        self.dynamodb = stack.client("dynamodb")
        self.lease_table = fixtures.create_lease_table(self.dynamodb)  # as template.yaml's LeaseTable
        self.zone_id = fixtures.create_hosted_zone(self.route53, ZONE)
        self.queue_url = self.sqs.create_queue(
            QueueName="rotation.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "0"}
        )["QueueUrl"]
        self.env = {
            **stack.env(),
            "ACME_ACCOUNT_SECRET_ID": "certrotate/acme-account",
            "ACME_EMAIL": "ops@example.com",
            "ROTATION_QUEUE_URL": self.queue_url,
            "LEASE_TABLE_NAME": self.lease_table,
            "RETIREMENT_GRACE_SECONDS": "0",
            # Seeded certificates are an hour old and a few days from expiry: by the lifetime rule alone they
            # would be due only with half their life left. The operator's floor makes them due, as the tests
            # expect; tests of the floor-less default (ARI window, lifetime rule) drop it.
            "RENEW_BEFORE_DAYS": "30",
            "EVENT_BUS_NAME": "default",
            "POWERTOOLS_SERVICE_NAME": "certrotate",
            **settings,
        }

    # -- invoking ------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any, **env: str) -> Any:
        """Invoke as Lambda would, then restore the environment: no setting leaks into other tests."""
        saved = dict(os.environ)
        try:
            return lambda_runner.invoke(function, event, {**self.env, **env})
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def invoke_together(
        self,
        events: list[Any],
        *,
        on_error: Callable[[], None] = lambda: None,
        timeout: float = 180,
    ) -> list[Any]:
        """RotateFunction invoked with each event by its own thread (its own invocation, as Lambda runs them
        from the queue), all released together; each one's result or what it raised, in the order of `events`.
        `on_error` runs when one raises (to release what the others wait for)."""
        outcomes: list[Any] = [None] * len(events)
        start = threading.Barrier(len(events))

        def run(index: int) -> None:
            start.wait()
            try:
                # Straight to the runner: invoke() restores the environment, which would pull it from under
                # the other threads; it is restored once, below.
                outcomes[index] = lambda_runner.invoke("RotateFunction", events[index], self.env)
            except BaseException as exc:  # reported to the test
                outcomes[index] = exc
                on_error()

        saved = dict(os.environ)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=timeout)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return outcomes

    def scan(self, **event: Any) -> dict[str, Any]:
        return self.invoke("ScanFunction", event or json.loads((EVENTS / "scheduled.json").read_text()))

    def rotate_raw(self, event: Any) -> Any:
        return self.invoke("RotateFunction", event)

    def rotate(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.invoke("RotateFunction", {"certificate_name": name, **fields})

    def receive(self) -> list[dict[str, Any]]:
        """Every message waiting on the rotation queue, as Lambda's SQS event records. Received and deleted as
        Lambda's poller does, with the rotate function's role (its policy names this queue only)."""
        self.stack.iam.deploy_central(self.env)
        poller = self.stack.client_as("RotateFunction", "sqs")
        records = []
        while True:
            response = poller.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                return records
            for message in messages:
                records.append(lambda_runner.sqs_record(message, self.queue_url))
                poller.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def rotate_from_queue(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self.invoke("RotateFunction", {"Records": records})

    # -- building ------------------------------------------------------------------------------------------

    def seed(self, name: str, names: list[str], days_left: float, **kwargs: Any) -> dict[str, Any]:
        return fixtures.seed_certificate(self.iam, name, names, days_left, **kwargs)

    def certificates(self) -> dict[str, dict[str, Any]]:
        listed = self.iam.list_server_certificates()["ServerCertificateMetadataList"]
        return {c["ServerCertificateName"]: c for c in listed}

    def tags(self, name: str) -> dict[str, str]:
        return {
            t["Key"]: t["Value"]
            for t in self.iam.list_server_certificate_tags(ServerCertificateName=name)["Tags"]
        }

    def listener_certificates(self, listener_arn: str, client: Any = None) -> tuple[str | None, list[str]]:
        certs = (client or self.elbv2).describe_listener_certificates(ListenerArn=listener_arn)[
            "Certificates"
        ]
        default = next((c["CertificateArn"] for c in certs if c.get("IsDefault")), None)
        return default, sorted(c["CertificateArn"] for c in certs if not c.get("IsDefault"))

    def txt_records(self) -> list[dict[str, Any]]:
        sets = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return [s for s in sets if s["Type"] == "TXT"]

    def leases(self) -> list[dict[str, Any]]:
        """Every lease in the lease table (held, or left by a run that died): not the scan index, progress
        records or any other item whose key starts with "#" (no certificate name does)."""
        return [i for i in self._table_items() if not i["certificate"]["S"].startswith("#")]

    def progress_records(self) -> dict[str, dict[str, Any]]:
        """Rotations' progress records, by key (`#progress:<lease key>`)."""
        return {
            i["certificate"]["S"]: i
            for i in self._table_items()
            if i["certificate"]["S"].startswith(PROGRESS_KEY_PREFIX)
        }

    def table_items(self, prefix: str) -> list[dict[str, Any]]:
        """The lease table's items whose key starts with `prefix` (e.g. "#challenges:")."""
        return [i for i in self._table_items() if i["certificate"]["S"].startswith(prefix)]

    def scan_index_items(self) -> list[dict[str, Any]]:
        """The scan index's items in the lease table (one per account scanned)."""
        return [i for i in self._table_items() if i["certificate"]["S"].startswith(INDEX_KEY_PREFIX)]

    def _table_items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.lease_table, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]

    def snapshot(self) -> dict[str, Any]:
        """Everything a rotation could change, to prove that something changed nothing."""
        certificates = {
            name: (meta["Arn"], meta["Expiration"].isoformat(), sorted(self.tags(name).items()))
            for name, meta in self.certificates().items()
        }
        listeners = {}
        for lb in self.elbv2.describe_load_balancers()["LoadBalancers"]:
            for listener in self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                listeners[listener["ListenerArn"]] = self.listener_certificates(listener["ListenerArn"])
        secrets = sorted(s["Name"] for s in self.secrets.list_secrets()["SecretList"])
        records = sorted(
            (s["Name"], s["Type"], json.dumps(s.get("ResourceRecords", [])))
            for s in self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        )
        queue = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return {
            "certificates": certificates,
            "listeners": listeners,
            "secrets": secrets,
            "leases": sorted(json.dumps(item, sort_keys=True) for item in self.leases()),
            "progress": sorted(json.dumps(item, sort_keys=True) for item in self.progress_records().values()),
            "records": records,
            "queued": queue["Attributes"]["ApproximateNumberOfMessages"],
        }


@pytest.fixture
def world(stack: LocalStack) -> World:
    stack.reset_aws()
    moto_fixes.set_enabled_regions(ENABLED_REGIONS)
    # IAM deletes a certificate even when it is still bound, as the DeleteServerCertificate reference warns
    # ELB may let happen: no test of retirement may pass because IAM said DeleteConflict.
    moto_fixes.set_iam_delete_conflict(False)
    wiring.reset()  # a new account: a warm container would not have cached another account's regions
    return World(stack)


class _CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def no_key_material_in_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Everything a test printed or logged (Powertools logs and metrics go to stdout) is scanned for keys."""
    # Powertools' handler keeps the stdout of the moment its logger was made (an earlier test's capture):
    # make it write to whatever stdout is when it writes.
    for handler in logging.getLogger("certrotate").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _CurrentStdout()  # not setStream: it flushes the old stream, maybe closed
    yield
    out, err = capfd.readouterr()
    for marker in KEY_MARKERS:
        assert marker not in out, f"key material ({marker}) reached stdout"
        assert marker not in err, f"key material ({marker}) reached stderr"
    # Hand the output back so pytest still shows it for failures.
    print(out, end="")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failure, attach the end of pebble's log: what the CA saw is half of any ACME story."""
    report = yield
    if report.failed and call.when == "call":
        running: LocalStack | None = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
        world_: World | None = item.funcargs.get("world") if hasattr(item, "funcargs") else None
        running = running or (world_.stack if world_ else None)
        if running is not None and running.pebble is not None:
            lines = running.pebble.log_path.read_text(errors="replace").splitlines()[-60:]
            report.sections.append(("pebble log (last 60 lines)", "\n".join(lines)))
    return report
