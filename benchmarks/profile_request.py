"""In-process cost and pyinstrument profile of one system's requests (no server, no wrk).

Loads a registered system's app module against a fresh copy of the seeded SQLite DB,
logs in through its own JSON /login (test client, cookies kept), pins itself to one
core, then times batches of requests and profiles the authenticated GET. This is the
"take off the hot path what does not belong there" tool: what the server-level CPU per
request says is slow, the profile says why.

usage: profile_request.py --system flask-security [--requests 2000] [--what me_cookie]
Writes .work/profile/<system>-<what>.txt and .html; prints µs/request per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "profile"
sys.path.insert(0, str(HERE / "apps"))
sys.path.insert(0, str(HERE))

import benchcommon as bc  # noqa: E402

UA = {"User-Agent": "qs-bench/1", "Accept": "application/json"}
WHAT = ("public", "public_cookie", "me_cookie", "me_token")

# One request: (path, extra headers); the client keeps the session cookie or not.
Call = Callable[[str, dict[str, str], bool], Awaitable[int]]


def seeded_db(users: int, params: bc.Argon2Params, pg_url: str = "") -> tuple[str, str]:
    """(sync URL, async URL) of a freshly seeded database: a SQLite copy, or ``pg_url``."""
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "seed.db"
    if pg_url:
        rest = pg_url.split("://", 1)[1]
        sync_url, async_url = f"postgresql+psycopg://{rest}", f"postgresql+asyncpg://{rest}"
    else:
        sync_url = f"sqlite:///{db}"
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "seed.py"),
            "--db-url",
            sync_url,
            "--users",
            str(users),
            "--argon2",
            params.text(),
            "--users-file",
            str(WORK / "users.tsv"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, BENCH_SECRET_KEY="x"),
        check=True,
    )
    print("seed:", out.stdout.strip().splitlines()[-1])
    if pg_url:
        return sync_url, async_url
    copy = WORK / "app.db"
    shutil.copyfile(db, copy)
    return f"sqlite:///{copy}", f"sqlite+aiosqlite:///{copy}"


class Driver:
    """Same calls for a Flask (WSGI) or Quart (ASGI) app through their test clients."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.is_async = inspect.iscoroutinefunction(type(app).__call__)
        self.with_cookie = app.test_client()
        self.without_cookie = app.test_client()

    async def get(self, path: str, headers: dict[str, str], cookie: bool) -> int:
        c = self.with_cookie if cookie else self.without_cookie
        if self.is_async:
            resp = await c.get(path, headers={**UA, **headers})
        else:
            resp = c.get(path, headers={**UA, **headers})
        return int(resp.status_code)

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        c = self.with_cookie
        if self.is_async:
            resp = await c.open(path, method=method, json=body, headers=UA)
            return resp.status_code, await resp.get_json()
        resp = c.open(path, method=method, json=body, headers=UA)
        return resp.status_code, resp.get_json()


async def login(d: Driver, email: str, password: str) -> str:
    status, body = await d.json("GET", "/login")
    assert status == 200, body
    csrf = body["response"]["csrf_token"]
    status, body = await d.json(
        "POST",
        "/login?include_auth_token",
        {"email": email, "password": password, "csrf_token": csrf},
    )
    assert status == 200, body
    return str(body["response"]["user"]["authentication_token"])


async def time_batches(d: Driver, what: str, token: str, n: int) -> list[float]:
    path = "/api/me" if what.startswith("me") else "/api/public"
    headers = {"Authentication-Token": token} if what == "me_token" else {}
    cookie = what in ("me_cookie", "public_cookie")
    expect = 200
    per: list[float] = []
    batch = 100
    for _ in range(max(1, n // batch)):
        t0 = time.perf_counter()
        for _ in range(batch):
            status = await d.get(path, headers, cookie)
        per.append((time.perf_counter() - t0) / batch * 1e6)
        assert status == expect, f"{what}: {status}"
    return per


def load_app(args: argparse.Namespace) -> Any:
    import runner

    system = next(s for s in runner.SYSTEMS if s.name == args.system)
    params = bc.Argon2Params.parse(args.argon2)
    sync_url, async_url = seeded_db(args.users, params, args.pg_url)
    os.environ.update(
        BENCH_DB_URL=sync_url,
        BENCH_DB_URL_ASYNC=async_url,
        BENCH_SECRET_KEY=secrets.token_hex(32),
        BENCH_PASSWORD_SALT=bc.DEFAULT_SALT,
        BENCH_ARGON2=params.text(),
    )
    module, attr = system.app.split(":")
    return getattr(importlib.import_module(module), attr)


def run_without_loop(coro: Any) -> None:
    """Drive a coroutine that never suspends (a Flask app's), with no event loop running.

    A sync app must be called from plain sync code: flask_compat refuses to run
    inside a thread whose event loop is running, as it should.
    """
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the sync app's driver suspended")


async def amain(args: argparse.Namespace, app: Any) -> None:
    email, password = (WORK / "users.tsv").read_text().splitlines()[0].split("\t")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    d = Driver(app)
    ctx = app.test_app() if d.is_async else None  # Quart: run startup/shutdown hooks
    if ctx is not None:
        await ctx.__aenter__()
    try:
        token = await login(d, email, password)
        results = {}
        for what in WHAT:
            await time_batches(d, what, token, 300)  # warm caches
            per = await time_batches(d, what, token, args.requests)
            results[what] = {"median_us": statistics.median(per), "best_us": min(per)}
            print(
                f"{args.system:18s} {what:14s} median {results[what]['median_us']:7.0f} µs"
                f"  best batch {results[what]['best_us']:7.0f} µs"
            )
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002, async_mode="enabled" if d.is_async else "disabled")
        profiler.start()
        await time_batches(d, args.what, token, args.requests)
        profiler.stop()
    finally:
        if ctx is not None:
            await ctx.__aexit__(None, None, None)
    stem = WORK / f"{args.system}-{args.what}{'-pg' if args.pg_url else ''}"
    stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False))
    flat = profiler.output_text(
        unicode=True, flat=True, processor_options={"filter_threshold": 0.005}
    )
    stem.with_name(f"{stem.name}-flat.txt").write_text(flat)
    stem.with_suffix(".html").write_text(profiler.output_html())
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(f"profile of {args.requests} x {args.what}: {stem}.txt / .html")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", required=True, help="a name from runner.SYSTEMS")
    ap.add_argument("--what", choices=WHAT, default="me_cookie", help="request to profile")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--argon2", default=bc.DEFAULT_ARGON2)
    ap.add_argument(
        "--pg-url",
        default="",
        help="postgresql://user@127.0.0.1:port/db to seed and use instead of SQLite "
        "(its server is not pinned: its CPU is not in the figures)",
    )
    args = ap.parse_args()
    app = load_app(args)
    if inspect.iscoroutinefunction(type(app).__call__):
        asyncio.run(amain(args, app))
    else:
        run_without_loop(amain(args, app))


if __name__ == "__main__":
    main()
