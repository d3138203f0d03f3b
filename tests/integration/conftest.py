"""Fixtures for tests against the local stack: one stack per session, AWS state reset per test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from certrotate.wiring import BOTO_CONFIG

from devstack import fixtures
from devstack.stack import LocalStack

PEBBLE_AVAILABLE = shutil.which("pebble") is not None or shutil.which("/usr/bin/pebble") is not None


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """moto server (fixed, with faults), DNS server fed from Route 53 and, when installed, pebble."""
    with LocalStack(with_pebble=PEBBLE_AVAILABLE) as local_stack:
        yield local_stack


@pytest.fixture
def aws(stack: LocalStack) -> LocalStack:
    """The session stack with empty AWS state, no pending faults and zeroed call counts."""
    stack.reset_aws()
    return stack


@pytest.fixture
def pebble_stack(stack: LocalStack) -> LocalStack:
    if stack.pebble is None:
        pytest.skip("pebble not found: run `make deps`")
    return stack


@pytest.fixture
def db(aws: LocalStack) -> Any:
    """A DynamoDB client (with room for the threads of the concurrency tests) and the lease table, as
    template.yaml declares it."""
    client = aws.client("dynamodb", config=BOTO_CONFIG.merge(Config(max_pool_connections=40)))
    fixtures.create_lease_table(client)
    return client


def functions_env(aws: LocalStack, **settings: str | None) -> dict[str, str | None]:
    """The settings the functions run with on the local stack: a FIFO rotation queue and a lease table of
    their own, the account secret's name, and `settings` over them (None unsets one)."""
    queue_url = aws.client("sqs").create_queue(
        QueueName=f"rotations-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    return {
        **aws.env(),
        "ACME_ACCOUNT_SECRET_ID": "certrotate/acme-account",
        "ACME_EMAIL": "ops@example.com",
        "ROTATION_QUEUE_URL": queue_url,
        "LEASE_TABLE_NAME": fixtures.create_lease_table(aws.client("dynamodb")),
        "POWERTOOLS_SERVICE_NAME": "certrotate",
        **settings,
    }
