"""Settings: defaults, and one clear line per problem."""

from __future__ import annotations

import pytest
from certrotate.config import LETS_ENCRYPT_PRODUCTION, load_settings
from certrotate.errors import ConfigurationError

BASE = {"AWS_REGION": "eu-west-1"}


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(BASE)
    assert settings.acme_directory_url == LETS_ENCRYPT_PRODUCTION
    assert settings.renew_before_days is None  # second round: the ARI window or the lifetime rule alone
    assert settings.rotation_lease_seconds == 300
    assert settings.load_balancer_regions == (), "empty: every region enabled for the account"
    assert settings.metrics_namespace == "CertRotate" and settings.service_name == "certrotate"
    assert settings.issuer_trust_bundle is None
    assert settings.event_bus_name == "default"


def test_regions_are_deduplicated_and_trimmed() -> None:
    settings = load_settings({**BASE, "LOAD_BALANCER_REGIONS": " us-east-1, eu-west-1,us-east-1 "})
    assert settings.load_balancer_regions == ("us-east-1", "eu-west-1")


def test_every_problem_is_named_on_one_line(tmp_path: object) -> None:
    env = {
        "AWS_REGION": "eu-west-1",
        "RENEW_BEFORE_DAYS": "thirty",
        "ROTATION_LEASE_SECONDS": "5",
        "ACME_DIRECTORY_URL": "http://insecure.example/dir",
        "ISSUER_TRUST_BUNDLE": "/nonexistent/roots.pem",
        "LOAD_BALANCER_REGIONS": "eu-west-1,mars-1",
        "ACME_EMAIL": "not-an-address",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in (
        "RENEW_BEFORE_DAYS",
        "ROTATION_LEASE_SECONDS",
        "ACME_DIRECTORY_URL",
        "ISSUER_TRUST_BUNDLE",
        "mars-1",
        "ACME_EMAIL",
    ):
        assert fragment in message


def test_missing_region_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        load_settings({})


def test_functions_name_what_they_need() -> None:
    settings = load_settings(BASE)
    with pytest.raises(ConfigurationError, match="ACME_ACCOUNT_SECRET_ID"):
        settings.require_rotation()
    with pytest.raises(ConfigurationError, match="ROTATION_QUEUE_URL"):
        settings.require_scan()


def test_the_rotation_needs_the_lease_table() -> None:
    settings = load_settings({**BASE, "ACME_ACCOUNT_SECRET_ID": "acme"})
    assert settings.lease_table_name is None
    with pytest.raises(ConfigurationError, match="LEASE_TABLE_NAME is required") as caught:
        settings.require_rotation()
    assert "ACME_ACCOUNT_SECRET_ID" not in str(caught.value)
    ready = load_settings(
        {**BASE, "ACME_ACCOUNT_SECRET_ID": "acme", "LEASE_TABLE_NAME": " stack-LeaseTable-1A "}
    )
    assert ready.lease_table_name == "stack-LeaseTable-1A"
    ready.require_rotation()


def test_the_scan_does_not_need_the_lease_table() -> None:
    load_settings(
        {**BASE, "ROTATION_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q.fifo"}
    ).require_scan()


@pytest.mark.parametrize(
    "table", ["stack-LeaseTable-1A", "a.b_c", "arn:aws:dynamodb:eu-west-1:123456789012:table/stack-Lease"]
)
def test_a_lease_table_is_a_name_or_an_arn(table: str) -> None:
    assert load_settings({**BASE, "LEASE_TABLE_NAME": table}).lease_table_name == table


@pytest.mark.parametrize("table", ["ab", "has space", "table/x", "arn:aws:s3:::bucket", "x" * 256])
def test_a_bad_lease_table_is_named(table: str) -> None:
    with pytest.raises(ConfigurationError, match="LEASE_TABLE_NAME is not a DynamoDB table name"):
        load_settings({**BASE, "LEASE_TABLE_NAME": table})


def test_an_empty_lease_table_is_unset() -> None:
    assert load_settings({**BASE, "LEASE_TABLE_NAME": "  "}).lease_table_name is None


def test_the_post_rotation_endpoint_check_is_off_by_default_and_its_rules_are_checked() -> None:
    base = {"AWS_REGION": "us-east-1"}
    assert load_settings(base).check_endpoints_after_rotation is False
    on = load_settings(
        {
            **base,
            "CHECK_ENDPOINTS_AFTER_ROTATION": "true",
            "ENDPOINT_CHECK_CONNECT_TO": "a:443:127.0.0.1:9 b:443::8443",
        }
    )
    assert on.check_endpoints_after_rotation is True
    assert on.endpoint_check_connect_to == ("a:443:127.0.0.1:9", "b:443::8443")
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**base, "CHECK_ENDPOINTS_AFTER_ROTATION": "yes", "ENDPOINT_CHECK_CONNECT_TO": "a:443"})
    assert "CHECK_ENDPOINTS_AFTER_ROTATION must be true or false" in str(raised.value)
    assert "ENDPOINT_CHECK_CONNECT_TO holds 'a:443'" in str(raised.value)
