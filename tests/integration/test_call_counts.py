"""AWS call counts of a scan and of a rotation's listener lookup, at a scale that shows their shape.

Counts are exact and deterministic (the middleware of the local stack counts every call per action), so they
are asserted exactly: a change that adds calls per certificate or per load balancer fails here, and one that
removes calls must update the formula on purpose. Speed is never asserted (`make bench` measures it).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from certrotate.adapters.aws.iam import ROOM_RESERVE

from devstack import fixtures, lambda_runner, moto_fixes
from devstack.stack import LocalStack
from tests.integration.conftest import functions_env

N_CERTIFICATES = 250
N_LOAD_BALANCERS = 20
N_DUE = 12
N_MANAGED = sum(1 for i in range(N_CERTIFICATES) if i < N_DUE or i % 4 != 3)
# The first scan reads each managed certificate that is not due yet once, to learn its renewal time (the CA's
# ARI window, or its lifetime) and keep it in a tag; later scans read the tag.
N_LEARNT = N_MANAGED - N_DUE
ENABLED_REGIONS = ("us-east-1", "eu-west-1")  # the load balancers are in the first; the second is empty
# A search of every enabled region and CloudFront (the regions themselves cached per container).
# Lease-table items a rotation that orders reads besides the scan index: the DNS-01 values a dead run may
# have left (#challenges:<lease key>), a certificate issued but not stored yet (#issued:<lease key>), and,
# under the lease, its progress record (#progress:<lease key>: none there and nothing claimed before the
# lease prove the replacement's name still free, instead of an IAM read of it).
ROTATION_RECORDS_READ = 3
ONE_SEARCH = {
    ("elbv2", "DescribeLoadBalancers"): len(ENABLED_REGIONS),
    ("elbv2", "DescribeListeners"): N_LOAD_BALANCERS,
    ("elbv2", "DescribeListenerCertificates"): N_LOAD_BALANCERS,
    ("elb", "DescribeLoadBalancers"): len(ENABLED_REGIONS),
    ("cloudfront", "ListDistributions"): 1,
}
# The scan's ACM step: one ListCertificates page per region looked at (no ACM certificate here).
ACM_LISTING = {("acm", "ListCertificates"): len(ENABLED_REGIONS)}
IAM_PAGE = 100  # ListServerCertificates' default page size
SQS_BATCH = 10  # SendMessageBatch's limit


@pytest.fixture
def account(aws: LocalStack) -> Iterator[dict[str, Any]]:
    """N certificates (the first N_DUE managed and due, every fourth of the rest unmanaged) and L ALBs, each
    with one HTTPS listener whose default certificate is one of the first L certificates."""
    moto_fixes.set_server_certificate_quota(N_CERTIFICATES + 10)
    moto_fixes.set_enabled_regions(ENABLED_REGIONS)
    iam, elbv2, ec2 = aws.client("iam"), aws.client("elbv2"), aws.client("ec2")
    key = fixtures.generate_key("ec256")  # one key for all: the scan never looks at keys
    arns = []
    for i in range(N_CERTIFICATES):
        issued = fixtures.make_certificate([f"c{i}.example.com"], 5 if i < N_DUE else 60 + i, key=key)
        managed = i < N_DUE or i % 4 != 3
        upload: dict[str, Any] = {
            "ServerCertificateName": f"count-{i:04d}",
            "CertificateBody": issued.cert_pem,
            "PrivateKey": issued.key_pem,
            "CertificateChain": issued.chain_pem,
        }
        if managed:
            upload["Tags"] = [{"Key": fixtures.MANAGED_TAG, "Value": "true"}]
        arns.append(iam.upload_server_certificate(**upload)["ServerCertificateMetadata"]["Arn"])
    network = fixtures.create_vpc_with_subnets(ec2)
    listeners = [
        fixtures.create_alb_https_listener(elbv2, ec2, arn, name=f"count-{i}", network=network)
        for i, arn in enumerate(arns[:N_LOAD_BALANCERS])
    ]
    zone_id = fixtures.create_hosted_zone(aws.client("route53"), "example.com")
    env = functions_env(aws, RENEW_BEFORE_DAYS="30")
    # The functions' code, driven directly below, runs as the rotate function's role (as lambda_runner's
    # invocations do, each as its own).
    env |= {
        k: v for k, v in aws.iam.function_credentials("RotateFunction", env).items() if k.startswith("AWS_")
    }
    aws.calls.reset()
    with lambda_runner.lambda_environment(env):
        yield {"env": env, "arns": arns, "listeners": listeners, "zone_id": zone_id}


def test_a_scan_lists_pages_and_reads_only_the_tags_that_can_lead_to_action(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    env = account["env"]
    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)

    assert result["scanned"] == N_CERTIFICATES
    assert len(result["enqueued"]) == N_DUE
    pages = math.ceil(N_CERTIFICATES / IAM_PAGE)
    # One search of every region and CloudFront, for all the rotations it sends (each message says where
    # its certificate is served, so no rotation searches): 2L + pages per region, whatever K is.
    sends = {("sqs", "SendMessageBatch"): math.ceil(N_DUE / SQS_BATCH), **ONE_SEARCH}
    # Every scan also lists the ACM imported certificates of each region looked at (none here).
    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): pages,
        ("iam", "GetAccountSummary"): 1,
        # No scan index yet: every certificate's tags are read (IAM lists none with the certificates).
        ("dynamodb", "GetItem"): 1,
        ("iam", "ListServerCertificateTags"): N_CERTIFICATES,
        # Each managed certificate not due yet is read once, ever, to learn its renewal time.
        ("iam", "GetServerCertificate"): N_LEARNT,
        ("iam", "TagServerCertificate"): N_LEARNT,
        ("dynamodb", "PutItem"): 1,  # the index, for the next scan
        ("ec2", "DescribeRegions"): 1,  # the enabled regions, cached per container for a while
        **sends,
        **ACM_LISTING,
    }

    aws.calls.reset()
    assert len(lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)["enqueued"]) == N_DUE
    # Steady, K due: the tags of the K due ones only (decisions to act are made on tags read now). The index
    # keeps where the first scan's search saw each of them served: their rotations go out at once and check
    # those endpoints themselves, so this scan searches nowhere.
    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): pages,
        ("iam", "GetAccountSummary"): 1,
        ("dynamodb", "GetItem"): 1,
        ("iam", "ListServerCertificateTags"): N_DUE,
        ("dynamodb", "PutItem"): 1,  # when those were read
        ("sqs", "SendMessageBatch"): math.ceil(N_DUE / SQS_BATCH),
        **ACM_LISTING,
    }

    # The floor lowered: the K are no longer due. They are not read; their renewal time is learnt (the
    # certificate read once) and kept.
    env["RENEW_BEFORE_DAYS"] = "1"
    aws.calls.reset()
    assert lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)["expiring"] == []
    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): pages,
        ("iam", "GetAccountSummary"): 1,
        ("dynamodb", "GetItem"): 1,
        ("iam", "GetServerCertificate"): N_DUE,
        ("iam", "TagServerCertificate"): N_DUE,
        ("dynamodb", "PutItem"): 1,
        ("ec2", "DescribeRegions"): 1,  # new settings: the clients and their caches are built again
        **ACM_LISTING,
    }

    aws.calls.reset()
    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)
    # Steady, nothing due: the pages, the account summary and the index; no tag, nothing written. The ACM
    # step adds one ListCertificates page per region looked at (IAM's bound is about IAM certificates).
    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): pages,
        ("iam", "GetAccountSummary"): 1,
        ("dynamodb", "GetItem"): 1,
        **ACM_LISTING,
    }
    assert sum(aws.calls.snapshot().values()) - sum(ACM_LISTING.values()) <= pages + 5
    # Every certificate still has its days to expiry; the managed count comes from the kept tags.
    assert len(result["days_to_expiry"]) == N_CERTIFICATES and result["managed"] == N_MANAGED

    aws.calls.reset()
    lambda_runner.invoke("ScanFunction", {"refresh_tags": True}, env)
    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): pages,
        ("iam", "GetAccountSummary"): 1,
        ("dynamodb", "GetItem"): 1,
        ("iam", "ListServerCertificateTags"): N_CERTIFICATES,  # asked for: every tag, no certificate
        ("dynamodb", "PutItem"): 1,
        **ACM_LISTING,
    }


def test_a_scan_out_of_time_leaves_renewal_times_for_the_next_one(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    """A first scan of a large account must end within the timeout and keep its index: with too little time
    left it learns no renewal time (the lifetime rule decides meanwhile) and the next scan learns them."""
    env = account["env"]
    spec = lambda_runner.template().function("ScanFunction")
    short = lambda_runner.LambdaContext(spec)
    short._deadline -= spec.timeout - 100  # 100 s left: less than the scan keeps after learning

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env, context=short)

    assert len(result["enqueued"]) == N_DUE  # due by the lifetime rule, as ever
    assert any(f"{N_LEARNT} renewal time(s) left for the next scan" in note for note in result["notes"])
    snapshot = aws.calls.snapshot()
    assert ("iam", "GetServerCertificate") not in snapshot and ("iam", "TagServerCertificate") not in snapshot
    assert snapshot[("dynamodb", "PutItem")] == 1  # the index is kept: the tags read need not be read again

    aws.calls.reset()
    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)
    assert not any("left for the next scan" in note for note in result["notes"])
    snapshot = aws.calls.snapshot()
    assert snapshot[("iam", "GetServerCertificate")] == N_LEARNT
    assert snapshot[("iam", "ListServerCertificateTags")] == N_DUE  # the others' tags came from the index


def test_a_dry_run_scan_sends_nothing_and_keeps_no_index(aws: LocalStack, account: dict[str, Any]) -> None:
    lambda_runner.invoke("ScanFunction", {"dry_run": True}, account["env"])

    assert aws.calls.snapshot() == {
        ("iam", "ListServerCertificates"): math.ceil(N_CERTIFICATES / IAM_PAGE),
        ("dynamodb", "GetItem"): 1,
        ("iam", "ListServerCertificateTags"): N_CERTIFICATES,
        ("iam", "GetAccountSummary"): 1,
        ("iam", "GetServerCertificate"): N_LEARNT,  # read to decide, but no tag written
        ("ec2", "DescribeRegions"): 1,  # the regions whose ACM certificates are listed
        **ACM_LISTING,
    }


def test_the_listener_lookup_costs_one_call_per_load_balancer_and_per_secure_listener(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    from certrotate import wiring

    wiring.reset()
    wiring.refresh()
    survey = wiring.endpoints().discover(include_cloudfront=False)
    wiring.endpoints().discover(include_cloudfront=False)  # a warm container knows the regions

    assert len(survey.endpoints) == N_LOAD_BALANCERS and survey.unsearched == ()
    regions = len(ENABLED_REGIONS)
    assert aws.calls.snapshot() == {
        ("ec2", "DescribeRegions"): 1,  # the enabled regions, cached per container for a while
        ("elbv2", "DescribeLoadBalancers"): 2 * regions,  # one page (up to 400) per region and search
        ("elbv2", "DescribeListeners"): 2 * N_LOAD_BALANCERS,
        ("elbv2", "DescribeListenerCertificates"): 2 * N_LOAD_BALANCERS,  # one per HTTPS/TLS listener
        ("elb", "DescribeLoadBalancers"): 2 * regions,  # Classic: one page, no listener calls
    }


def test_a_rotation_looks_the_listeners_up_once(aws: LocalStack, account: dict[str, Any]) -> None:
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")

    result = lambda_runner.invoke("RotateFunction", {"certificate_name": "count-0000"}, account["env"])

    assert result["status"] == "rotated"
    counts = aws.calls.snapshot()
    elb_calls = {key: n for key, n in counts.items() if key[0] in ("elbv2", "elb")}
    assert elb_calls == {
        ("elbv2", "DescribeLoadBalancers"): len(ENABLED_REGIONS),
        ("elbv2", "DescribeListeners"): N_LOAD_BALANCERS,
        # The lookup; then, for the one listener that serves the certificate, a fresh read right before the
        # change and the read-back after it.
        ("elbv2", "DescribeListenerCertificates"): N_LOAD_BALANCERS + 2,
        ("elbv2", "ModifyListener"): 1,
        ("elb", "DescribeLoadBalancers"): len(ENABLED_REGIONS),
    }
    # DNS-01 for one name: the zones, one CREATE and one DELETE (no read: the set was new, and removal swaps
    # from what was written), and GetChange until INSYNC (the local stack answers PENDING once).
    assert {key: n for key, n in counts.items() if key[0] == "route53"} == {
        ("route53", "ListHostedZones"): 1,
        ("route53", "ChangeResourceRecordSets"): 2,
        ("route53", "GetChange"): 2,
    }


def test_a_warm_container_lists_the_zones_and_reads_the_quota_once_a_minute(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    """Route 53's 5 requests per second and IAM's rate are the fleet's: a container keeps the hosted-zone
    listing and the quota's reading a minute (the quota's while the room is plenty); an operator's forced
    rotation lists the zones afresh, and a quota nearly full is read before every order."""
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    # The first reading: room for 3 above what the fleet could upload in a minute.
    moto_fixes.set_server_certificate_quota(N_CERTIFICATES + ROOM_RESERVE + 3)

    def looks(certificate: str, **fields: Any) -> dict[tuple[str, str], int]:
        aws.calls.reset()
        event = {"certificate_name": certificate, **fields}
        assert lambda_runner.invoke("RotateFunction", event, account["env"])["status"] == "rotated"
        counts = aws.calls.snapshot()
        return {k: counts.get(k, 0) for k in (("route53", "ListHostedZones"), ("iam", "GetAccountSummary"))}

    assert looks("count-0000") == {("route53", "ListHostedZones"): 1, ("iam", "GetAccountSummary"): 1}
    assert looks("count-0001") == {("route53", "ListHostedZones"): 0, ("iam", "GetAccountSummary"): 0}
    assert looks("count-0002", force=True) == {
        ("route53", "ListHostedZones"): 1,
        ("iam", "GetAccountSummary"): 0,
    }
    # This container's three uploads counted: room for no more than the fleet could upload in a minute.
    assert looks("count-0003") == {("route53", "ListHostedZones"): 0, ("iam", "GetAccountSummary"): 1}
    assert looks("count-0004") == {("route53", "ListHostedZones"): 0, ("iam", "GetAccountSummary"): 1}


def test_a_rotation_sent_by_the_scan_searches_nowhere(aws: LocalStack, account: dict[str, Any]) -> None:
    """The scan's message says where the certificate is served: the rotation reads and changes that listener
    only (O(1) ELB calls instead of 2L + pages per region)."""
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    lambda_runner.invoke("ScanFunction", {"dry_run": False}, account["env"])
    sqs = aws.client("sqs")
    received = sqs.receive_message(
        QueueUrl=account["env"]["ROTATION_QUEUE_URL"], MaxNumberOfMessages=1, AttributeNames=["All"]
    )["Messages"][0]
    body = json.loads(received["Body"])
    assert body["certificate_name"] == "count-0000"
    assert [e["resource_id"] for e in body["endpoints"]["serving"]] == [account["listeners"][0].listener_arn]
    aws.calls.reset()

    response = lambda_runner.invoke(
        "RotateFunction",
        {"Records": [lambda_runner.sqs_record(received, account["env"]["ROTATION_QUEUE_URL"])]},
        account["env"],
    )

    assert response == {"batchItemFailures": []}
    counts = aws.calls.snapshot()
    assert {key: n for key, n in counts.items() if key[0] in ("elbv2", "elb", "ec2", "cloudfront")} == {
        # The listener's certificates read afresh right before the change, the change, the read-back after.
        ("elbv2", "DescribeListenerCertificates"): 2,
        ("elbv2", "ModifyListener"): 1,
    }


def _elb_and_search_calls(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {key: n for key, n in counts.items() if key[0] in ("elbv2", "elb", "ec2", "cloudfront")}


def test_a_direct_rotation_checks_where_the_scan_saw_it_and_searches_nowhere(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    """`{"certificate_name": ..., "force": true}` (by hand, or `certrotate rotate`): one read of the scan
    index for where the scan's last search saw the certificate served, each such endpoint read to check it,
    then the usual read, change and read-back; no search of every region (2L + pages per region)."""
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    env = account["env"]
    lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)  # 12 due: it searches, and records
    aws.calls.reset()

    # Managed, served by the 14th listener, not due: only forced.
    result = lambda_runner.invoke("RotateFunction", {"certificate_name": "count-0013", "force": True}, env)

    assert result["status"] == "rotated"
    counts = aws.calls.snapshot()
    assert _elb_and_search_calls(counts) == {
        # The check before ordering; then the fresh read right before the change and the read-back after.
        ("elbv2", "DescribeListenerCertificates"): 3,
        ("elbv2", "ModifyListener"): 1,
    }
    # The scan index, once; and the rotation's own records before it orders: the DNS-01 values a dead run may
    # have left (#challenges:) and a certificate kept unstored (#issued:).
    assert counts[("dynamodb", "GetItem")] == 1 + ROTATION_RECORDS_READ, "the scan index, once"
    assert any("from the scan index" in step for step in result["steps"])


def test_a_direct_rotation_searches_when_the_record_is_out_of_date_or_names_nothing(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    env = account["env"]
    lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)
    # After the scan's search, someone moves the 14th listener to another certificate: the check misses.
    aws.client("elbv2").modify_listener(
        ListenerArn=account["listeners"][13].listener_arn,
        Certificates=[{"CertificateArn": account["arns"][40]}],
    )
    aws.calls.reset()

    result = lambda_runner.invoke("RotateFunction", {"certificate_name": "count-0013", "force": True}, env)

    assert result["status"] == "rotated" and result["endpoints_changed"] == []
    search = {k: n for k, n in ONE_SEARCH.items() if k[0] != "cloudfront"}  # not a CloudFront certificate
    search[("elbv2", "DescribeListenerCertificates")] += 1  # the check that missed
    assert _elb_and_search_calls(counts := aws.calls.snapshot()) == {("ec2", "DescribeRegions"): 1, **search}
    assert counts[("dynamodb", "GetItem")] == 1 + ROTATION_RECORDS_READ

    # Served nowhere when the scan searched: a record of nothing confirms nothing (it may have been attached
    # since), so the rotation searches.
    aws.calls.reset()
    result = lambda_runner.invoke("RotateFunction", {"certificate_name": "count-0100", "force": True}, env)
    assert result["status"] == "rotated"
    search[("elbv2", "DescribeListenerCertificates")] -= 1
    assert _elb_and_search_calls(aws.calls.snapshot()) == search  # the regions are known: a warm container


def test_a_scan_sends_at_once_what_the_last_search_saw_and_those_rotations_search_nowhere(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    """A due certificate whose last search the index keeps (fresh, naming an endpoint) is sent before (here:
    without) a search of every region; its rotation reads the index and checks that endpoint itself."""
    if aws.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    env = account["env"]
    lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)  # no index yet: it searches
    sqs = aws.client("sqs")
    # Another queue for the second scan: FIFO deduplication would drop its messages (same day, 5 minutes).
    queue_url = sqs.create_queue(
        QueueName=f"count-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    env = {**env, "ROTATION_QUEUE_URL": queue_url}
    aws.calls.reset()

    result = lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)

    assert len(result["enqueued"]) == N_DUE
    # No search: every due one has a record (DescribeRegions: the new queue setting rebuilt the clients, and
    # the ACM step lists the regions it looks at).
    assert _elb_and_search_calls(aws.calls.snapshot()) == {("ec2", "DescribeRegions"): 1}
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"])
    message = received["Messages"][0]
    body = json.loads(message["Body"])
    assert body["certificate_name"] == "count-0000" and "endpoints" not in body
    aws.calls.reset()

    response = lambda_runner.invoke(
        "RotateFunction", {"Records": [lambda_runner.sqs_record(message, queue_url)]}, env
    )

    assert response == {"batchItemFailures": []}
    counts = aws.calls.snapshot()
    assert _elb_and_search_calls(counts) == {
        ("elbv2", "DescribeListenerCertificates"): 3,  # the check, the read before the change, the read-back
        ("elbv2", "ModifyListener"): 1,
    }
    assert counts[("dynamodb", "GetItem")] == 1 + ROTATION_RECORDS_READ


def test_the_renewal_info_recheck_costs_one_read_when_nothing_is_to_be_asked(
    aws: LocalStack, account: dict[str, Any]
) -> None:
    """The hourly `{"renewal_info_only": true}` works from the scan index alone: with no certificate whose
    Retry-After has passed it reads the index and nothing else, whatever N is (with k asked: + the CA's GETs,
    a renewal tag per changed answer, the sends and one index write; tests/e2e/test_acme2certifier.py)."""
    env = account["env"]
    lambda_runner.invoke("ScanFunction", {"dry_run": False}, env)
    aws.calls.reset()

    result = lambda_runner.invoke("ScanFunction", {"renewal_info_only": True}, env)

    assert result["scanned"] == N_CERTIFICATES and result["enqueued"] == []
    assert aws.calls.snapshot() == {("dynamodb", "GetItem"): 1}
