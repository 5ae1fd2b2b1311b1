"""Fixtures of the adapter tests."""

from __future__ import annotations

import pytest

from tests.ingestion.adapters.engines import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each mapping test runs once per engine: the loader's SQL and the Python reference."""
    return request.param
