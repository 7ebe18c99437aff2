"""tests/datastore/test_mongo.py, run on the core store over a sync PyMongo database.

The MongoDB-specific tests (indexes, collations, the document layout,
operator injection, counted round trips) imported, not copied: their ``db``
fixture is replaced by the async look-alike of a sync ``MongoClient``
database that ``PyMongoUserDatastore`` gives the core, with the same command
listener, so what they assert on the wire holds for Flask apps too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from flask_compat.mongo import _AwaitableDatabase
from tests.datastore.test_mongo import *  # noqa: F403 - the tests themselves
from tests.datastore.test_mongo import MONGO_URL, CommandLog


@pytest.fixture
def db(log: CommandLog) -> Iterator[Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        MONGO_URL, serverSelectionTimeoutMS=5000, event_listeners=[log]
    )
    name = f"qs_flask_{uuid.uuid4().hex[:16]}"
    try:
        yield _AwaitableDatabase(client[name])
    finally:
        client.drop_database(name)
        client.close()
