"""The local stack enforces the shipped IAM policies (template.yaml, member-role.yaml, operator-policy.yaml):
every test's functions run under them, and these tests show that it bites where AWS would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devstack import fixtures
from devstack.iam_enforcement import CENTRAL_ACCOUNT as CENTRAL
from devstack.iam_enforcement import TEMPLATE
from tests.e2e.conftest import World

MEMBER = "111111111111"
ELSEWHERE = "444444444444"


def _without_statement(tmp_path: Path, sid: str) -> Path:
    """template.yaml with one statement of a function's policy removed."""
    text = TEMPLATE.read_text()
    start = text.index(f"              - Sid: {sid}\n")
    end = text.index("              - ", start + 10)
    changed = tmp_path / "template.yaml"
    changed.write_text(text[:start] + text[end:])
    return changed


def _code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_the_same_rotation_with_one_needed_grant_removed_fails_with_access_denied(
    world: World, tmp_path: Path
) -> None:
    for name in ("kept", "refused"):
        old = world.seed(name, [f"{name}.example.com"], days_left=5)
        fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name=name)
    assert world.rotate("kept")["status"] == "rotated"

    world.stack.iam.template = _without_statement(tmp_path, "IamUploadManaged")
    with pytest.raises(Exception, match=r"AccessDenied") as raised:
        world.rotate("refused")
    assert "iam:UploadServerCertificate" in str(raised.value)
    assert not [n for n in world.certificates() if n.startswith("refused-cr")]


def test_functions_have_their_own_roles_and_nothing_beyond_them(world: World) -> None:
    world.stack.iam.deploy_central(world.env)
    scan_iam = world.stack.client_as("ScanFunction", "iam")
    scan_db = world.stack.client_as("ScanFunction", "dynamodb")
    rotate_db = world.stack.client_as("RotateFunction", "dynamodb")
    rotate_sqs = world.stack.client_as("RotateFunction", "sqs")
    body = fixtures.make_certificate(["x.example.com"], 30)

    # The scan uploads nothing (its map and its policy); a lease is the rotation's, the index the scan's.
    with pytest.raises(ClientError) as raised:
        scan_iam.upload_server_certificate(
            ServerCertificateName="x", CertificateBody=body.cert_pem, PrivateKey=body.key_pem
        )
    assert _code(raised.value) == "AccessDenied"
    with pytest.raises(ClientError) as raised:
        scan_db.put_item(TableName=world.lease_table, Item={"certificate": {"S": "web"}})
    assert _code(raised.value) == "AccessDeniedException"
    with pytest.raises(ClientError) as raised:
        rotate_db.put_item(TableName=world.lease_table, Item={"certificate": {"S": "#scan-index"}})
    assert _code(raised.value) == "AccessDeniedException"
    rotate_db.put_item(TableName=world.lease_table, Item={"certificate": {"S": "web"}})
    scan_db.put_item(TableName=world.lease_table, Item={"certificate": {"S": "#scan-index"}})

    # The rotation's poller: the rotation queue, and no other queue.
    other = world.sqs.create_queue(QueueName="someone-elses")["QueueUrl"]
    rotate_sqs.receive_message(QueueUrl=world.queue_url)
    with pytest.raises(ClientError) as raised:
        rotate_sqs.receive_message(QueueUrl=other)
    assert _code(raised.value) == "AccessDenied"


def test_a_key_nobody_issued_is_refused_as_aws_refuses_it(world: World) -> None:
    import boto3

    stranger = boto3.session.Session(
        aws_access_key_id="AKIAIDONOTEXIST00000", aws_secret_access_key="x", region_name=world.stack.region
    ).client("iam", endpoint_url=world.stack.endpoint_url)
    with pytest.raises(ClientError) as raised:
        stranger.list_server_certificates()
    assert _code(raised.value) == "InvalidClientTokenId"


