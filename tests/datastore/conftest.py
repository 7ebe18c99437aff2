"""``datastore``: one fresh datastore per test, for every backend in BACKENDS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from quart_security.datastore.base import UserDatastore
from tests.datastore.backends import BACKENDS

# Backends whose tests carry a marker, so `-m "not postgres"` deselects them.
_MARKS = {"postgres": pytest.mark.postgres, "postgres-session": pytest.mark.postgres}


@pytest_asyncio.fixture(
    params=[
        pytest.param(name, marks=[_MARKS[name]] if name in _MARKS else [], id=name)
        for name in BACKENDS
    ]
)
async def datastore(request: pytest.FixtureRequest) -> AsyncIterator[UserDatastore[Any, Any]]:
    async with BACKENDS[request.param]() as store:
        yield store
