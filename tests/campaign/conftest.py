"""Fixtures of the campaign tests (helpers live in campaign_helpers.py)."""

from __future__ import annotations

import pytest
from campaign_helpers import PoolFarm


@pytest.fixture
def farm():
    """A :class:`PoolFarm` of loopback pool listeners, closed after the test."""
    f = PoolFarm()
    try:
        yield f
    finally:
        f.close()
