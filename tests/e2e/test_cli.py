"""The operator's command line against the local stack: what `status`, `plan`, `verify` and `rotate` print
(table and JSON), their exit codes, and that the read-only ones change nothing. `verify` and the rotation's
post-repoint check shake hands with the devstack's TLS front, which serves what moto's listeners hold."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certrotate_cli.main import run
from devstack import deployed, fixtures
from devstack.stack import IDENTITIES, LocalStack
from devstack.tls_front import TlsFront
from tests.e2e.conftest import SECOND_REGION, World


@pytest.fixture(scope="session")
def front(stack: LocalStack) -> Iterator[TlsFront]:
    with TlsFront() as running:
        yield running


class Cli:
    def __init__(self, world: World, front: TlsFront, monkeypatch: pytest.MonkeyPatch) -> None:
        self.world = world
        self.front = front
        self.monkeypatch = monkeypatch
        for key, value in world.env.items():  # the operator's credentials (operator-policy.yaml)
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("COLUMNS", "220")
        world.stack.iam.deploy_central(world.env)

    def run_as(self, who: str) -> None:
        """The command line with the credentials of `who` (devstack.stack.IDENTITIES): "break-glass" is the
        operator allowed what the rotate function may do, as `rotate --local` and `rollback --local` need
        (docs/deploy.md, "Operators")."""
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", IDENTITIES[who])

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str]:
        out = io.StringIO()
        code = run([*argv], stdout=out, stdin=io.StringIO(stdin))
        return code, out.getvalue()

    def json(self, *argv: str) -> tuple[int, Any]:
        code, text = self(*argv, "--json")
        return code, json.loads(text)

    def connect_to(self) -> list[str]:
        return [arg for rule in self.front.connect_to() for arg in ("--connect-to", rule)]


@pytest.fixture
def cli(world: World, front: TlsFront, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(world, front, monkeypatch)


def build_account(world: World) -> dict[str, Any]:
    shop = world.seed("shop", ["example.com", "*.example.com"], days_left=12, path="/web/")
    legacy = world.seed("legacy", ["legacy.example.com"], days_left=10, managed=False)
    world.seed("far", ["far.example.com"], days_left=200)
    # Within the week a CA's Retry-After is kept at most (a later one is ignored as no CA's answer).
    retry_after = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    world.seed("held", ["held.example.com"], days_left=5, tags={"certrotate:retry-after": retry_after})
    ec2, elbv2 = world.ec2, world.elbv2
    fixtures.create_alb_https_listener(elbv2, ec2, shop["Arn"], name="shop-alb")
    fixtures.create_alb_https_listener(
        elbv2, ec2, legacy["Arn"], sni_certificate_arns=[shop["Arn"]], name="shared"
    )
    fixtures.create_nlb_tls_listener(elbv2, ec2, shop["Arn"], name="shop-nlb", port=8443)
    fixtures.create_classic_https_listener(world.elb, ec2, shop["Arn"], name="shop-classic")
    far_ec2 = world.stack.client("ec2", SECOND_REGION)
    far_elbv2 = world.stack.client("elbv2", SECOND_REGION)
    fixtures.create_alb_https_listener(far_elbv2, far_ec2, shop["Arn"], name="shop-west")
    return shop


def test_status_lists_every_certificate_with_its_decision_and_endpoints_and_changes_nothing(
    world: World, cli: Cli
) -> None:
    build_account(world)
    before = world.snapshot()
    # No stack deployed: the contract's defaults, with the operator's floor given (RENEW_BEFORE_DAYS is unset
    # by default, and the seeded certificates, an hour old, would be due by the lifetime rule only later).
    regions = ("--regions", f"us-east-1,{SECOND_REGION}", "--renew-before-days", "30")

    code, document = cli.json("status", *regions)

    assert code == 1  # legacy and held need a person
    rows = {c["name"]: c for c in document["certificates"]}
    assert [c["name"] for c in document["certificates"]] == ["held", "legacy", "shop", "far"]  # by expiry
    shop = rows["shop"]
    assert shop["dns_names"] == ["example.com", "*.example.com"]
    assert shop["managed"] is True and shop["path"] == "/web/"
    assert 11.9 < shop["days_to_expiry"] <= 12
    assert shop["decision"] == {
        "verdict": "issue",
        "reason": "expires in 12.0 days (threshold 30)",
        "source": "RENEW_BEFORE_DAYS=30",
    }
    served = sorted(
        (e["kind"], e["load_balancer"], e["region"], e["role"], e["address"]) for e in shop["endpoints"]
    )
    assert served == [
        ("alb", "shared", "us-east-1", "sni", "shared-1.us-east-1.elb.amazonaws.com:443"),
        ("alb", "shop-alb", "us-east-1", "default", "shop-alb-1.us-east-1.elb.amazonaws.com:443"),
        ("alb", "shop-west", SECOND_REGION, "default", f"shop-west-1.{SECOND_REGION}.elb.amazonaws.com:443"),
        ("classic", "shop-classic", "us-east-1", "default", "shop-classic.us-east-1.elb.amazonaws.com:443"),
        ("nlb", "shop-nlb", "us-east-1", "default", "shop-nlb-1.us-east-1.elb.amazonaws.com:8443"),
    ]
    assert shop["needs_attention"] == []
    assert rows["legacy"]["decision"] is None
    assert rows["legacy"]["needs_attention"] == ["expires in 10 days and is not managed"]
    assert rows["held"]["decision"]["verdict"] == "rate-limited"
    assert rows["held"]["decision"]["source"] == "CA retry-after"
    asked = world.tags("held")["certrotate:retry-after"]
    assert rows["held"]["held_back"] == f"the ACME CA asked not to order again before {asked}"
    assert rows["far"]["decision"]["verdict"] == "not-due" and rows["far"]["endpoints"] == []
    assert document["needs_attention"] == ["held", "legacy"]
    assert document["settings"]["renew_before_days"] == 30

    code, table = cli("status", *regions, "--no-color")
    assert code == 1
    lines = table.splitlines()
    shop_line = next(line for line in lines if " shop " in line)
    assert "example.com" in shop_line and "12.0" in shop_line and "yes" in shop_line and "rotate" in shop_line
    assert "alb shop-alb:443 default us-east-1" in table
    assert f"alb shop-west:443 default {SECOND_REGION}" in table
    assert "nlb shop-nlb:8443 default us-east-1" in table
    assert "alb shared:443 sni us-east-1" in table
    assert "RENEW_BEFORE_DAYS=30" in table and "CA retry-after" in table
    assert "! legacy: expires in 10 days and is not managed" in table
    assert "! held: held back: the ACME CA asked not to order again" in table
    assert "\x1b[" not in table  # --no-color

    assert world.snapshot() == before


def test_status_exits_zero_when_nothing_needs_a_person(world: World, cli: Cli) -> None:
    world.seed("fine", ["fine.example.com"], days_left=200)
    world.seed("theirs", ["theirs.example.com"], days_left=300, managed=False)
    code, table = cli("status", "--no-color")
    assert code == 0
    assert "nothing needs a person" in table


def test_plan_says_what_the_next_scan_and_rotation_would_do_and_changes_nothing(
    world: World, cli: Cli
) -> None:
    build_account(world)
    before = world.snapshot()

    code, document = cli.json("plan", "--renew-before-days", "30")  # the floor, as in the status test
    assert code == 0
    assert document["scan"]["enqueue"] == ["shop"]
    assert document["scan"]["held_back"] == ["held"]
    assert document["unmanaged"] == ["legacy"]
    [rotation] = [r for r in document["rotations"] if r["certificate_name"] == "shop"]
    assert rotation["verdict"] == "issue"
    assert rotation["order"] == {
        "dns_names": ["example.com", "*.example.com"],
        "key": "RSA 2048",
        "refused": None,
        "challenges": [
            "example.com by dns-01 on Route 53 zone example.com",
            "*.example.com by dns-01 on Route 53 zone example.com",
        ],
    }
    new = rotation["replacement_name"]
    assert new.startswith("shop-cr")
    changes = sorted(rotation["endpoint_changes"])
    # Every enabled region is searched (the deployed settings name none): shop-west's listener too.
    assert len(changes) == 6
    assert any(f"({SECOND_REGION}): set-default {new}" in c for c in changes)
    assert any(c.startswith("alb shared ") and c.endswith(f"add-sni {new}") for c in changes)
    assert any(c.startswith("alb shared ") and c.endswith("remove-sni shop") for c in changes)
    assert any(c.startswith("classic shop-classic ") and c.endswith(f"set-default {new}") for c in changes)

    code, text = cli("plan", "shop", "--renew-before-days", "30", "--no-color")
    assert code == 0
    assert "Rotation of shop: issue" in text
    assert "order: example.com, *.example.com with an RSA 2048 key" in text
    assert "validate: *.example.com by dns-01 on Route 53 zone example.com" in text
    assert f"upload as: {new}" in text

    code, _ = cli("plan", "nope")
    assert code == 2
    assert world.snapshot() == before


def test_verify_shakes_hands_with_every_endpoint_and_reports_a_listener_still_serving_the_old_certificate(
    world: World, cli: Cli, front: TlsFront, capfd: pytest.CaptureFixture[str]
) -> None:
    shop = world.seed("shop", ["example.com", "*.example.com"], days_left=12)
    other = world.seed("other", ["other.example.org"], days_left=200, managed=False)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    shared = fixtures.create_alb_https_listener(
        world.elbv2, world.ec2, other["Arn"], sni_certificate_arns=[shop["Arn"]], name="shared"
    )
    fixtures.create_classic_https_listener(world.elb, world.ec2, shop["Arn"], name="shop-classic")

    code, document = cli.json("verify", "shop", *cli.connect_to())
    assert code == 0
    results = document["results"]
    assert len(results) == 6  # 3 endpoints x (example.com, a name under *.example.com)
    assert {r["status"] for r in results} == {"ok"}
    assert {r["server_name"] for r in results} == {"example.com", "certrotate-verify.example.com"}

    # One load balancer node has not picked up the change when the rotation repoints it.
    shared_host = world.elbv2.describe_load_balancers(LoadBalancerArns=[shared.load_balancer_arn])[
        "LoadBalancers"
    ][0]["DNSName"]
    front.freeze(shared_host, 443)
    try:
        rules = " ".join(front.connect_to())
        result = world.invoke(
            "RotateFunction",
            {"certificate_name": "shop"},
            CHECK_ENDPOINTS_AFTER_ROTATION="true",
            ENDPOINT_CHECK_CONNECT_TO=rules,
            RETIREMENT_GRACE_SECONDS="3600",  # shop stays in IAM, so what is served can be named
        )
        assert result["status"] == "rotated"
        new = result["new_certificate_name"]
        assert (
            f"checked over TLS: 2 endpoint(s) serve {new}, 1 serve something else, 0 unreachable"
            in result["steps"]
        )
        out, err = capfd.readouterr()
        metrics = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
        assert any(
            m.get("EndpointMismatches") == [1.0] or m.get("EndpointMismatches") == 1.0 for m in metrics
        )
        assert any(m.get("EndpointsVerified") in (2.0, [2.0]) for m in metrics)
        assert "endpoint does not serve the new certificate yet" in out
        print(out, end="")
        print(err, end="", file=sys.stderr)

        code, document = cli.json("verify", new, *cli.connect_to())
        assert code == 1
        wrong = [r for r in document["results"] if r["status"] != "ok"]
        assert {r["status"] for r in wrong} == {"wrong-certificate"}
        assert {r["address"] for r in wrong} == {f"{shared_host}:443"}
        assert {r["served_certificate"] for r in wrong} == {"shop"}

        code, table = cli("verify", new, "--no-color", *cli.connect_to())
        assert code == 1
        assert "wrong-certificate" in table and f"where IAM says {new}" in table
        assert "2 of 6 handshake(s) did not serve what IAM says" in table
    finally:
        front.thaw(shared_host, 443)

    code, table = cli("verify", new, "--no-color", *cli.connect_to())
    assert code == 0
    assert "all 6 handshake(s) serve what IAM says" in table


def test_verify_reports_an_unreachable_endpoint(world: World, cli: Cli) -> None:
    shop = world.seed("shop", ["shop.example.com"], days_left=60)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="dark")
    # No --connect-to: the name does not resolve outside the devstack's DNS.
    code, document = cli.json("verify", "shop", "--timeout", "2")
    assert code == 1
    [result] = document["results"]
    assert result["status"] == "unreachable"


def test_rotate_local_asks_first_then_rotates_in_this_process(world: World, cli: Cli) -> None:
    shop = world.seed("shop", ["shop.example.com"], days_left=12)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    before = world.snapshot()
    cli.run_as("break-glass")

    code, text = cli("rotate", "shop", "--local", stdin="yes\n")
    assert code == 1
    assert "Type the certificate's name to go on" in text and "cancelled: nothing was changed" in text
    assert world.snapshot() == before

    code, text = cli("rotate", "shop", "--local", "--no-color", stdin="shop\n")
    assert code == 0, text
    assert "✓ issued a certificate for shop.example.com" in text
    assert "rotated: expires in 12.0 days" in text
    [new] = [n for n in world.certificates() if n.startswith("shop-cr")]
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[new]["Arn"]

    code, document = cli.json("rotate", new, "--local", "--yes", "--dry-run")
    assert code == 0
    # pebble's 5-year certificate: the lifetime rule (a third left) comes before the 30-day floor.
    assert document["status"] == "skipped" and "the lifetime rule says renew at" in document["reason"]


def test_rotate_local_refuses_to_trust_other_issuers_than_the_function(
    world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The deployed ISSUER_TRUST_BUNDLE is missing here: the default roots would believe any public CA's
    chain and replacement claim, so the break-glass run stops until the operator names a copy."""
    world.seed("shop", ["shop.example.com"], days_left=12)
    deploy(world, ISSUER_TRUST_BUNDLE="/var/task/nowhere/roots.pem")
    monkeypatch.delenv("ISSUER_TRUST_BUNDLE", raising=False)
    before = world.snapshot()
    cli.run_as("break-glass")

    code, _ = cli("rotate", "shop", "--local", "--yes")

    assert code == 2 and world.snapshot() == before
    err = capfd.readouterr().err
    print(err, end="", file=sys.stderr)
    assert "the deployed ISSUER_TRUST_BUNDLE (/var/task/nowhere/roots.pem) is not on this machine" in err

    monkeypatch.setenv("ISSUER_TRUST_BUNDLE", world.env["ISSUER_TRUST_BUNDLE"])  # the operator's copy
    code, document = cli.json("rotate", "shop", "--local", "--yes", "--dry-run")
    assert code == 0 and document["status"] == "planned", document


