"""Side-by-side load benchmark: ours (Quart, flask_compat), Flask-Security, the bare Quart ceiling.

Run through ``benchmarks/run.sh`` (it builds the venv, starts a throwaway PostgreSQL,
then calls this). Everything listens on and is loaded through 127.0.0.1 only; every
wrk run is bounded by ``-d`` and a subprocess timeout, the whole run by ``--budget-min``;
every process started here is stopped on exit, Ctrl-C or SIGTERM.

Method (after reference/perf-anchor.md): all targets (system x server x database) are
started once; each repetition walks the scenarios and, inside each, every target in a
rotated order (targets interleaved, so a noisy neighbour hits all of them alike); each
measurement = warm-up, wait for the server to go idle, measured wrk run, wait idle
again (the "drain" time, non-zero when requests queued up). Reported: medians and
min-max over repetitions of req/s, latency percentiles, and server CPU per request
(CPU-seconds of the server's process tree / requests: the view least sensitive to
neighbours). The argon2 floor (verifies/s on all cores, one pinned process per core)
is measured in every repetition too, so logins/s is a fraction of the same-run floor.

App interface (what a system's app module must provide):

- a module in ``benchmarks/apps/`` exposing ``app`` (WSGI for gunicorn kinds, ASGI for
  hypercorn kinds), configured only from the environment:
  ``BENCH_DB_URL`` (sync SQLAlchemy URL: ``sqlite:////abs.db`` or
  ``postgresql+psycopg://...``), ``BENCH_DB_URL_ASYNC`` (``sqlite+aiosqlite:///...`` or
  ``postgresql+asyncpg://...``), ``BENCH_SECRET_KEY``, ``BENCH_PASSWORD_SALT`` (Flask-Security
  ``SECURITY_PASSWORD_SALT``: the seeded hashes use its HMAC-SHA512 pre-hash),
  ``BENCH_ARGON2`` (``t,m_kib,p``); ``apps/benchcommon.py`` reads them all.
- the database is already seeded (Flask-Security fsqla_v3 schema, table ``user``,
  1,000 active users, passwords argon2id over the pre-hash); the app must not
  create or alter tables at import.
- ``GET /api/public`` -> 200 JSON, no auth.
- ``GET /api/me`` -> 200 JSON for the user, under ``auth_required`` (session cookie or
  ``Authentication-Token`` header), 401 when neither is valid.
- ``GET /login`` with ``Accept: application/json`` -> 200 JSON whose
  ``response.csrf_token`` is the CSRF token, plus the pre-login session cookie.
- ``POST /login`` JSON ``{"email", "password", "csrf_token"}`` (with that cookie):
  200 and an authenticated session cookie; with ``?include_auth_token`` the body has
  ``response.user.authentication_token``; wrong password -> 400 whose errors mention
  the password (not CSRF); missing CSRF -> 400. Under overload 503 (or 429) is the
  expected fast refusal.
- requests carry ``User-Agent: qs-bench/1`` throughout (session protection).

Adding a system = one ``System(...)`` entry in the registry below.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import client
import procs

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
LUA = HERE / "lua"
WORK = HERE / ".work"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(APPS))

import benchcommon as bc  # noqa: E402

NCPU = len(os.sched_getaffinity(0))

# ---------------------------------------------------------------------------
# SERVER KINDS: how each production server is launched (one process tree each).
# ---------------------------------------------------------------------------


def _gunicorn(worker_class: str, workers: int, threads: int = 1) -> list[str]:
    argv = [str(VENV_BIN / "gunicorn"), "--worker-class", worker_class, "--workers", str(workers)]
    if threads > 1:
        argv += ["--threads", str(threads)]
    return [*argv, "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning"]


def _hypercorn(workers: int) -> list[str]:
    return [
        str(VENV_BIN / "hypercorn"),
        "--workers",
        str(workers),
        "--backlog",
        "2048",  # gunicorn's default; hypercorn's 100 would refuse the overload scenario
        "--graceful-timeout",
        "5",
        "--log-level",
        "warning",
    ]


SERVER_KINDS: dict[str, tuple[str, list[str]]] = {
    # name: (label, argv before "--bind ... module:app")
    "gunicorn-sync": (f"gunicorn sync x{2 * NCPU + 1}", _gunicorn("sync", 2 * NCPU + 1)),
    "gunicorn-gthread": (f"gunicorn gthread {NCPU}x8", _gunicorn("gthread", NCPU, 8)),
    "hypercorn-w1": ("hypercorn -w1", _hypercorn(1)),
    "hypercorn-w2": ("hypercorn -w2", _hypercorn(2)),
}

# ---------------------------------------------------------------------------
# SYSTEM REGISTRY: every system under test is one entry here.
# ---------------------------------------------------------------------------

Role = Literal["reference", "ceiling", "baseline", "candidate"]


@dataclass(frozen=True)
class System:
    name: str  # label in tables and charts
    app: str  # "module:attr", module in benchmarks/apps/ (see "App interface" above)
    servers: tuple[str, ...]  # keys of SERVER_KINDS
    role: Role  # reference = Flask-Security; ceiling = bare Quart; candidate = ours
    note: str = ""
    default: bool = True  # part of a run without --systems


SYSTEMS: tuple[System, ...] = (
    System(
        "flask-security",
        "flask_security_app:app",
        ("gunicorn-sync", "gunicorn-gthread"),
        "reference",
        "Flask-Security 5.9.2, defaults, fsqla_v3",
    ),
    System(
        "bare-flask",
        "bare_flask:app",
        ("gunicorn-sync", "gunicorn-gthread"),
        "baseline",
        "Flask, signed session + 1 Core query",
        default=False,  # not one of issue 7's systems: add it with --systems
    ),
    System(
        "bare-quart",
        "bare_quart:app",
        ("hypercorn-w1", "hypercorn-w2"),
        "ceiling",
        "Quart + quart-auth + 1 async Core query, argon2 via to_thread",
    ),
    System(
        "ours",
        "ours_quart:app",
        ("hypercorn-w1", "hypercorn-w2"),
        "candidate",
        "quart_security on Quart",
    ),
    System(
        "ours-flask-compat",
        "ours_flask_compat:app",
        ("gunicorn-gthread",),
        "candidate",
        "quart_security through flask_compat (Flask-Security's app, imports changed)",
    ),
)

# ---------------------------------------------------------------------------
# SCENARIOS
# ---------------------------------------------------------------------------

ScenarioKind = Literal["get", "login", "storm", "flood"]


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: ScenarioKind
    path: str = "/api/me"
    auth: str = ""  # "", "cookie" or "token" (get kinds)
    wrong_password: bool = False  # login kinds
    conns_key: str = "get"  # which --*-conns list applies
    title: str = ""


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("public", "get", "/api/public", title="public GET"),
        Scenario(
            "public_cookie",
            "get",
            "/api/public",
            auth="cookie",
            title="public GET carrying a session cookie (anchor goal 2)",
        ),
        Scenario("me_cookie", "get", auth="cookie", title="auth GET (session cookie)"),
        Scenario("me_token", "get", auth="token", title="auth GET (Authentication-Token)"),
        Scenario("login_ok", "login", conns_key="login", title="POST /login, right password"),
        Scenario(
            "login_bad",
            "login",
            wrong_password=True,
            conns_key="login",
            title="POST /login, wrong password",
        ),
        Scenario(
            "storm",
            "storm",
            auth="cookie",
            conns_key="storm",
            title="auth GET during a 32-connection login storm",
        ),
        Scenario(
            "overload",
            "login",
            conns_key="overload",
            title="POST /login at 10x the storm (memory, 503s)",
        ),
        Scenario(
            "flood",
            "flood",
            conns_key="flood",
            title="a second client's logins during a 60-connection wrong-password flood",
        ),
    )
}
DEFAULT_SCENARIOS = {
    "sqlite": [
        "public",
        "public_cookie",
        "me_cookie",
        "me_token",
        "login_ok",
        "login_bad",
        "storm",
        "overload",
    ],
    "postgres": ["me_cookie", "me_token", "login_ok", "storm"],
}
STORM_CONNS = 32
# The flood scenario (issue 17): flooder and probe send from loopback addresses of their
# own (flood.py binds them), so the server sees two clients; the runner's own requests
# (credentials, preflight) come from 127.0.0.1.
FLOOD_CONNS = 60
FLOOD_SOURCE = "127.0.0.2"
PROBE_SOURCE = "127.0.0.3"
# Login runs start this long before their measured window: 16 threads x 4 argon2 lanes
# on 2 busy cores take ~3 s to give their first answers.
LOGIN_LEAD_S = 3.0

# ---------------------------------------------------------------------------
# Targets: running servers
# ---------------------------------------------------------------------------


@dataclass
class Target:
    system: System
    server: str
    db: str  # "sqlite" | "postgres"
    db_url: str
    db_url_async: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    creds_at: float = -1e9
    dir: Path = field(default_factory=Path)

    @property
    def id(self) -> str:
        return f"{self.system.name}/{self.server}/{self.db}"

    @property
    def slug(self) -> str:
        return self.id.replace("/", "__")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(cfg: Config, target: Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "QS_"))}
    env.update(
        BENCH_DB_URL=target.db_url,
        BENCH_DB_URL_ASYNC=target.db_url_async,
        BENCH_SECRET_KEY=cfg.secret_key,
        BENCH_PASSWORD_SALT=cfg.salt,
        BENCH_ARGON2=cfg.argon2.text(),
        BENCH_RATE_LIMITS="1" if cfg.rate_limits else "0",
        # the repository too, so "ours" is this checkout's code whatever venv runs it
        PYTHONPATH=os.pathsep.join((str(APPS), str(HERE.parent))),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_target(cfg: Config, target: Target) -> None:
    target.port = free_port()
    _, argv = SERVER_KINDS[target.server]
    argv = [*argv, "--bind", f"127.0.0.1:{target.port}", target.system.app]
    target.proc = procs.spawn(
        argv, env=app_env(cfg, target), cwd=APPS, log=target.dir / "server.log"
    )
    try:
        client.wait_ready(target.port, timeout=60)
    except RuntimeError as exc:
        raise RuntimeError(f"{target.id}: {exc}; see {target.dir / 'server.log'}") from exc


def refresh_creds(cfg: Config, target: Target, *, force: bool = False) -> None:
    """Real logins for the GET scenarios, and a pool of pre-login (cookie, CSRF) pairs.

    Redone every 10 minutes: Flask-Security auth tokens expire after 15 by default.
    """
    if not force and time.monotonic() - target.creds_at < 600:
        return
    sessions = [client.login(target.port, *cfg.users[i]) for i in range(cfg.auth_users)]
    (target.dir / "auth_cookie.txt").write_text("".join(s.cookie + "\n" for s in sessions))
    (target.dir / "auth_token.txt").write_text("".join(s.token + "\n" for s in sessions))
    lines = []
    for _ in range(cfg.login_pool):
        pre = client.pre_login(target.port)
        lines.append(f"{client.cookie_header(pre.cookies)}\t{pre.csrf_token}\n")
    (target.dir / "login_pool.txt").write_text("".join(lines))
    target.creds_at = time.monotonic()
    if force:
        check = client.preflight(target.port, cfg.users, sessions[0])
        (target.dir / "preflight.json").write_text(json.dumps(check, indent=1))
        if not check["ok"]:
            raise RuntimeError(f"{target.id}: preflight failed: {check.get('mismatch')}")


# ---------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------


def wrk_argv(conns: int, duration: float, script: str, port: int) -> list[str]:
    return [
        "wrk",
        "-t",
        str(min(2, conns)),
        "-c",
        str(conns),
        "-d",
        f"{max(1, math.ceil(duration))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA / script),
        f"http://127.0.0.1:{port}",
    ]


def wrk_env(
    cfg: Config, target: Target, scen: Scenario, conns: int, marks: tuple[int, int] | None
) -> dict[str, str]:
    env = dict(os.environ)
    if marks is not None:
        env.update(BENCH_MARK_FROM=str(marks[0]), BENCH_MARK_TO=str(marks[1]))
    env.update(BENCH_LUA_DIR=str(LUA), BENCH_THREADS=str(min(2, conns)))
    if scen.kind == "login" or scen.name == "storm-login":
        env.update(
            BENCH_USERS_FILE=str(cfg.users_file),
            BENCH_LOGIN_POOL=str(target.dir / "login_pool.txt"),
            BENCH_WRONG="1" if scen.wrong_password else "0",
        )
    else:
        env["BENCH_PATH"] = scen.path
        if scen.auth:
            env["BENCH_AUTH_HEADER"] = "Cookie" if scen.auth == "cookie" else "Authentication-Token"
            env["BENCH_AUTH_FILE"] = str(target.dir / f"auth_{scen.auth}.txt")
    return env


@contextlib.contextmanager
def wrk_running(
    cfg: Config,
    target: Target,
    scen: Scenario,
    conns: int,
    duration: float,
    log: Path,
    marks: tuple[int, int] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    script = "login.lua" if scen.kind == "login" or scen.name == "storm-login" else "get.lua"
    log.unlink(missing_ok=True)
    proc = procs.spawn(
        wrk_argv(conns, duration, script, target.port),
        env=wrk_env(cfg, target, scen, conns, marks),
        cwd=HERE,
        log=log,
    )
    try:
        yield proc
        proc.wait(timeout=duration + 40)
    finally:
        procs.stop(proc, grace=2.0)


def parse_wrk(log: Path) -> dict[str, Any]:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            data["duration_s"] = data.pop("duration_us") / 1e6
            data["rps"] = data["requests"] / data["duration_s"] if data["duration_s"] else 0.0
            lat = data.pop("latency_us")
            # no completed request (e.g. every worker busy hashing): no latency to report
            data["latency_ms"] = {
                k: (v / 1000 if data["requests"] else float("nan")) for k, v in lat.items()
            }
            return data
    raise RuntimeError(f"no BENCH_JSON line in {log}: {log.read_text()[-2000:]}")


def run_wrk(
    cfg: Config, target: Target, scen: Scenario, conns: int, duration: float, log: Path
) -> dict[str, Any]:
    with wrk_running(cfg, target, scen, conns, duration, log):
        pass
    return parse_wrk(log)


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    t: float
    server_cpu: float
    db_cpu: float
    busy: float
    child_cpu: float
    server: procs.TreeSample

    @classmethod
    def take(cls, cfg: Config, target: Target) -> Snapshot:
        assert target.proc is not None
        db_cpu = 0.0
        if target.db == "postgres" and cfg.pg_pid:
            db_cpu = procs.sample_tree(cfg.pg_pid).cpu_s
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        server = procs.sample_tree(target.proc.pid)
        return cls(
            time.monotonic(),
            server.cpu_s,
            db_cpu,
            procs.machine_busy_s()[0],
            ru.ru_utime + ru.ru_stime,
            server,
        )


def cpu_fields(before: Snapshot, after: Snapshot, requests: int) -> dict[str, Any]:
    wall = max(1e-9, after.t - before.t)
    server = after.server_cpu - before.server_cpu
    db = after.db_cpu - before.db_cpu
    client_cpu = after.child_cpu - before.child_cpu  # wrk runs reaped in between
    other = (after.busy - before.busy) - server - db - client_cpu
    per = 1e6 / requests if requests else float("nan")
    return {
        "server_cpu_s": server,
        "server_cpu_us_per_req": server * per,
        "db_cpu_us_per_req": db * per,
        "server_cores_busy": server / wall,
        "wrk_share": client_cpu / (wall * NCPU),
        "neighbour_share": max(0.0, other / (wall * NCPU)),
        "busiest_proc_share": procs.busiest_share(before.server, after.server),
    }


def validity(scen: Scenario, res: dict[str, Any]) -> tuple[bool, str]:
    n = max(1, res["requests"])
    e = res["errors"]
    sockets = e["connect"] + e["read"] + e["write"] + e["timeout"]
    if scen.name == "overload":
        return True, ""  # refusals and socket errors are the point; reported as is
    if scen.kind == "login":
        # 503/429 are allowed answers (a bounded hashing queue refusing fast); they are
        # reported as "refused/s" and do not count as logins.
        want = "400" if scen.wrong_password else "200"
        win = res["window_status"]
        total = sum(win.values())
        fine = win.get(want, 0) + win.get("503", 0) + win.get("429", 0)
        if not total or fine < 0.99 * total or sockets:
            return False, f"expected {want} (or 503/429) in window: {win}, socket errors {sockets}"
        return True, ""
    if not res["requests"]:
        return False, "no request completed"
    bad = e["status"] + sockets
    if bad > 0.01 * n:
        return False, f"{bad} errors of {n} (status {e['status']}, sockets {sockets})"
    return True, ""


def settle(cfg: Config) -> None:
    """Before a measurement: every server idle, not only the one about to be measured."""
    procs.wait_idle([t.proc.pid for t in cfg.targets if t.proc], timeout=cfg.drain_timeout)


def drain(cfg: Config, target: Target) -> float:
    """Seconds until the server is idle after the load; restart it if it never gets there.

    Flask servers finish every queued login for clients that are gone (hundreds after the
    overload scenario); a restart drops that work so the next measurement starts clean.
    """
    assert target.proc is not None
    seconds = procs.wait_idle([target.proc.pid], timeout=cfg.drain_timeout)
    if seconds >= cfg.drain_timeout:
        print(f"    {target.id} still busy after {seconds:.0f} s: restarting it", flush=True)
        procs.stop(target.proc)
        start_target(cfg, target)
        refresh_creds(cfg, target, force=True)
    return seconds


def _sleep_until(epoch: float) -> None:
    while (left := epoch - time.time()) > 0:
        time.sleep(min(left, 0.5))


def window_marks(cfg: Config, lead: float) -> tuple[int, int]:
    """Integer-second window, ``lead`` seconds ahead at least (Lua's os.time() is in s)."""
    start = math.ceil(time.time() + lead)
    return start, start + max(1, round(cfg.duration))


def split_status(res: dict[str, Any]) -> None:
    raw = res.pop("status", {}) or {}
    res["status"] = {k[1:]: v for k, v in raw.items() if k.startswith("s") and v}
    res["window_status"] = {k[1:]: v for k, v in raw.items() if k.startswith("w") and v}


def measure_login(
    cfg: Config, target: Target, scen: Scenario, conns: int, rep: int
) -> dict[str, Any]:
    """One long wrk run; counts and CPU taken inside a steady-state window.

    Closed-loop logins ramp up slowly (32 hashes queue before the first answer), so a
    separate warm-up run + fresh run would count the ramp; here the warm-up is the
    lead-in of the same run.
    """
    assert target.proc is not None
    refresh_creds(cfg, target)
    settle(cfg)
    log = target.dir / f"wrk-{scen.name}-c{conns}-r{rep}.log"
    marks = window_marks(cfg, max(LOGIN_LEAD_S, cfg.warmup + 0.5))
    total = marks[1] - time.time() + 1
    peak = procs.RssPeak(target.proc.pid)
    with peak.running(), wrk_running(cfg, target, scen, conns, total, log, marks):
        _sleep_until(marks[0])
        before = Snapshot.take(cfg, target)
        _sleep_until(marks[1])
        after = Snapshot.take(cfg, target)
    res = parse_wrk(log)
    split_status(res)
    window_s = marks[1] - marks[0]
    win = res["window_status"]
    n = sum(win.values())
    good = win.get("400" if scen.wrong_password else "200", 0)
    res["rps"] = n / window_s  # every answer, refusals included
    res["ok_per_s"] = good / window_s  # logins (login_bad: rejected wrong passwords)
    res["refused_per_s"] = (win.get("503", 0) + win.get("429", 0)) / window_s
    res["window_s"] = window_s
    res.update(cpu_fields(before, after, n))
    res["server_cpu_us_per_ok"] = res["server_cpu_s"] * 1e6 / good if good else float("nan")
    res["rss_peak_mb"] = peak.peak
    res["drain_s"] = drain(cfg, target)
    res["valid"], res["invalid_reason"] = validity(scen, res)
    return res


def measure(cfg: Config, target: Target, scen: Scenario, conns: int, rep: int) -> dict[str, Any]:
    assert target.proc is not None
    if scen.kind == "login":
        return measure_login(cfg, target, scen, conns, rep)
    refresh_creds(cfg, target)
    log = target.dir / f"wrk-{scen.name}-c{conns}-r{rep}.log"
    settle(cfg)
    if cfg.warmup > 0:
        run_wrk(cfg, target, scen, conns, cfg.warmup, log.with_suffix(".warm.log"))
        settle(cfg)
    peak = procs.RssPeak(target.proc.pid)
    with peak.running():
        before = Snapshot.take(cfg, target)
        res = run_wrk(cfg, target, scen, conns, cfg.duration, log)
        after = Snapshot.take(cfg, target)
    res.update(cpu_fields(before, after, res["requests"]))
    res["rss_peak_mb"] = peak.peak
    res["drain_s"] = drain(cfg, target)
    res["valid"], res["invalid_reason"] = validity(scen, res)
    return res


def measure_storm(cfg: Config, target: Target, conns: int, rep: int) -> dict[str, Any]:
    """32 connections storm /login while a second wrk measures authenticated GETs."""
    assert target.proc is not None
    refresh_creds(cfg, target)
    settle(cfg)
    storm_scen = Scenario("storm-login", "login")
    probe_scen = SCENARIOS["me_cookie"]
    # the storm fills the server first; the probe then runs inside the storm's window
    marks = window_marks(cfg, max(LOGIN_LEAD_S, cfg.warmup + 0.5))
    storm_log = target.dir / f"wrk-storm-login-r{rep}.log"
    probe_log = target.dir / f"wrk-storm-probe-c{conns}-r{rep}.log"
    peak = procs.RssPeak(target.proc.pid)
    with (
        peak.running(),
        wrk_running(
            cfg, target, storm_scen, STORM_CONNS, marks[1] - time.time() + 1.5, storm_log, marks
        ),
    ):
        _sleep_until(marks[0])
        before = Snapshot.take(cfg, target)
        probe = run_wrk(cfg, target, probe_scen, conns, marks[1] - marks[0], probe_log)
        after = Snapshot.take(cfg, target)
    storm = parse_wrk(storm_log)
    split_status(storm)
    res: dict[str, Any] = {
        "probe": probe,
        "storm": storm,
        "rps": probe["rps"],
        "requests": probe["requests"],
        "errors": probe["errors"],
        "latency_ms": probe["latency_ms"],
        "storm_logins_per_s": storm["window_status"].get("200", 0) / (marks[1] - marks[0]),
    }
    res.update(cpu_fields(before, after, probe["requests"]))
    res["rss_peak_mb"] = peak.peak
    res["drain_s"] = drain(cfg, target)
    ok, why = validity(probe_scen, probe) if probe["requests"] else (True, "")
    res["valid"], res["invalid_reason"] = ok, why
    return res


def flood_tool(
    target: Target, cfg: Config, mode: str, source: str, until: float, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        str(HERE / "flood.py"),
        mode,
        "--port",
        str(target.port),
        "--source",
        source,
        "--users-file",
        str(cfg.users_file),
        "--until",
        str(until),
        *extra,
    ]
    if mode == "probe" and cfg.rate_limits:
        # Under the limits the probe stands for many users: one address per login
        # (one address signing in 7 times a second is itself a flood).
        argv.append("--rotate-sources")
    log.unlink(missing_ok=True)
    return procs.spawn(argv, env=dict(os.environ), cwd=HERE, log=log)


def flood_result(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> dict[str, Any]:
    try:
        proc.wait(timeout=timeout)
    finally:
        procs.stop(proc, grace=2.0)
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("BENCH_JSON "):
            data: dict[str, Any] = json.loads(line[len("BENCH_JSON ") :])
            return data
    raise RuntimeError(f"no BENCH_JSON line in {log}: {log.read_text()[-2000:]}")


def wait_for_line(log: Path, marker: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and marker in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"no {marker} in {log}: {log.read_text(errors='replace')[-2000:]}")


def measure_flood(cfg: Config, target: Target, conns: int, rep: int) -> dict[str, Any]:
    """A probe client's right-password logins, alone and then during a wrong-password flood.

    The probe (one connection, sequential logins from PROBE_SOURCE) first runs alone for
    the measured duration; then ``conns`` flood connections from FLOOD_SOURCE fill the
    server and the probe runs again inside the flood's steady-state window. Reported:
    the probe's logins/s, success rate and latency in both runs, and what the flooder
    got (by status) in the window. A server that cannot tell the two sources apart
    serves the probe like one more flood connection.
    """
    assert target.proc is not None
    refresh_creds(cfg, target)
    settle(cfg)
    alone_log = target.dir / f"flood-probe-alone-r{rep}.log"
    alone = flood_result(
        flood_tool(target, cfg, "probe", PROBE_SOURCE, time.time() + cfg.duration, alone_log),
        alone_log,
        cfg.duration + 40,
    )
    if alone["status"].get("socket") or not alone["status"].get("200"):
        raise RuntimeError(f"the probe alone did not sign in cleanly: {alone['status']}")
    settle(cfg)
    marks = window_marks(cfg, max(LOGIN_LEAD_S, cfg.warmup + 0.5))
    flood_log = target.dir / f"flood-c{conns}-r{rep}.log"
    probe_log = target.dir / f"flood-probe-r{rep}.log"
    # the probe's pre-login happens now, before the flood; its logins start at the mark
    probe = flood_tool(
        target,
        cfg,
        "probe",
        PROBE_SOURCE,
        float(marks[1]),
        probe_log,
        "--start",
        str(marks[0]),
    )
    try:
        wait_for_line(probe_log, "BENCH_READY", probe, 30)
    except BaseException:
        procs.stop(probe, grace=2.0)
        raise
    peak = procs.RssPeak(target.proc.pid)
    flooder = flood_tool(
        target,
        cfg,
        "flood",
        FLOOD_SOURCE,
        marks[1] + 0.5,
        flood_log,
        "--conns",
        str(conns),
        "--mark-from",
        str(marks[0]),
        "--mark-to",
        str(marks[1]),
    )
    try:
        with peak.running():
            _sleep_until(marks[0])
            before = Snapshot.take(cfg, target)
            during = flood_result(probe, probe_log, marks[1] - time.time() + 40)
            after = Snapshot.take(cfg, target)
        flood = flood_result(flooder, flood_log, 60)
    finally:
        procs.stop(probe, grace=2.0)
        procs.stop(flooder, grace=2.0)
    window_s = marks[1] - marks[0]
    win = flood["window_status"]
    res: dict[str, Any] = {
        "probe": during,
        "probe_alone": alone,
        "flood": flood,
        "rps": during["ok_per_s"],  # the probe's logins/s during the flood
        "requests": during["attempts"],
        "errors": {"socket": during["status"].get("socket", 0)},
        "latency_ms": during["latency_ms"],
        "status": during["status"],
        "flood_answers_per_s": sum(win.values()) / window_s,
        "flood_refused_per_s": (win.get("429", 0) + win.get("503", 0)) / window_s,
        "flood_window_status": win,
        "window_s": window_s,
    }
    res.update(cpu_fields(before, after, sum(win.values()) + during["attempts"]))
    res["rss_peak_mb"] = peak.peak
    res["drain_s"] = drain(cfg, target)
    # the probe's timeouts during the flood are the result, not a harness failure
    res["valid"] = bool(during["attempts"])
    res["invalid_reason"] = "" if res["valid"] else "the probe sent nothing"
    return res


def run_owned(argv: list[str], env: dict[str, str], timeout: float, log: Path) -> str:
    """Run a helper in its own process group (its multiprocessing children die with it)."""
    proc = procs.spawn(argv, env=env, cwd=HERE, log=log)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        procs.stop(proc, grace=2.0)
    text = log.read_text(errors="replace")
    if rc != 0:
        raise RuntimeError(f"{Path(argv[1]).name} failed ({rc}):\n{text[-3000:]}")
    return text.strip().splitlines()[-1]


def measure_floor(cfg: Config, rep: int) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(HERE / "floor.py"),
        "--argon2",
        cfg.argon2.text(),
        "--duration",
        str(cfg.duration),
    ]
    log = WORK / "run" / f"floor-r{rep}.log"
    data: dict[str, Any] = json.loads(run_owned(argv, dict(os.environ), cfg.duration + 120, log))
    return data


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------


@dataclass
class Config:
    quick: bool
    reps: int
    duration: float
    warmup: float
    get_conns: list[int]
    login_conns: list[int]
    storm_conns: list[int]
    overload_conns: list[int]
    dbs: list[str]
    scenarios: dict[str, list[str]]
    systems: list[System]
    users_n: int
    auth_users: int
    login_pool: int
    argon2: bc.Argon2Params
    salt: str
    secret_key: str
    pg_url: str
    pg_pid: int
    budget_s: float
    drain_timeout: float
    out_dir: Path
    #: Our rate limits (on by default in the library) in the apps under test; off
    #: unless --rate-limits: every load comes from 127.0.0.1, and Flask-Security
    #: has none, so throughput is compared without them.
    rate_limits: bool = False
    users: list[tuple[str, str]] = field(default_factory=list)
    users_file: Path = WORK / "run" / "users.tsv"
    targets: list[Target] = field(default_factory=list)

    def conns_for(self, scen: Scenario) -> list[int]:
        return {
            "get": self.get_conns,
            "login": self.login_conns,
            "storm": self.storm_conns,
            "overload": self.overload_conns,
            "flood": [FLOOD_CONNS],
        }[scen.conns_key]


def plan(cfg: Config, targets: list[Target]) -> list[tuple[int, str, int, list[Target]]]:
    """[(rep, scenario, conns, targets in this rep's rotated order)]."""
    steps = []
    for rep in range(cfg.reps):
        for name in SCENARIOS:
            scen = SCENARIOS[name]
            for conns in cfg.conns_for(scen):
                group = [t for t in targets if name in cfg.scenarios[t.db]]
                if not group:
                    continue
                k = rep % len(group)
                steps.append((rep, name, conns, group[k:] + group[:k]))
    return steps


def estimate_s(cfg: Config, steps: list[tuple[int, str, int, list[Target]]]) -> float:
    """Rough wall time: runs, lead-ins and typical drains (measured on the 2-core box)."""
    total = 0.0
    for _, name, _, ts in steps:
        kind = SCENARIOS[name].kind
        if kind == "get":
            per = cfg.warmup + cfg.duration + 2.0
        else:  # login, storm: lead-in, tail, drain (Flask servers finish queued hashes)
            per = LOGIN_LEAD_S + cfg.duration + 2.0 + 6.0
        if name == "overload":
            per += 30.0  # gunicorn drains 30-60 s after 320 queued logins
        if name == "flood":
            per += cfg.duration  # the probe's run alone
        total += len(ts) * per
    return total + cfg.reps * (cfg.duration + 5)


def seed(cfg: Config, db: str, url: str) -> dict[str, Any]:
    env = dict(os.environ, BENCH_SECRET_KEY=cfg.secret_key, PYTHONPATH=str(APPS))
    argv = [
        sys.executable,
        str(HERE / "seed.py"),
        "--db-url",
        url,
        "--users",
        str(cfg.users_n),
        "--argon2",
        cfg.argon2.text(),
        "--salt",
        cfg.salt,
        "--work",
        str(WORK),
        "--users-file",
        str(cfg.users_file),
    ]
    info: dict[str, Any] = json.loads(run_owned(argv, env, 3600, WORK / "run" / f"seed-{db}.log"))
    print(f"  seeded {db}: {info}", flush=True)
    return info


def pg_urls(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[1]
    return f"postgresql+psycopg://{rest}", f"postgresql+asyncpg://{rest}"


def build_targets(cfg: Config, seed_info: dict[str, Any]) -> list[Target]:
    run_dir = WORK / "run"
    targets = []
    for db in cfg.dbs:
        if db == "sqlite":
            seed_file = run_dir / "seed.db"
            seed_info["sqlite"] = seed(cfg, "sqlite", f"sqlite:///{seed_file}")
        else:
            seed_info["postgres"] = seed(cfg, "postgres", pg_urls(cfg.pg_url)[0])
        for system in cfg.systems:
            for server in system.servers:
                t = Target(system, server, db, "", "")
                t.dir = run_dir / t.slug
                t.dir.mkdir(parents=True, exist_ok=True)
                if db == "sqlite":
                    db_file = t.dir / "bench.db"  # one file per target: no shared locks
                    shutil.copyfile(run_dir / "seed.db", db_file)
                    t.db_url, t.db_url_async = (
                        f"sqlite:///{db_file}",
                        f"sqlite+aiosqlite:///{db_file}",
                    )
                else:
                    t.db_url, t.db_url_async = pg_urls(cfg.pg_url)
                targets.append(t)
    return targets


def source_state() -> str:
    """The commit under test, marked when tracked files differ from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" + uncommitted changes" if dirty else "")


def run(cfg: Config) -> dict[str, Any]:
    t0 = time.monotonic()
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    source = source_state()
    run_dir = WORK / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    seed_info: dict[str, Any] = {}
    targets = build_targets(cfg, seed_info)
    cfg.users = [
        (a, b) for a, b in (line.split("\t") for line in cfg.users_file.read_text().splitlines())
    ]
    cfg.targets = targets
    for t in targets:
        print(f"  starting {t.id} on 127.0.0.1", flush=True)
        start_target(cfg, t)
        refresh_creds(cfg, t, force=True)
    steps = plan(cfg, targets)
    eta = estimate_s(cfg, steps)
    print(
        f"  {len(targets)} targets, {sum(len(s[3]) for s in steps)} measurements, "
        f"about {eta / 60:.0f} min (budget {cfg.budget_s / 60:.0f} min)",
        flush=True,
    )
    records: list[dict[str, Any]] = []
    truncated = False
    floors_done: set[int] = set()
    for rep, name, conns, order in steps:
        if rep not in floors_done:
            floors_done.add(rep)
            print(f"[rep {rep + 1}/{cfg.reps}] argon2 floor", flush=True)
            fl = measure_floor(cfg, rep)
            records.append({"target": "machine", "scenario": "argon2_floor", "rep": rep, **fl})
            print(f"    {fl['verifies_per_s']:.2f} verifies/s on {fl['cores']} cores", flush=True)
        for t in order:
            if time.monotonic() - t0 > cfg.budget_s:
                truncated = True
                break
            scen = SCENARIOS[name]
            label = f"[rep {rep + 1}/{cfg.reps}] {name:9s} c={conns:<3d} {t.id}"
            try:
                if scen.kind == "storm":
                    res = measure_storm(cfg, t, conns, rep)
                elif scen.kind == "flood":
                    res = measure_flood(cfg, t, conns, rep)
                else:
                    res = measure(cfg, t, scen, conns, rep)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                res = {"valid": False, "invalid_reason": f"{type(exc).__name__}: {exc}"}
            rec = {
                "target": t.id,
                "system": t.system.name,
                "role": t.system.role,
                "server": t.server,
                "db": t.db,
                "scenario": name,
                "conns": conns,
                "rep": rep,
                **res,
            }
            records.append(rec)
            print(f"{label}: {short(rec)}", flush=True)
        if truncated:
            print("!! time budget exhausted: stopping early (results are partial)", flush=True)
            break
    return {
        "meta": meta(cfg, seed_info, started, time.monotonic() - t0, truncated)
        | {"source": source},
        "targets": [
            {
                "id": t.id,
                "system": t.system.name,
                "role": t.system.role,
                "server": t.server,
                "server_label": SERVER_KINDS[t.server][0],
                "db": t.db,
                "note": t.system.note,
            }
            for t in targets
        ],
        "records": records,
    }


def clean(obj: Any) -> Any:
    """NaN -> None, so results.json stays strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def short(rec: dict[str, Any]) -> str:
    if not rec.get("valid") and "rps" not in rec:
        return f"FAILED {rec.get('invalid_reason')}"
    lat = rec["latency_ms"]
    s = (
        f"{rec['rps']:8.1f} req/s  p50 {lat['p50']:7.1f} ms  p99 {lat['p99']:7.1f} ms  "
        f"cpu {rec['server_cpu_us_per_req']:8.0f} us/req  drain {rec['drain_s']:.1f}s"
    )
    share = rec.get("busiest_proc_share")
    if isinstance(share, float) and share == share:  # not NaN
        s += f"  top proc {share:.0%}"
    if "storm_logins_per_s" in rec:
        s += f"  storm {rec['storm_logins_per_s']:.1f} logins/s"
    if "probe_alone" in rec:
        alone, during = rec["probe_alone"], rec["probe"]
        s += (
            f"  probe alone {alone['ok_per_s']:.1f} logins/s p99 "
            f"{alone['latency_ms']['p99']:.0f} ms, in flood {during['success_rate']:.0%} ok;"
            f" flood {rec['flood_window_status']}"
        )
    if rec.get("status"):
        s += f"  {rec['status']}"
    if not rec["valid"]:
        s += f"  INVALID: {rec['invalid_reason']}"
    return s


def meta(
    cfg: Config, seed_info: dict[str, Any], started: str, elapsed: float, truncated: bool
) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in (
        "flask-security",
        "flask",
        "flask-login",
        "flask-sqlalchemy",
        "sqlalchemy",
        "quart",
        "quart-auth",
        "hypercorn",
        "gunicorn",
        "argon2-cffi",
        "libpass",
        "psycopg",
        "asyncpg",
        "aiosqlite",
        "quart-flask-security",
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[pkg] = version(pkg)
    wrk_v = "not installed"
    if shutil.which("wrk"):
        wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "started": started,
        "elapsed_s": elapsed,
        "truncated": truncated,
        "quick": cfg.quick,
        "host": {
            "cpus": NCPU,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "kernel": platform.release(),
            "wrk": wrk_v.strip(),
        },
        "versions": versions,
        "config": {
            "reps": cfg.reps,
            "duration_s": cfg.duration,
            "warmup_s": cfg.warmup,
            "get_conns": cfg.get_conns,
            "login_conns": cfg.login_conns,
            "storm_conns": cfg.storm_conns,
            "storm_login_conns": STORM_CONNS,
            "overload_conns": cfg.overload_conns,
            "dbs": cfg.dbs,
            "scenarios": cfg.scenarios,
            "users": cfg.users_n,
            "auth_users": cfg.auth_users,
            "login_pool": cfg.login_pool,
            "argon2": asdict(cfg.argon2),
            "servers": {k: v[0] for k, v in SERVER_KINDS.items()},
            "systems": [asdict(s) for s in cfg.systems],
        },
        "seed": seed_info,
    }


def parse_args(argv: list[str] | None = None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 1 repetition, 3 s runs, 1 s warm-up, c=32 only",
    )
    ap.add_argument("--reps", type=int)
    ap.add_argument("--duration", type=float, help="measured seconds per wrk run (default 5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run (default 1)")
    ap.add_argument("--get-conns", help="comma list (default 32)")
    ap.add_argument("--login-conns", help="comma list (default 32)")
    ap.add_argument("--storm-conns", help="probe connections during the storm (default 32)")
    ap.add_argument("--db", default="sqlite,postgres", help="sqlite,postgres")
    ap.add_argument("--scenarios", help="comma list applied to every db (default: per db)")
    ap.add_argument(
        "--rate-limits",
        action="store_true",
        help="run our apps with the library's default rate limits (off by default: see Config)",
    )
    ap.add_argument("--systems", help="comma list of registry names (default: all but bare-flask)")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument(
        "--auth-users",
        type=int,
        default=4,
        help="distinct logged-in users rotated by the GET scenarios",
    )
    ap.add_argument("--login-pool", type=int, default=64)
    ap.add_argument(
        "--argon2",
        default=bc.DEFAULT_ARGON2,
        help="t,m_kib,p (default: argon2-cffi defaults 3,65536,4)",
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", ""),
        help="postgresql://user@127.0.0.1:port/db (run.sh starts one)",
    )
    ap.add_argument("--pg-datadir", default=os.environ.get("BENCH_PG_DATADIR", ""))
    ap.add_argument(
        "--budget-min",
        type=float,
        default=180.0,
        help="stop starting new measurements after this many minutes",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="output dir (default results/; --quick: .work/results-quick, never committed)",
    )
    a = ap.parse_args(argv)

    def ints(text: str | None, default: list[int]) -> list[int]:
        return [int(x) for x in text.split(",")] if text else default

    quick = a.quick
    dbs = [d for d in a.db.split(",") if d]
    pg_pid = 0
    if "postgres" in dbs:
        if not a.pg_url:
            print("!! no --pg-url / BENCH_PG_URL: skipping PostgreSQL", flush=True)
            dbs.remove("postgres")
        elif a.pg_datadir:
            pid_file = Path(a.pg_datadir) / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                pg_pid = int(pid_file.read_text().split("\n")[0])
    if a.pg_url and "postgres" in dbs and "@127.0.0.1:" not in a.pg_url:
        raise SystemExit("--pg-url must point at 127.0.0.1")
    scenarios = (
        {db: a.scenarios.split(",") for db in dbs}
        if a.scenarios
        else {db: list(DEFAULT_SCENARIOS[db]) for db in dbs}
    )
    for names in scenarios.values():
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            raise SystemExit(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
    systems = [s for s in SYSTEMS if s.default]
    if a.systems:
        wanted = a.systems.split(",")
        systems = [s for s in SYSTEMS if s.name in wanted]
        if len(systems) != len(wanted):
            raise SystemExit(f"unknown systems in {wanted}; known: {[s.name for s in SYSTEMS]}")
    return Config(
        quick=quick,
        reps=a.reps or (1 if quick else 3),
        duration=a.duration or (3.0 if quick else 5.0),
        warmup=a.warmup if a.warmup is not None else 1.0,
        get_conns=ints(a.get_conns, [32]),
        login_conns=ints(a.login_conns, [32]),
        storm_conns=ints(a.storm_conns, [32]),
        overload_conns=[10 * STORM_CONNS],
        dbs=dbs,
        scenarios=scenarios,
        systems=systems,
        users_n=a.users,
        auth_users=a.auth_users,
        login_pool=a.login_pool,
        argon2=bc.Argon2Params.parse(a.argon2),
        salt=bc.DEFAULT_SALT,
        secret_key=secrets.token_hex(32),
        pg_url=a.pg_url,
        pg_pid=pg_pid,
        budget_s=a.budget_min * 60,
        drain_timeout=60.0,
        out_dir=a.out or (WORK / "results-quick" if quick else HERE / "results"),
        rate_limits=a.rate_limits,
    )


_stopping = False


def _terminate(signum: int, frame: object) -> None:
    # First signal wins; later ones (run.sh forwards Ctrl-C as SIGTERM) must not
    # interrupt the cleanup that this one starts. A Python-level no-op (not SIG_IGN)
    # also absorbs a signal that is already pending.
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)  # also when started in the background
    signal.signal(signal.SIGHUP, _terminate)
    cfg = parse_args(argv)
    needs_wrk = any(SCENARIOS[n].kind != "flood" for names in cfg.scenarios.values() for n in names)
    if needs_wrk and shutil.which("wrk") is None:
        raise SystemExit("wrk not found (run.sh installs it)")
    try:
        results = run(cfg)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every server and load generator", flush=True)
        return 130
    finally:
        procs.stop_all()
    import report

    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    (cfg.out_dir / "results.json").write_text(json.dumps(clean(results), indent=1))
    report.write(results, cfg.out_dir)
    print(f"wrote {cfg.out_dir / 'results.json'}, results.md and charts", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
