"""Fixtures for tests against the local stack: one stack per session, AWS state reset per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

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