def test_rotate_names_the_missing_stack_and_the_way_out(
    world: World, cli: Cli, capfd: pytest.CaptureFixture[str]
) -> None:
    world.seed("shop", ["shop.example.com"], days_left=12)
    # The operator's policy names the stack it may read (operator-policy.yaml's CertRotateStackName): one that
    # was never deployed (or was deleted) is not found; another stack's name is refused (exit 3, tested in
    # test_cli_conventions.py).
    world.stack.iam.operator_parameters["CertRotateStackName"] = "nowhere"
    code, _ = cli("rotate", "shop", "--stack", "nowhere")
    assert code == 2
    err = capfd.readouterr().err
    print(err, end="", file=sys.stderr)  # back to the autouse check for key material
    assert "stack 'nowhere' not found" in err and "--local" in err


def deploy(world: World, **settings: str) -> dict[str, str]:
    """The stack as `sam deploy` leaves it: functions with these settings, named in the stack's outputs."""
    function_env = {k: v for k, v in world.env.items() if not k.startswith("AWS_")} | settings
    runtime_env = {k: v for k, v in world.env.items() if k.startswith("AWS_")}
    return deployed.deploy(world.stack.client("cloudformation"), function_env, runtime_env)


def test_status_and_plan_use_the_deployed_functions_settings(world: World, cli: Cli) -> None:
    world.seed("soon", ["soon.example.com"], days_left=20)
    deploy(world, RENEW_BEFORE_DAYS="14")

    code, document = cli.json("status")
    assert code == 0
    assert document["settings"]["source"] == "stack certrotate"
    assert document["settings"]["renew_before_days"] == 14
    [soon] = document["certificates"]
    assert soon["decision"]["verdict"] == "not-due" and soon["decision"]["source"] == "RENEW_BEFORE_DAYS=14"

    code, document = cli.json("status", "--renew-before-days", "30")
    assert document["certificates"][0]["decision"]["verdict"] == "issue"
    assert document["settings"]["source"] == "stack certrotate, --renew-before-days"


