"""The argon2 floor: how many password verifications this machine can do per second.

One process per usable core, each pinned to its core (as in the anchor), verifying
Flask-Security-style (HMAC pre-hash + argon2id) with the configured parameters for
``--duration`` seconds; the aggregate rate is the ceiling any login endpoint can reach.
Also reports one verify's wall and CPU time on one core.

usage: floor.py [--argon2 t,m,p] [--duration 8]   -> one JSON line
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

import benchcommon as bc


def _worker(core: int, params_text: str, duration: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    os.sched_setaffinity(0, {core})
    hasher = bc.Argon2Params.parse(params_text).hasher()
    stored = hasher.hash(bc.prehash("floor-password"))
    candidate = bc.prehash("floor-password")
    n = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + duration
    while time.perf_counter() < deadline:
        hasher.verify(stored, candidate)
        n += 1
    out.put((n, time.perf_counter() - start, time.process_time() - cpu0))


def measure(params: bc.Argon2Params, duration: float) -> dict[str, float | int | str]:
    cores = sorted(os.sched_getaffinity(0))
    hasher = params.hasher()
    stored = hasher.hash(bc.prehash("floor-password"))
    candidate = bc.prehash("floor-password")
    walls, cpus = [], []
    for _ in range(3):
        c0, w0 = time.process_time(), time.perf_counter()
        hasher.verify(stored, candidate)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(c, params.text(), duration, out)) for c in cores]
    for p in procs:
        p.start()
    results = [out.get(timeout=duration + 60) for _ in procs]
    for p in procs:
        p.join()
    rate = sum(n / wall for n, wall, _ in results)
    cpu_per = sum(cpu for _, _, cpu in results) / max(1, sum(n for n, _, _ in results))
    return {
        "argon2": params.text(),
        "cores": len(cores),
        "verifies_per_s": rate,
        "verify_ms_wall_1core": 1000 * min(walls),
        "verify_ms_cpu_1core": 1000 * min(cpus),
        "cpu_ms_per_verify_pinned": 1000 * cpu_per,
        "limit_from_cpu_per_s": len(cores) / cpu_per if cpu_per else 0.0,
        "duration_s": duration,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--argon2", default=bc.DEFAULT_ARGON2)
    ap.add_argument("--duration", type=float, default=8.0)
    args = ap.parse_args()
    print(json.dumps(measure(bc.Argon2Params.parse(args.argon2), args.duration)))


if __name__ == "__main__":
    main()
