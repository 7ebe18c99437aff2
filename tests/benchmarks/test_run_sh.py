"""benchmarks/run.sh --help works on a fresh clone and agrees with runner.py's defaults."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_help_prints_usage_without_building_anything(tmp_path: Path) -> None:
    """On a fresh clone (no benchmarks/.work) it exits 0 with usage and creates nothing.

    Run from a copy of the script, so the repository's own .work (if a
    benchmark ran here) plays no part.
    """
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "run.sh").write_text((ROOT / "benchmarks" / "run.sh").read_text())
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    for flag in ("--help", "-h"):
        done = subprocess.run(
            ["bash", str(bench / "run.sh"), "--quick", flag],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: bash benchmarks/run.sh [--quick]")
        assert "--quick" in done.stdout and done.stderr == ""
    assert sorted(p.name for p in bench.iterdir()) == ["run.sh"]  # no .work, no venv


RUNNER_DEFAULTS = """
import json, sys
sys.path[:0] = [".", "apps"]
import runner
out = {}
for name, argv in (("full", []), ("quick", ["--quick"])):
    c = runner.parse_args(["--db", "sqlite", *argv])
    out[name] = [c.reps, c.warmup, c.duration, c.get_conns]
print(json.dumps(out))
"""


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


def test_stated_defaults_are_the_runners() -> None:
    """The script's header and usage and the README say what runner.py defaults to.

    runner.py is asked in a subprocess (its modules, client and procs, are not
    this test process's to import).
    """
    import json
    import sys

    done = subprocess.run(
        [sys.executable, "-c", RUNNER_DEFAULTS],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    defaults = json.loads(done.stdout)
    reps, warmup, duration, conns = defaults["full"]
    full = f"{reps} repetitions, {_fmt(warmup)} warm-up + {_fmt(duration)} runs, c={conns[0]}"
    reps, warmup, duration, conns = defaults["quick"]
    quick = f"{reps} repetition, {_fmt(warmup)} warm-up + {_fmt(duration)} runs, c={conns[0]} only"
    script = (ROOT / "benchmarks" / "run.sh").read_text()
    assert full in script and quick in script
    header = "".join(line for line in script.splitlines(keepends=True) if line.startswith("#"))
    assert full in header and quick in header
    assert full in (ROOT / "benchmarks" / "README.md").read_text()
