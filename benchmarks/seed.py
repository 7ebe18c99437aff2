"""Seed the benchmark database: N users, each with its own argon2 hash.

Hashing 1,000 passwords with argon2-cffi defaults costs ~3 CPU-minutes, so the
hashes (not the database) are cached under ``benchmarks/.work/seed-cache``, keyed by
user count, argon2 parameters and password salt; building the database from the
cache takes well under a second. The schema is Flask-Security's own (fsqla_v3,
created through the reference app), so every app reads the same table.

usage: seed.py --db-url URL [--users 1000] [--argon2 t,m,p] [--salt S] [--work DIR]
Prints one JSON line: cache hit or hashing time, DB build time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "apps"))

import benchcommon as bc  # noqa: E402

CACHE_VERSION = "1"


def user_email(i: int) -> str:
    return f"user{i:04d}@example.com"


def user_password(i: int) -> str:
    return f"Bench-{i:04d}-pass"


def _hash_one(args: tuple[str, str, str]) -> str:
    params_text, salt, password = args
    return bc.Argon2Params.parse(params_text).hasher().hash(bc.prehash(password, salt))


def cache_path(work: Path, n: int, params: bc.Argon2Params, salt: str) -> Path:
    key = hashlib.sha256(f"{CACHE_VERSION}|{n}|{params.text()}|{salt}".encode()).hexdigest()[:16]
    return work / "seed-cache" / f"users-{n}-{params.text().replace(',', '-')}-{key}.json"


def load_or_hash(work: Path, n: int, params: bc.Argon2Params, salt: str) -> dict[str, Any]:
    """Return the cached user list, hashing (on all cores) only on a cache miss."""
    path = cache_path(work, n, params, salt)
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        data["cache_hit"] = True
        return data
    start = time.perf_counter()
    jobs = [(params.text(), salt, user_password(i)) for i in range(n)]
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        hashes = pool.map(_hash_one, jobs, chunksize=8)
    seconds = time.perf_counter() - start
    rows = [
        {
            "email": user_email(i),
            "password_plain": user_password(i),
            "password": hashes[i],
            "fs_uniquifier": uuid.uuid4().hex,
            "fs_token_uniquifier": uuid.uuid4().hex,
        }
        for i in range(n)
    ]
    data = {"argon2": params.text(), "users": n, "hash_seconds": seconds, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    data["cache_hit"] = False
    return data


def build_db(db_url: str, rows: list[dict[str, Any]]) -> float:
    """Create Flask-Security's schema through the reference app and insert the users."""
    start = time.perf_counter()
    os.environ["BENCH_DB_URL"] = db_url
    os.environ.setdefault("BENCH_SECRET_KEY", secrets.token_hex(16))
    import flask_security_app as fsa
    from sqlalchemy import insert

    with fsa.app.app_context():
        fsa.db.drop_all()
        fsa.db.create_all()
        fsa.db.session.execute(
            insert(fsa.User),
            [
                {
                    "email": r["email"],
                    "password": r["password"],
                    "active": True,
                    "fs_uniquifier": r["fs_uniquifier"],
                    "fs_token_uniquifier": r["fs_token_uniquifier"],
                }
                for r in rows
            ],
        )
        fsa.db.session.commit()
        fsa.db.engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db-url", required=True, help="sync SQLAlchemy URL")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--argon2", default=bc.DEFAULT_ARGON2, help="t,m_kib,p")
    ap.add_argument("--salt", default=bc.DEFAULT_SALT)
    ap.add_argument("--work", type=Path, default=HERE / ".work")
    ap.add_argument("--users-file", type=Path, help="write email<TAB>password lines here")
    args = ap.parse_args()
    params = bc.Argon2Params.parse(args.argon2)
    os.environ["BENCH_ARGON2"] = params.text()
    os.environ["BENCH_PASSWORD_SALT"] = args.salt
    data = load_or_hash(args.work, args.users, params, args.salt)
    db_seconds = build_db(args.db_url, data["rows"])
    if args.users_file:
        args.users_file.write_text(
            "".join(f"{r['email']}\t{r['password_plain']}\n" for r in data["rows"])
        )
    print(
        json.dumps(
            {
                "users": args.users,
                "argon2": params.text(),
                "cache_hit": data["cache_hit"],
                "hash_seconds": round(data["hash_seconds"], 2),
                "db_seconds": round(db_seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