@pytest.mark.parametrize("value", ["True", "TRUE", "true"])
def test_a_managed_tag_in_any_case_rotates_and_retires_under_the_policy(world: World, value: str) -> None:
    # Operators who tagged "True" before code and policy agreed: the code counts it, and so must the policy
    # (StringEqualsIgnoreCase): the old certificate is tagged, untagged and deleted through it.
    old = world.seed(
        "site", ["site.example.com"], days_left=5, managed=False, tags={"certrotate:managed": value}
    )
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    result = world.rotate("site")
    assert result["status"] == "rotated"
    new_arn = world.certificates()[result["new_certificate_name"]]["Arn"]
    assert world.listener_certificates(listener.listener_arn) == (new_arn, [])
    assert "site" not in world.certificates(), "retired: deleted through aws:ResourceTag/certrotate:managed"
    assert world.stack.iam.stats.denied == []


def test_the_scan_learns_renewal_times_of_a_certificate_tagged_true_in_capitals(world: World) -> None:
    world.seed("site", ["site.example.com"], days_left=60, managed=False, tags={"certrotate:managed": "True"})
    world.scan()
    assert "certrotate:renewal" in world.tags("site")
    assert world.stack.iam.stats.denied == []


# ------------------------------------------------------------------------------------------------
# Member accounts: each function assumes its own role, in the accounts configured only
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def member(world: World) -> World:
    fixtures.deploy_role(MEMBER, "OrganizationAccountAccessRole", "123456789012")
    fixtures.deploy_role(ELSEWHERE, "certrotate-member", "123456789012")  # trusts us, but is not managed
    world.stack.iam.deploy_member(MEMBER, "managed")
    world.env |= {"MANAGED_ACCOUNTS": MEMBER}
    world.stack.iam.deploy_central(world.env)
    return world


def _assume(world: World, who: str, arn: str) -> Any:
    return world.stack.client_as(who, "sts").assume_role(RoleArn=arn, RoleSessionName="certrotate")


def test_each_function_may_assume_its_own_member_role_only(member: World) -> None:
    scan_role = f"arn:aws:iam::{MEMBER}:role/certrotate-member-scan"
    rotate_role = f"arn:aws:iam::{MEMBER}:role/certrotate-member"
    assert _assume(member, "ScanFunction", scan_role)["Credentials"]["AccessKeyId"]
    assert _assume(member, "RotateFunction", rotate_role)["Credentials"]["AccessKeyId"]
    for who, arn, refused_by in (
        ("ScanFunction", rotate_role, "no identity-based policy"),  # its policy names <name>-scan only
        ("RotateFunction", scan_role, "no identity-based policy"),
    ):
        with pytest.raises(ClientError) as raised:
            _assume(member, who, arn)
        assert _code(raised.value) == "AccessDenied" and refused_by in str(raised.value)
    # An account that is not in MANAGED_ACCOUNTS, whatever its role trusts (aws:ResourceAccount).
    with pytest.raises(ClientError) as raised:
        _assume(member, "RotateFunction", f"arn:aws:iam::{ELSEWHERE}:role/certrotate-member")
    assert _code(raised.value) == "AccessDenied"


def test_the_member_scan_role_reads_and_retires_but_never_uploads(member: World) -> None:
    credentials = _assume(member, "ScanFunction", f"arn:aws:iam::{MEMBER}:role/certrotate-member-scan")
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=credentials["Credentials"]["AccessKeyId"],
        aws_secret_access_key=credentials["Credentials"]["SecretAccessKey"],
        aws_session_token=credentials["Credentials"]["SessionToken"],
        region_name=member.stack.region,
    )
    iam = session.client("iam", endpoint_url=member.stack.endpoint_url)
    assert iam.list_server_certificates()["ServerCertificateMetadataList"] == []
    body = fixtures.make_certificate(["x.example.com"], 30)
    with pytest.raises(ClientError) as raised:
        iam.upload_server_certificate(
            ServerCertificateName="x",
            CertificateBody=body.cert_pem,
            PrivateKey=body.key_pem,
            Tags=[{"Key": "certrotate:managed", "Value": "true"}],
        )
    assert _code(raised.value) == "AccessDenied"
    assert re.search(r"certrotate\.permissions lists no iam UploadServerCertificate", str(raised.value))


