"""Fixtures for the HTTP tests: one app per test, on every framework and backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.app_factory import BuiltApp, create_test_app

FRAMEWORKS = ["quart", "flask"]
FLASK_BACKENDS = ("sqlite", "postgres", "mongo")  # mongo: PyMongoUserDatastore
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``test_app`` runs on each framework x backend; ``quart_only`` tests skip Flask."""
    if "test_app" not in metafunc.fixturenames:
        return
    quart_only = metafunc.definition.get_closest_marker("quart_only") is not None
    frameworks = ["quart"] if quart_only else FRAMEWORKS
    params = [
        pytest.param((f, b), id=f"{f}-{b}")
        for f in frameworks
        for b in BACKENDS
        if f == "quart" or b in FLASK_BACKENDS  # motor is async-only
    ]
    metafunc.parametrize("test_app", params, indirect=True)


@pytest.fixture
async def test_app(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    framework, backend = request.param
    settings = _marker_kwargs(request, "settings")
    app_settings = _marker_kwargs(request, "app_settings")
    security_kwargs = _marker_kwargs(request, "security_kwargs")
    if "smtp_sink" in request.fixturenames:
        # The app mails the test's real SMTP sink (tests/conftest.py).
        sink = request.getfixturevalue("smtp_sink")
        app_settings = {**sink.app_settings(), **app_settings}
    if framework == "flask":
        # The flask_compat twin (tests/support/flask_app_factory.py).
        from tests.support.flask_app_factory import flask_test_app

        async with flask_test_app(
            backend, tmp_path, settings, app_settings, security_kwargs
        ) as flask_built:
            yield flask_built
        return
    built = await create_test_app(
        backend,
        tmp_path,
        settings=settings,
        app_settings=app_settings,
        security_kwargs=security_kwargs,
    )
    try:
        yield built
    finally:
        await built.security.mailer.drain()  # no delivery outlives its test
        await built.security.throttle.aclose()
        built.security.hashing_pool.shutdown()
        await built.close()


@pytest.fixture
def app(test_app: BuiltApp) -> Any:
    return test_app.app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
