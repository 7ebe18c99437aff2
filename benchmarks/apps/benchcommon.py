"""Settings every benchmark app shares, so all systems hash, sign and query alike.

Read from the environment the runner sets (see runner.py, "App interface"):

- ``BENCH_DB_URL``: sync SQLAlchemy URL (``sqlite:////abs/file.db`` or
  ``postgresql+psycopg://user@127.0.0.1:port/db``).
- ``BENCH_DB_URL_ASYNC``: the same database for async drivers
  (``sqlite+aiosqlite:///...`` or ``postgresql+asyncpg://...``).
- ``BENCH_SECRET_KEY``: Flask/Quart ``SECRET_KEY`` (random per run).
- ``BENCH_PASSWORD_SALT``: Flask-Security ``SECURITY_PASSWORD_SALT``; the seeded
  hashes depend on it, so it is fixed per seed cache.
- ``BENCH_ARGON2``: ``time_cost,memory_cost_kib,parallelism`` (argon2id, 32-byte hash,
  16-byte salt); default = argon2-cffi's defaults (RFC 9106 low-memory).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

import argon2

DEFAULT_SALT = "qs-bench-password-salt"
DEFAULT_ARGON2 = "3,65536,4"
USER_AGENT = "qs-bench/1"  # Flask-Login session protection hashes IP + UA: keep it fixed


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_cost: int
    parallelism: int

    @classmethod
    def parse(cls, text: str) -> Argon2Params:
        t, m, p = (int(x) for x in text.split(","))
        return cls(t, m, p)

    def text(self) -> str:
        return f"{self.time_cost},{self.memory_cost},{self.parallelism}"

    def hasher(self) -> argon2.PasswordHasher:
        return argon2.PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )


def argon2_params() -> Argon2Params:
    return Argon2Params.parse(os.environ.get("BENCH_ARGON2", DEFAULT_ARGON2))


def password_salt() -> str:
    return os.environ.get("BENCH_PASSWORD_SALT", DEFAULT_SALT)


def secret_key() -> str:
    key = os.environ.get("BENCH_SECRET_KEY")
    if not key:
        raise RuntimeError("BENCH_SECRET_KEY is not set (the runner sets it)")
    return key


def db_url_sync() -> str:
    return os.environ["BENCH_DB_URL"]


def db_url_async() -> str:
    return os.environ["BENCH_DB_URL_ASYNC"]


def prehash(password: str, salt: str | None = None) -> str:
    """Flask-Security's HMAC-SHA512 pre-hash (base64), so every app verifies the same hashes."""
    key = (salt if salt is not None else password_salt()).encode()
    digest = hmac.new(key, password.encode(), hashlib.sha512).digest()
    return base64.b64encode(digest).decode("ascii")


def rate_limits() -> bool:
    """BENCH_RATE_LIMITS=1: our default rate limits on (the runner's --rate-limits)."""
    return os.environ.get("BENCH_RATE_LIMITS", "0") == "1"


def rate_limit_budgets() -> dict[str, str | None]:
    """The budgets under --rate-limits: the library's defaults (the flood scenario's
    probe signs in from a new address each time: runner.py flood_tool)."""
    return {}