# ------------------------------------------------------------------------------------------------
# CloudFront with the endpoint check on: the distribution's address is read with cloudfront:GetDistribution
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def front() -> Any:
    from devstack.tls_front import TlsFront

    with TlsFront() as running:
        yield running


def test_the_endpoint_check_reaches_a_distribution_under_the_rotation_policy(
    world: World, front: Any
) -> None:
    old = world.seed("edge", ["edge.example.com"], days_left=5, path="/cloudfront/")
    fixtures.create_cloudfront_distribution(
        world.cloudfront, old["ServerCertificateId"], ["edge.example.com"]
    )
    front.sync()
    result = world.invoke(
        "RotateFunction",
        {"certificate_name": "edge"},
        CHECK_ENDPOINTS_AFTER_ROTATION="true",
        ENDPOINT_CHECK_CONNECT_TO=" ".join(front.connect_to()),
        RETIREMENT_GRACE_SECONDS="3600",
    )
    assert result["status"] == "rotated"
    new = result["new_certificate_name"]
    assert (
        f"checked over TLS: 1 endpoint(s) serve {new}, 0 serve something else, 0 unreachable"
        in result["steps"]
    )
    assert world.stack.iam.stats.denied == []


# ------------------------------------------------------------------------------------------------
# A customer managed key (KmsKeyArn): the functions use it as the caller, through the services
# ------------------------------------------------------------------------------------------------


def test_with_a_customer_managed_key_the_queue_is_used_through_the_key_grant(world: World) -> None:
    kms = world.stack.client("kms")
    key = kms.create_key(Description="certrotate")["KeyMetadata"]["Arn"]
    other = kms.create_key(Description="someone else's")["KeyMetadata"]["Arn"]
    encrypted = world.sqs.create_queue(
        QueueName="encrypted.fifo", Attributes={"FifoQueue": "true", "KmsMasterKeyId": key}
    )["QueueUrl"]
    world.env |= {"ROTATION_QUEUE_URL": encrypted}
    world.seed("site", ["site.example.com"], days_left=5)

    world.stack.iam.parameters["KmsKeyArn"] = (
        other  # the stack deployed with another key: no grant on this one
    )
    with pytest.raises(Exception, match="AccessDenied") as raised:
        world.scan()
    assert "kms:GenerateDataKey" in str(raised.value)

    world.stack.iam.parameters["KmsKeyArn"] = key
    assert world.scan()["enqueued"] == ["site"]
    world.queue_url = encrypted
    [record] = world.receive()  # the poller decrypts with the rotate function's role
    assert world.rotate_from_queue([record]) == {"batchItemFailures": []}


# --- the lease table's own policy: nobody but certrotate writes its record of what it did ------------------

_ANY_DYNAMODB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}


