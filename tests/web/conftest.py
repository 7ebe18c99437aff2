"""Fixtures for the HTTP tests: one app per test, on every SQL backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.app_factory import BuiltApp, create_test_app

BACKENDS = ["sqlite"]
if os.environ.get("QS_TEST_POSTGRES_URL"):
    BACKENDS.append("postgres")
if os.environ.get("QS_TEST_MONGO_URL"):
    BACKENDS += ["mongo", "motor"]


def _marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        merged.update(marker.kwargs)
    return merged


@pytest.fixture(params=BACKENDS)
async def test_app(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[BuiltApp]:
    built = await create_test_app(
        request.param,
        tmp_path,
        settings=_marker_kwargs(request, "settings"),
        app_settings=_marker_kwargs(request, "app_settings"),
    )
    try:
        yield built
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


@pytest.fixture
def app(test_app: BuiltApp) -> Any:
    return test_app.app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
