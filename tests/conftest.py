"""Suite-wide hooks."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the local stack (moto server, DNS server, pebble), directly or through a fixture
    built on it (`aws`, `pebble_stack`, `world`), is marked `stack`: `pytest -m "not stack"` runs the rest."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