def test_rotate_invokes_the_deployed_function_and_prints_its_steps(world: World, cli: Cli) -> None:
    shop = world.seed("shop", ["shop.example.com"], days_left=60)
    listener = fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    outputs = deploy(world)
    assert outputs["RotateFunctionName"] == "certrotate-RotateFunction"
    before = world.snapshot()

    code, text = cli("rotate", "shop", "--dry-run", "--force", "--no-color")
    assert code == 0
    assert 'invoking certrotate-RotateFunction with {"certificate_name": "shop", "force": true' in text
    assert "· would order a certificate for shop.example.com" in text
    assert world.snapshot() == before

    code, text = cli("rotate", "shop", "--force", "--no-color")
    assert code == 0, text
    assert "✓ issued a certificate for shop.example.com" in text and "rotated: forced" in text
    [new] = [n for n in world.certificates() if n.startswith("shop-cr")]
    assert world.listener_certificates(listener.listener_arn)[0] == world.certificates()[new]["Arn"]

    # Retired at once (RETIREMENT_GRACE_SECONDS=0): the old name is unknown now, and the function says so.
    code, document = cli.json("rotate", "shop", "--force")
    assert code == 2  # a name that does not exist: a usage error
    assert document["error"] == "no IAM server certificate is named 'shop'"
    assert document["type"] == "UnknownCertificate"


