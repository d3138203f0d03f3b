"""AWS's API rate limits in the devstack (devstack.ratelimits): token buckets answered with `Throttling`.

The buckets read a clock the tests control, so every count here is exact (never a time)."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator

import botocore.endpoint
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.ratelimits import RateRule
from devstack.stack import LocalStack

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


class SteppingClock:
    """Stands still unless moved; with `step`, moves that far each time a bucket reads it."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def limited(aws: LocalStack) -> Iterator[LocalStack]:
    yield aws
    aws.limits.disable()


def _throttled(call: object) -> str:
    with pytest.raises(ClientError) as exc:
        call()  # type: ignore[operator]
    return str(exc.value.response["Error"]["Code"])


@pytest.mark.stack
class TestRateLimits:
    def test_off_by_default(self, aws: LocalStack) -> None:
        elbv2 = aws.client("elbv2", config=NO_RETRIES)
        for _ in range(45):
            elbv2.describe_load_balancers()
        assert aws.limits.throttled() == {}

    def test_elb_describe_bucket_is_40_plus_10_per_second_per_region(self, limited: LocalStack) -> None:
        clock = SteppingClock()
        limited.limits.clock = clock
        limited.limits.enable_aws_rates()
        elbv2 = limited.client("elbv2", region="us-east-1", config=NO_RETRIES)
        for _ in range(40):
            elbv2.describe_load_balancers()

        assert _throttled(elbv2.describe_load_balancers) == "Throttling"
        assert _throttled(lambda: elbv2.describe_listeners(LoadBalancerArn="x")) == "Throttling"
        # Other regions, and the Classic API, have their own buckets.
        limited.client("elbv2", region="eu-west-1", config=NO_RETRIES).describe_load_balancers()
        limited.client("elb", region="us-east-1", config=NO_RETRIES).describe_load_balancers()
        # A tenth of a second brings one token back.
        clock.now += 0.1
        elbv2.describe_load_balancers()
        assert _throttled(elbv2.describe_load_balancers) == "Throttling"

        assert limited.limits.throttled() == {
            ("elbv2", "DescribeLoadBalancers"): 2,
            ("elbv2", "DescribeListeners"): 1,
        }
        # A throttled call is still a call the client sent.
        assert limited.calls.count("elbv2", "DescribeLoadBalancers") == 40 + 1 + 1 + 1 + 1

    def test_route53_bucket_is_per_account(self, limited: LocalStack) -> None:
        limited.limits.clock = SteppingClock()
        limited.limits.enable_aws_rates()
        for _ in range(5):
            limited.client("route53", config=NO_RETRIES).list_hosted_zones()
        assert _throttled(limited.client("route53", config=NO_RETRIES).list_hosted_zones) == "Throttling"
        assert limited.limits.throttled_count("route53") == 1

    def test_botocore_standard_retries_ride_out_a_throttle(
        self, limited: LocalStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # botocore's backoff is recorded, not slept; the bucket's clock moves a quarter second per call.
        delays: list[float] = []
        fake_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
        fake_time.sleep = delays.append
        monkeypatch.setattr(botocore.endpoint, "time", fake_time)
        limited.limits.clock = SteppingClock(step=0.25)
        limited.limits.set(RateRule("iam", None, "all", capacity=1, refill_per_second=1, per_region=False))
        iam = limited.client("iam", config=Config(retries={"mode": "standard", "total_max_attempts": 5}))

        iam.list_server_certificates()  # the bucket's only token
        response = iam.list_server_certificates()  # empty for three calls, a token again on the fourth

        assert response["ResponseMetadata"]["RetryAttempts"] == 3
        assert len(delays) == 3
        assert limited.limits.throttled() == {("iam", "ListServerCertificates"): 3}
        assert limited.calls.count("iam", "ListServerCertificates") == 5


@pytest.mark.stack
def test_the_scans_tag_readers_share_an_adaptive_iam_client(limited: LocalStack) -> None:
    """Eight threads on one IAM client against a small IAM bucket: botocore's adaptive mode (wiring) paces
    them together and every tag listing is answered."""
    from certrotate.adapters.aws.iam import TAG_READERS, IamCertificateStore
    from certrotate.wiring import ADAPTIVE_CONFIG, ADAPTIVE_SERVICES

    from devstack import fixtures

    # (botocore rewrites max_attempts as total_max_attempts in the config once a client is built from it)
    assert "iam" in ADAPTIVE_SERVICES and ADAPTIVE_CONFIG.retries is not None
    assert ADAPTIVE_CONFIG.retries["mode"] == "adaptive"
    iam = limited.client("iam", config=ADAPTIVE_CONFIG)
    key = fixtures.generate_key("ec256")
    names = [f"paced-{i:02d}" for i in range(2 * TAG_READERS)]  # within the default quota of 20
    for name in names:
        issued = fixtures.make_certificate([f"{name}.example.com"], 60, key=key)
        iam.upload_server_certificate(
            ServerCertificateName=name,
            CertificateBody=issued.cert_pem,
            PrivateKey=issued.key_pem,
            Tags=[{"Key": "team", "Value": name}],
        )
    limited.limits.set(RateRule("iam", None, "all", capacity=2, refill_per_second=20, per_region=False))

    scan_iam = limited.client_as("ScanFunction", "iam", config=ADAPTIVE_CONFIG)  # the scan's own role
    tags = IamCertificateStore(scan_iam).tags_of_many(names)

    assert tags == {name: {"team": name} for name in names}
    assert limited.limits.throttled_count("iam", "ListServerCertificateTags") >= 1
