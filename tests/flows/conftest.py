"""``env``: a real FlowContext and its services, no app, on every datastore backend.

See tests/support/flow_context.py. Settings per test or module:
``@pytest.mark.settings(confirmable=True)``; the app's util classes:
``@pytest.mark.security_kwargs(password_util_cls=...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.flow_context import FLOW_BACKENDS, FlowEnv, flow_env, settings_of

# Backends whose tests carry a marker, so `-m "not postgres"` deselects them.
_MARKS = {"postgres": pytest.mark.postgres}


@pytest.fixture(
    params=[
        pytest.param(name, marks=[_MARKS[name]] if name in _MARKS else [], id=name)
        for name in FLOW_BACKENDS
    ]
)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FlowEnv]:
    utils = settings_of(request, "security_kwargs")
    async with flow_env(request.param, tmp_path, settings_of(request), utils) as built:
        yield built