def test_status_shows_pending_retirement_and_flags_a_replaced_certificate_someone_serves_again(
    world: World, cli: Cli
) -> None:
    shop = world.seed("shop", ["shop.example.com"], days_left=12)
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="shop-alb")
    result = world.invoke("RotateFunction", {"certificate_name": "shop"}, RETIREMENT_GRACE_SECONDS="3600")
    new = result["new_certificate_name"]
    deploy(world, RETIREMENT_GRACE_SECONDS="3600")  # the stack names the lease table: its progress records

    code, document = cli.json("status")
    assert code == 0
    rows = {c["name"]: c for c in document["certificates"]}
    assert rows["shop"]["pending_retirement"]["replaced_by"] == new
    assert rows["shop"]["pending_retirement"]["verdict"] == "in-grace"
    assert rows["shop"]["decision"]["verdict"] == "resume"
    assert rows["shop"]["endpoints"] == []
    assert [e["load_balancer"] for e in rows[new]["endpoints"]] == ["shop-alb"]

    # Past the grace period, someone points a new listener at the replaced certificate.
    fixtures.create_alb_https_listener(world.elbv2, world.ec2, shop["Arn"], name="late")
    world.stack.client("cloudformation").delete_stack(StackName="certrotate")
    deploy(world, RETIREMENT_GRACE_SECONDS="0")
    code, table = cli("status", "--no-color")
    assert code == 1
    assert f"replaced by {new}" in table
    assert "! shop: replaced but still served by elbv2-listener" in table


