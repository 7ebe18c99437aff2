"""Processes the runner owns: start in their own session, measure, always clean up.

CPU accounting reads /proc: utime+stime (+cutime+cstime, so workers that exited and
were reaped still count) summed over a process tree. That is "server CPU per request",
much less sensitive to noisy neighbours than req/s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_owned: list[subprocess.Popen[bytes]] = []
_lock = threading.Lock()


def spawn(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start a process in a new session so Ctrl-C reaches only the runner, which reaps it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    with _lock:
        _owned.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 8.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    # Workers may outlive a master that died first: sweep the group too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with _lock:
        if proc in _owned:
            _owned.remove(proc)


def stop_all() -> None:
    with _lock:
        procs = list(_owned)
    for proc in reversed(procs):
        stop(proc, grace=5.0)


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, cpu ticks incl. reaped children, rss pages) or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); ppid=4, utime=14, stime=15, cutime=16, cstime=17, rss=24
    ppid = int(fields[1])
    ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return ppid, ticks, int(fields[21])


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


@dataclass(frozen=True)
class TreeSample:
    cpu_s: float
    rss_mb: float
    nprocs: int
    cpu_by_pid: dict[int, float]


def sample_tree(root: int) -> TreeSample:
    ticks = rss = n = 0
    by_pid: dict[int, float] = {}
    for pid in tree_pids(root):
        st = _stat(pid)
        if st is not None:
            ticks += st[1]
            rss += st[2]
            n += 1
            by_pid[pid] = st[1] / CLK_TCK
    return TreeSample(ticks / CLK_TCK, rss * PAGE / 2**20, n, by_pid)


def busiest_share(before: TreeSample, after: TreeSample) -> float:
    """Share of the tree's CPU, between two samples, used by its busiest process.

    Tells a multi-worker server whose load went mostly to one worker (a share
    near 1.0 with 2 workers) from one that spread it (near 0.5).
    """
    deltas = [t - before.cpu_by_pid.get(pid, t) for pid, t in after.cpu_by_pid.items()]
    total = sum(deltas)
    return max(deltas) / total if total > 0 else float("nan")


def machine_busy_s() -> tuple[float, float]:
    """(busy CPU-seconds, total CPU-seconds) over all cores since boot, from /proc/stat."""
    parts = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def wait_idle(
    roots: list[int], *, threshold: float = 0.05, window: float = 0.5, timeout: float = 30.0
) -> float:
    """Wait until the trees use < ``threshold`` of one core over ``window``; return seconds."""
    start = time.monotonic()
    prev = sum(sample_tree(r).cpu_s for r in roots)
    while time.monotonic() - start < timeout:
        time.sleep(window)
        cur = sum(sample_tree(r).cpu_s for r in roots)
        if cur - prev < threshold * window:
            break
        prev = cur
    return time.monotonic() - start


class RssPeak:
    """Samples a tree's RSS in the background while a measurement runs."""

    def __init__(self, root: int, period: float = 0.5) -> None:
        self.root, self.period, self.peak = root, period, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sample_tree(self.root).rss_mb)
            self._stop.wait(self.period)

    @contextlib.contextmanager
    def running(self) -> Iterator[RssPeak]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
