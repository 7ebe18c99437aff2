"""The datastore conformance suite, run on flask_compat's PyMongoUserDatastore.

The same tests as tests/datastore/test_conformance.py (imported, not copied),
on the core's MongoUserDatastore driven over a sync ``pymongo.MongoClient``
database: the store under test is the one ``PyMongoUserDatastore`` builds,
whose coroutines never suspend. One fresh database per test, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from flask_compat.mongo import PyMongoUserDatastore
from quart_security.datastore.mongo import MongoUserDatastore
from quart_security.models.mongo import MongoRole, MongoTokenUniquifierUser, MongoWebAuthn
from tests.datastore.test_conformance import *  # noqa: F403 - the tests themselves

MONGO_URL = os.environ.get("QS_TEST_MONGO_URL")
if not MONGO_URL:
    pytest.skip("QS_TEST_MONGO_URL is not set", allow_module_level=True)


@pytest.fixture
def datastore() -> Iterator[MongoUserDatastore[Any, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(MONGO_URL, serverSelectionTimeoutMS=5000)
    name = f"qs_flask_{uuid.uuid4().hex[:16]}"
    try:
        sync_store = PyMongoUserDatastore(
            client[name], MongoTokenUniquifierUser, MongoRole, MongoWebAuthn
        )
        sync_store.create_indexes()
        store = sync_store.async_store
        assert isinstance(store, MongoUserDatastore)
        yield store
    finally:
        client.drop_database(name)
        client.close()