def test_a_cloudfront_certificate_is_shown_with_its_distribution_and_verified(world: World, cli: Cli) -> None:
    cdn = world.seed("cdn", ["cdn.example.com"], days_left=60, path="/cloudfront/")
    distribution = fixtures.create_cloudfront_distribution(
        world.cloudfront, cdn["ServerCertificateId"], aliases=["cdn.example.com"]
    )
    domain = world.cloudfront.get_distribution(Id=distribution.id)["Distribution"]["DomainName"]

    code, document = cli.json("status")
    assert code == 0
    [row] = document["certificates"]
    assert row["endpoints"] == [
        {
            "kind": "cloudfront",
            "region": "global",
            "load_balancer": distribution.id,
            "listener": distribution.id,
            "role": "default",
            "address": f"{domain}:443",
        }
    ]

    code, document = cli.json("verify", "cdn", *cli.connect_to())
    assert code == 0
    [result] = document["results"]
    assert result["endpoint"] == f"cloudfront {distribution.id}" and result["status"] == "ok"


def test_plan_says_how_each_name_is_validated_or_why_it_cannot_be(world: World, cli: Cli) -> None:
    old = world.seed("away", ["away.example.net"], days_left=5)
    https = fixtures.create_alb_https_listener(world.elbv2, world.ec2, old["Arn"])
    world.seed("nowhere", ["nowhere.example.net"], days_left=5)
    code, document = cli.json("plan", "--renew-before-days", "30")
    assert code == 0
    routes = {r["certificate_name"]: r["order"]["challenges"] for r in document["rotations"]}
    assert routes["nowhere"][0].startswith("refused before ordering: no public Route 53 hosted zone holds")
    assert routes["away"][0].startswith("refused before ordering")  # the ALB has no port-80 listener yet
    listener = fixtures.create_alb_http_listener(world.elbv2, https.load_balancer_arn)
    code, document = cli.json("plan", "--renew-before-days", "30")
    routes = {r["certificate_name"]: r["order"]["challenges"] for r in document["rotations"]}
    assert routes["away"] == [f"away.example.net by http-01 on port-80 listener(s) {listener}"]


