"""`make demo`: the main job on a local stack, step by step.

A real ACME CA (pebble), fake AWS (moto server with fidelity fixes) and a DNS server fed from Route 53.
One managed certificate, 12 days from expiry, is served by an ALB (default), another ALB's SNI list, an NLB,
a Classic Load Balancer and an ALB in a second region. The scheduled scan finds it, the rotation replaces it
everywhere, and a later scan retires the old one. Then: the metrics and events that were emitted, and the
operator's command line: `certrotate status`, `certrotate verify` shaking hands with every listener, and
`certrotate doctor`, the preflight an operator runs after a deploy (exit 0: nothing would stop a rotation).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "certrotate")]

from devstack import ca_limits, fixtures, lambda_runner  # noqa: E402
from devstack.stack import LocalStack  # noqa: E402

NAME = "shop-example-com"
NAMES = ["example.com", "*.example.com", "shop.example.com"]
SECOND_REGION = "eu-west-1"
BOLD, DIM, GREEN, CYAN, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[36m", "\033[0m") if sys.stdout.isatty() else ("",) * 5
)


def step(text: str) -> None:
    print(f"\n{BOLD}{CYAN}==> {text}{RESET}", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """The functions' own output (JSON logs, EMF metrics) goes to a file, not the screen; lines are kept."""
    lines: list[str] = []
    sys.stdout.flush()
    with tempfile.TemporaryFile(mode="w+") as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().splitlines())


def days(expiration: Any) -> str:
    return f"{(expiration.timestamp() - time.time()) / 86400:.1f} days"


def short(arn: str | None) -> str:
    return (arn or "-").rsplit("/", 1)[-1]


