"""Settings: defaults, and one clear line per problem."""

from __future__ import annotations

import pytest
from certrotate.config import LETS_ENCRYPT_PRODUCTION, load_settings
from certrotate.errors import ConfigurationError

BASE = {"AWS_REGION": "eu-west-1"}


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(BASE)
    assert settings.acme_directory_url == LETS_ENCRYPT_PRODUCTION
    assert settings.renew_before_days == 30
    assert settings.rotation_lease_seconds == 300
    assert settings.load_balancer_regions == ("eu-west-1",)
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