def _client_of_role(world: World, role_name: str, policy: dict[str, Any], service: str) -> Any:
    """A client with the credentials of a role of the functions' account holding `policy` (assumed through
    moto's STS, as a person or a pipeline with that role would)."""
    import boto3

    role_arn = fixtures.deploy_role(CENTRAL, role_name, CENTRAL, policy)
    credentials = world.stack.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="someone")[
        "Credentials"
    ]
    return boto3.client(
        service,
        endpoint_url=world.env["AWS_ENDPOINT_URL"],
        region_name=world.env["AWS_REGION"],
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _forged_progress(table: str) -> dict[str, Any]:
    # What would turn a forged certrotate:replaced-by into a proof (adapters/lease_table/progress.py).
    return {
        "TableName": table,
        "Item": {"certificate": {"S": "#progress:web"}, "replacement": {"S": "web-cr-attacker"}},
    }


def test_a_principal_allowed_dynamodb_star_cannot_write_the_lease_table(world: World, tmp_path: Path) -> None:
    world.stack.iam.deploy_central(world.env)
    power_user = _client_of_role(world, "power-user", _ANY_DYNAMODB, "dynamodb")

    table = world.lease_table
    for write in (
        lambda: power_user.put_item(**_forged_progress(table)),
        lambda: power_user.put_item(TableName=table, Item={"certificate": {"S": "web"}}),
        lambda: power_user.put_item(TableName=table, Item={"certificate": {"S": "#acme-account"}}),
        lambda: power_user.update_item(TableName=table, Key={"certificate": {"S": "#scan-index"}}),
        lambda: power_user.delete_item(TableName=table, Key={"certificate": {"S": "web"}}),
    ):
        with pytest.raises(ClientError) as raised:
            write()
        assert _code(raised.value) == "AccessDeniedException"
        assert "explicit deny in a resource-based policy" in str(raised.value)
    assert world.table_items("") == []
    # Reads are the identity policies' to grant: the table's policy guards writes only.
    power_user.get_item(TableName=world.lease_table, Key={"certificate": {"S": "#progress:web"}})

    # The same identity policy is enough when the table has no policy of its own: the table's is what bites.
    text = TEMPLATE.read_text()
    start = text.index("      ResourcePolicy:\n")
    end = text.index("\n  # Created without a value", start)
    changed = tmp_path / "template.yaml"
    changed.write_text(text[:start] + text[end + 1 :])
    world.stack.iam.template = changed
    world.stack.iam.deploy_central(world.env)
    power_user.put_item(**_forged_progress(world.lease_table))
    assert world.table_items("#progress:web")


def test_the_operator_and_break_glass_write_the_lease_table_only_as_the_stack_allows(world: World) -> None:
    world.stack.iam.deploy_central(world.env)
    operator = world.stack.client_as("operator", "dynamodb")
    with pytest.raises(ClientError) as raised:
        operator.put_item(**_forged_progress(world.lease_table))
    assert _code(raised.value) == "AccessDeniedException"

    # Break-glass holds the rotate function's policies; the devstack deploys with LeaseTableOperatorArn naming
    # it (docs/deploy.md), so `rotate --local` may take a lease. Without that parameter it may not.
    break_glass = world.stack.client_as("break-glass", "dynamodb")
    break_glass.put_item(TableName=world.lease_table, Item={"certificate": {"S": "web"}})
    world.stack.iam.parameters["LeaseTableOperatorArn"] = ""
    world.stack.iam.deploy_central(world.env)
    with pytest.raises(ClientError) as raised:
        break_glass.put_item(TableName=world.lease_table, Item={"certificate": {"S": "other"}})
    assert "explicit deny in a resource-based policy" in str(raised.value)


def test_rotations_still_write_their_records_under_the_table_policy(world: World) -> None:
    world.stack.iam.deploy_central(world.env)
    assert world.stack.iam.table_policy(
        f"arn:aws:dynamodb:{world.env['AWS_REGION']}:{CENTRAL}:table/{world.lease_table}"
    ), "the lease table's policy is in force"
    old = world.seed("web", ["web.example.com"], days_left=5)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"], name="web")
    # Kept an hour before retirement: its progress record stays, for the scan to prove the claim with.
    result = world.invoke("RotateFunction", {"certificate_name": "web"}, RETIREMENT_GRACE_SECONDS="3600")
    assert result["status"] == "rotated"
    assert world.table_items("#progress:web")  # written by the rotate function's role
    assert world.scan()["scanned"] >= 1
    assert world.scan_index_items()  # written by the scan function's role
    assert not [d for d in world.stack.iam.stats.denied if "resource-based" in d]
