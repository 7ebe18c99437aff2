#!/usr/bin/env bash
# One command for the whole benchmark comparison (issue 7):
#   benchmarks/run.sh            full run (3 repetitions, 1 s warm-up + 5 s runs, c=32; prints its estimate)
#   benchmarks/run.sh --quick    smoke check (1 repetition, 1 s warm-up + 3 s runs, c=32 only)
#   benchmarks/run.sh --help     usage (and runner.py's options once the venv exists); builds nothing
# Extra arguments go to runner.py; the defaults above are its own (parse_args).
#
# Sets up what it needs: its own venv in benchmarks/.work/venv (git-ignored) with
# Flask-Security 5.9.2 and the other systems' packages plus this repo (-e), wrk (apt) if
# missing, and a throwaway PostgreSQL cluster on 127.0.0.1:$BENCH_PGPORT (own state dir and
# port, never the test services'), stopped on exit, Ctrl-C or SIGTERM. Every load targets
# 127.0.0.1 and every run is bounded (wrk -d, subprocess timeouts, --budget-min).
# Results: benchmarks/results/results.{json,md} and *.png.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK="$HERE/.work"
VENV="$WORK/venv"
PGPORT=${BENCH_PGPORT:-54349}
PGSTATE=${BENCH_PG_STATE:-/tmp/qs-bench-pg}
PYTHON=${BENCH_PYTHON:-$(command -v python3.11 || command -v python3)}
REQS=(
  "flask-security[fsqla,common]==5.9.2" flask flask-sqlalchemy gunicorn
  quart quart-auth hypercorn "sqlalchemy[asyncio]" aiosqlite asyncpg "psycopg[binary]"
  argon2-cffi matplotlib pyinstrument
)

usage() {
  cat <<USAGE
usage: bash benchmarks/run.sh [--quick] [runner options]

  (no option)  full comparison: 3 repetitions, 1 s warm-up + 5 s runs, c=32
  --quick      smoke check: 1 repetition, 1 s warm-up + 3 s runs, c=32 only
  -h, --help   this text

Sets up its own venv ($VENV), wrk and a throwaway PostgreSQL on
127.0.0.1:$PGPORT (BENCH_PGPORT), then runs benchmarks/runner.py with the
other options (--reps, --duration, --warmup, --systems, --db, --scenarios, ...).
Results: benchmarks/results/.
USAGE
}

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    usage
    # runner.py's own option list needs the venv's packages: shown only once it exists.
    if [[ -x $VENV/bin/python ]] && runner_help=$(cd "$HERE" && "$VENV/bin/python" runner.py --help 2>/dev/null); then
      printf '\nrunner.py options:\n%s\n' "$runner_help"
    else
      printf '\nrunner.py lists every option once a first run has built the venv.\n'
    fi
    exit 0
  fi
done

mkdir -p "$WORK"

# --- venv: rebuilt when the requirement list changes --------------------------------
stamp=$(printf '%s\n' "${REQS[@]}" "$("$PYTHON" -V 2>&1)" | sha256sum | cut -c1-16)
if [[ ! -x $VENV/bin/python || $(cat "$VENV/.stamp" 2>/dev/null) != "$stamp" ]]; then
  echo "== venv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  { "$VENV/bin/python" -m pip install -q --upgrade pip &&
    "$VENV/bin/python" -m pip install -q "${REQS[@]}"; } >"$WORK/pip.log" 2>&1 ||
    { tail -n 30 "$WORK/pip.log"; echo "pip install failed (full log: $WORK/pip.log)" >&2; exit 1; }
  echo "$stamp" > "$VENV/.stamp"
fi
# the repo itself, editable (with its own dependencies), so "ours" runs from the working tree
"$VENV/bin/python" -m pip install -q -e "$ROOT[postgres,flask]" >"$WORK/pip-e.log" 2>&1 ||
  { tail -n 30 "$WORK/pip-e.log"; echo "pip install -e $ROOT failed" >&2; exit 1; }

# --- wrk ----------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

# --- throwaway PostgreSQL (recipe of scripts/services.sh, own dir and port) -----------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z $PGBIN ]]; then
  echo "== installing postgresql"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

RUNNER_PID=""
pg_stop() {
  if [[ -d $PGSTATE/data ]]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGSTATE/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGSTATE"
}
cleanup() {
  trap - EXIT INT TERM HUP
  if [[ -n $RUNNER_PID ]] && kill -0 "$RUNNER_PID" 2>/dev/null; then
    kill -TERM "$RUNNER_PID" 2>/dev/null || true   # the runner stops its servers and wrk
    wait "$RUNNER_PID" 2>/dev/null || true
  fi
  pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if (echo > "/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null; then
  echo "port $PGPORT is taken; set BENCH_PGPORT" >&2
  exit 1
fi
pg_stop   # leftovers of a killed run
mkdir -p "$PGSTATE"; chown postgres:postgres "$PGSTATE"; chmod 700 "$PGSTATE"
echo "== PostgreSQL on 127.0.0.1:$PGPORT ($PGSTATE)"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGSTATE/data" -U postgres -A trust --no-sync -E UTF8 \
  --locale=C.UTF-8 >"$PGSTATE/initdb.log"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGSTATE/data" -l "$PGSTATE/server.log" -w -t 30 start \
  -o "-p $PGPORT -k $PGSTATE -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench

# --- run ----------------------------------------------------------------------------
cd "$HERE"
BENCH_PG_URL="postgresql://postgres@127.0.0.1:$PGPORT/bench" BENCH_PG_DATADIR="$PGSTATE/data" \
  "$VENV/bin/python" "$HERE/runner.py" "$@" &
RUNNER_PID=$!
set +e
wait "$RUNNER_PID"
rc=$?
set -e
RUNNER_PID=""
exit "$rc"