def main() -> int:
    emitted: list[str] = []
    step("Starting the local stack")
    with LocalStack(certificate_validity_period=90 * 86400) as stack:  # as long as Let's Encrypt's
        say(f"fake AWS (moto server)   {stack.endpoint_url}")
        say(f"ACME CA (pebble)         {stack.acme_directory_url}")
        say(f"DNS from Route 53        {stack.dns_server}  (pebble validates DNS-01 here)")
        iam, r53, sqs = stack.client("iam"), stack.client("route53"), stack.client("sqs")
        events_client = stack.client("events")
        queue_url = sqs.create_queue(
            QueueName="certrotate-rotation.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "0"}
        )["QueueUrl"]
        events_queue = sqs.create_queue(QueueName="certrotate-events")["QueueUrl"]
        events_arn = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events_client.put_rule(Name="certrotate-events", EventPattern=json.dumps({"source": ["certrotate"]}))
        events_client.put_targets(Rule="certrotate-events", Targets=[{"Id": "q", "Arn": events_arn}])
        env = {
            **stack.env(),
            "ACME_ACCOUNT_SECRET_ID": "certrotate/acme-account",
            "LEASE_TABLE_NAME": fixtures.create_lease_table(stack.client("dynamodb")),
            "ACME_EMAIL": "ops@example.com",
            "ROTATION_QUEUE_URL": queue_url,
            "LOAD_BALANCER_REGIONS": f"{stack.region},{SECOND_REGION}",
            "RETIREMENT_GRACE_SECONDS": "3600",
            "RENEW_BEFORE_DAYS": "30",  # the seeded certificates are an hour old: the floor makes them due
            "POWERTOOLS_SERVICE_NAME": "certrotate",
        }

        step("An account whose certificate is about to expire")
        zone_id = fixtures.create_hosted_zone(r53, "example.com")
        caa = f'0 issue "{ca_limits.CAA_IDENTITY}"'
        fixtures.create_record_set(r53, zone_id, "example.com", "CAA", [caa])
        say(f'Route 53 hosted zone example.com, CAA 0 issue "{ca_limits.CAA_IDENTITY}" (the local CA)')
        old = fixtures.seed_certificate(iam, NAME, NAMES, days_left=12, path="/web/")
        fixtures.seed_certificate(
            iam, "legacy-unmanaged", ["legacy.example.com"], days_left=200, managed=False
        )
        say(
            f"IAM certificate {NAME} ({', '.join(NAMES)}), tagged certrotate:managed=true, "
            f"expires in {days(old['Expiration'])}"
        )
        say("IAM certificate legacy-unmanaged (not tagged: reported, never changed)")
        other = fixtures.seed_certificate(
            iam, "other-site", ["other.example.org"], days_left=300, managed=False
        )
        ec2, elbv2, elb = stack.client("ec2"), stack.client("elbv2"), stack.client("elb")
        places: list[tuple[str, Any]] = []
        alb = fixtures.create_alb_https_listener(elbv2, ec2, old["Arn"], name="shop-alb")
        places.append(("ALB shop-alb :443 (default certificate)", ("v2", elbv2, alb.listener_arn)))
        sni = fixtures.create_alb_https_listener(
            elbv2, ec2, other["Arn"], sni_certificate_arns=[old["Arn"]], name="shared-alb"
        )
        places.append(("ALB shared-alb :443 (SNI list, beside other-site)", ("v2", elbv2, sni.listener_arn)))
        nlb = fixtures.create_nlb_tls_listener(elbv2, ec2, old["Arn"], name="shop-nlb")
        places.append(("NLB shop-nlb TLS (default certificate)", ("v2", elbv2, nlb.listener_arn)))
        classic = fixtures.create_classic_https_listener(elb, ec2, old["Arn"], name="shop-classic")
        places.append(("Classic LB shop-classic :443", ("classic", elb, classic)))
        ec2_2, elbv2_2 = stack.client("ec2", SECOND_REGION), stack.client("elbv2", SECOND_REGION)
        far = fixtures.create_alb_https_listener(elbv2_2, ec2_2, old["Arn"], name="shop-alb-eu")
        places.append((f"ALB shop-alb-eu :443 in {SECOND_REGION}", ("v2", elbv2_2, far.listener_arn)))

        def show_places() -> None:
            for label, (kind, client, ref) in places:
                if kind == "v2":
                    certs = client.describe_listener_certificates(ListenerArn=ref)["Certificates"]
                    default = next(short(c["CertificateArn"]) for c in certs if c.get("IsDefault"))
                    sni_list = [short(c["CertificateArn"]) for c in certs if not c.get("IsDefault")]
                    served = default + (f"  SNI: {', '.join(sni_list)}" if sni_list else "")
                else:
                    lb = client.describe_load_balancers(LoadBalancerNames=[ref.load_balancer_name])
                    served = short(
                        lb["LoadBalancerDescriptions"][0]["ListenerDescriptions"][0]["Listener"][
                            "SSLCertificateId"
                        ]
                    )
                say(f"{label:<52} serves {served}")

        show_places()

        step("Scheduled scan (ScanFunction, events/scheduled.json)")
        scheduled = json.loads((ROOT / "events" / "scheduled.json").read_text())
        with captured() as out:
            scan = lambda_runner.invoke("ScanFunction", scheduled, env)
        emitted += out
        for name, left in sorted(scan["days_to_expiry"].items()):
            say(f"{name:<24} {left:>7.1f} days to expiry")
        say(f"scanned {scan['scanned']}, expiring {scan['expiring']}, enqueued {scan['enqueued']}")

        step("Rotation (RotateFunction, fed by the FIFO queue)")
        # Lambda's poller receives with the rotate function's role (the local stack enforces the shipped
        # policies on every call: each function runs as its own role, as deployed).
        poller = stack.client_as("RotateFunction", "sqs")
        messages = poller.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])[
            "Messages"
        ]
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "MessageGroupId": m["Attributes"].get("MessageGroupId", ""),
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "demo",
                    "ApproximateFirstReceiveTimestamp": "0",
                    "MessageDeduplicationId": m["Attributes"].get("MessageDeduplicationId", ""),
                    "SequenceNumber": m["Attributes"].get("SequenceNumber", "1"),
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:certrotate-rotation.fifo",
                "awsRegion": stack.region,
            }
            for m in messages
        ]
        say(f"{len(records)} message(s) on the queue: {[json.loads(r['body']) for r in records]}")
        started = time.monotonic()
        with captured() as out:
            batch = lambda_runner.invoke("RotateFunction", {"Records": records}, env)
        emitted += out
        say(f"batch result {batch}  ({time.monotonic() - started:.1f} s)")
        result = next(json.loads(line)["result"] for line in out if '"rotation finished"' in line)
        for line in result["steps"]:
            say(f"{GREEN}✓{RESET} {line}")
        new_name = result["new_certificate_name"]
        new = iam.get_server_certificate(ServerCertificateName=new_name)["ServerCertificate"]
        say(
            f"{new_name}: expires in {days(new['ServerCertificateMetadata']['Expiration'])}, "
            f"path {new['ServerCertificateMetadata']['Path']}"
        )

        step("Where the certificate is served now")
        show_places()
        txt = [
            s
            for s in r53.list_resource_record_sets(HostedZoneId=fixtures_zone(r53))["ResourceRecordSets"]
            if s["Type"] == "TXT"
        ]
        say(f"DNS-01 TXT records left in Route 53: {len(txt)}")
        tags = {
            t["Key"]: t["Value"] for t in iam.list_server_certificate_tags(ServerCertificateName=NAME)["Tags"]
        }
        say(
            f"{NAME} kept for a grace period of 1 hour, "
            f"tagged replaced-by={tags.get('certrotate:replaced-by')}"
        )

        step("A later scan, once the grace period has passed, retires the old certificate")
        with captured() as out:
            later = lambda_runner.invoke("ScanFunction", scheduled, {**env, "RETIREMENT_GRACE_SECONDS": "0"})
        emitted += out
        say(
            f"retired {later['retired']}; expiring {later['expiring']}; "
            f"certificates left: {sorted(later['days_to_expiry'])}"
        )
        remaining = [
            c["ServerCertificateName"]
            for c in iam.list_server_certificates()["ServerCertificateMetadataList"]
        ]
        say(f"IAM now holds {sorted(remaining)}")

        step("What was emitted")
        metrics: dict[str, list[float]] = {}
        for line in emitted:
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "_aws" not in doc:
                continue
            for definition in doc["_aws"]["CloudWatchMetrics"]:
                for metric in definition["Metrics"]:
                    value = doc[metric["Name"]]
                    label = metric["Name"] + (
                        f"[{doc['CertificateName']}]" if "CertificateName" in doc else ""
                    )
                    metrics.setdefault(label, []).extend(value if isinstance(value, list) else [value])
        for label, values in sorted(metrics.items()):
            say(f"metric {label:<44} {values}")
        received = sqs.receive_message(QueueUrl=events_queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in received:
            event = json.loads(message["Body"])
            detail = event.get("detail", {})
            say(
                f"event  {event.get('detail-type'):<34} {detail.get('certificate_name')}"
                f" -> {detail.get('new_certificate_name') or detail.get('replaced_by') or ''}"
            )
        operator_view(stack, env)
        step(f"{GREEN}Done: {NAME} was rotated on {len(places)} listeners and retired.{RESET}")
    return 0


def operator_view(stack: LocalStack, env: dict[str, str]) -> None:
    """The operator's command line on the same account: `certrotate status`, then `certrotate verify`, a TLS
    handshake with every listener under its DNS name (the devstack's TLS front serves what moto holds), then
    `certrotate doctor` (the deployed roles simulated against the calls the code makes, the CA, every name's
    zone and CAA, quotas), asking the devstack's DNS server for CAA."""
    from certrotate_cli.main import run
    from devstack import deployed
    from devstack.tls_front import TlsFront

    saved = dict(os.environ)
    os.environ.update(env)
    # The stack as `sam deploy` leaves it: the command line reads the functions' settings from it.
    settings = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    deployed.deploy(
        stack.client("cloudformation"), settings, {k: v for k, v in env.items() if k.startswith("AWS_")}
    )
    try:
        with TlsFront() as front:
            step("The operator's view: certrotate status")
            run(["status"])
            step("What clients get: certrotate verify (a TLS handshake with every listener, by name)")
            rules = [arg for rule in front.connect_to() for arg in ("--connect-to", rule)]
            code = run(["verify", *rules])
            if code != 0:
                raise SystemExit("a listener does not serve what IAM says")
            step("Before the next expiry: certrotate doctor (read-only preflight)")
            code = run(["doctor", "--dns-server", str(stack.dns_server)])
            if code != 0:
                raise SystemExit("doctor found something that would stop a rotation")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def fixtures_zone(route53: Any) -> str:
    return str(route53.list_hosted_zones()["HostedZones"][0]["Id"].rsplit("/", 1)[-1])


if __name__ == "__main__":
    sys.exit(main())