def test_plan_orders_the_key_type_the_tag_names(world: World, cli: Cli) -> None:
    world.seed("keyed", ["keyed.example.com"], days_left=5, tags={"certrotate:key-type": "ec384"})
    code, document = cli.json("plan", "--renew-before-days", "30")
    assert code == 0
    [rotation] = [r for r in document["rotations"] if r["certificate_name"] == "keyed"]
    assert rotation["order"]["key"] == "ECDSA P-384"


def test_rotate_local_takes_the_functions_lease_key_with_managed_accounts(
    world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """With MANAGED_ACCOUNTS the function's lease key is `<account>:<name>` (the own account included): a
    break-glass rotation must take that same key, or it and a queued rotation could both order."""
    from certrotate.adapters.lease_table.leases import DynamoDbLeases

    own = "123456789012"  # moto's account: the operator's and the function's
    world.seed("shop", ["shop.example.com"], days_left=12)
    monkeypatch.setenv("MANAGED_ACCOUNTS", own)
    held = DynamoDbLeases(world.dynamodb, world.lease_table).acquire(f"{own}:shop", seconds=300)
    before = world.snapshot()
    cli.run_as("break-glass")

    code, _ = cli("rotate", "shop", "--local", "--yes")

    assert code == 1  # it needs a person (or a moment): not a usage error
    err = capfd.readouterr().err
    print(err, end="", file=sys.stderr)
    assert "a rotation of '123456789012:shop' is in progress" in err
    assert world.snapshot() == before
    assert held.certificate_name == f"{own}:shop"


def test_status_reads_each_certificate_once_and_lists_acm_imported_ones(world: World, cli: Cli) -> None:
    for index in range(4):
        world.seed(f"site{index}", [f"site{index}.example.com"], days_left=60 + index)
    arn, _ = fixtures.import_acm_certificate(world.stack.client("acm"), ["api.example.com"], days_left=5)
    world.stack.calls.reset()

    code, document = cli.json("status", "--renew-before-days", "30")

    # GetServerCertificate carries the tags: one IAM call per certificate, not two.
    assert world.stack.calls.count("iam", "GetServerCertificate") == 4
    assert world.stack.calls.count("iam", "ListServerCertificateTags") == 0
    [acm] = document["acm_certificates"]
    assert acm["arn"] == arn and acm["dns_names"] == ["api.example.com"] and acm["managed"] is True
    assert acm["decision"]["verdict"] == "issue" and acm["decision"]["source"] == "RENEW_BEFORE_DAYS=30"
    assert 4.9 < acm["days_to_expiry"] <= 5
    assert code == 1 and document["needs_attention"] == [arn]  # 5 days left: its rotations have not succeeded

    code, text = cli("status", "--renew-before-days", "30", "--no-color")
    assert "ACM imported certificates" in text and "api.example.com" in text
    assert f"! {arn}: expires in 5 days" in text

    code, plan = cli.json("plan", "--renew-before-days", "30")
    assert arn in plan["scan"]["enqueue"]
    [rotation] = [r for r in plan["rotations"] if r.get("certificate_arn") == arn]
    assert rotation["verdict"] == "issue" and rotation["order"]["dns_names"] == ["api.example.com"]


def test_plan_sends_to_the_queue_what_it_says_a_rotation_would_issue(world: World, cli: Cli) -> None:
    """No RENEW_BEFORE_DAYS and no renewal time learnt yet: the lifetime rule decides for the scan as for the
    rotation (a one-day certificate with 5 hours left is past half its life)."""
    world.seed("soon", ["soon.example.com"], days_left=0.2)
    code, document = cli.json("plan")  # no stack: the defaults, with no floor
    assert code == 0
    [rotation] = [r for r in document["rotations"] if r["certificate_name"] == "soon"]
    assert rotation["verdict"] == "issue" and rotation["source"] == "lifetime rule"
    assert document["scan"]["enqueue"] == ["soon"]
