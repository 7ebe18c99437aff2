#!/usr/bin/env bash
# The project's test command (README "Quick start"; .ci/run calls it). On a fresh
# Debian 12 machine as root it installs what is missing (postgresql, redis-server, chromium, the
# venv, this package with its dev and docs extras), runs ruff, mypy and the strict
# docs build (mkdocs.yml), starts the real services,
# runs pytest with this script's arguments, and stops the services on any exit.
# Safe to run again: every install step skips what is already there.
#
#   bash scripts/test.sh                       # everything
#   bash scripts/test.sh tests/crypto -x -q    # arguments go to pytest
#
# Env: VENV (default <repo>/.venv), PYTHON (default python3, used only to create the venv),
#      QS_REUSE_SERVICES=1 (use services already started by `scripts/services.sh start`
#      with the same QS_SVC_STATE: neither start nor stop them), and those of
#      scripts/services.sh, passed through as they are: QS_SVC_STATE, PGPORT, REDIS_PORT,
#      MONGO_PORT, SMTP_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export VENV=${VENV:-$ROOT/.venv}
STATE=${QS_SVC_STATE:-/tmp/qs-services}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
SERVICES="$ROOT/scripts/services.sh"
T_START=$(date +%s%N)
FAILED=()
SERVICES_UP=0

elapsed() { # start_ns: seconds since then, one decimal
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

phase() {  # name command...: run it with errexit on, print its name, outcome and duration
  local name=$1 t0 rc
  shift
  t0=$(date +%s%N)
  echo "=== $name"
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    echo "=== $name: ok ($(elapsed "$t0") s)"
  else
    echo "=== $name: FAILED, exit $rc ($(elapsed "$t0") s)"
  fi
  return "$rc"
}

make_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
    echo "using $VENV"
  else
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
    { echo "$VENV has Python < 3.11: remove it, or set PYTHON to a python3.11+" >&2; return 1; }
}

run_pytest() {
  local rc=0
  "$VENV/bin/python" -m pytest "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    echo "pytest collected no tests (exit 5): counted as a failure, the suite must not be empty" >&2
  fi
  return "$rc"
}

docs_build() {  # the site in strict mode: a broken link, anchor or nav entry fails
  # (not --quiet: it hides the warnings that strict mode counts, and passes)
  local out
  out=$(mktemp -d)
  NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict -d "$out" || { rm -rf "$out"; return 1; }
  rm -rf "$out"
}

on_exit() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM   # a second Ctrl-C must not leave the services running
  if [ "$SERVICES_UP" = 1 ]; then
    phase "services stop" bash "$SERVICES" stop || rc=1
  fi
  echo "=== total $(elapsed "$T_START") s"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Setup: a failure here stops the run; nothing after it could mean anything.
phase "system packages" bash "$SERVICES" install-system
phase "venv" make_venv
phase "pip install -e .[dev,docs]" "$VENV/bin/python" -m pip install -q -e '.[dev,docs]'

# Checks: all of them run, so one run shows every problem.
phase "ruff" "$VENV/bin/ruff" check . || FAILED+=(ruff)
phase "mypy" "$VENV/bin/mypy" || FAILED+=(mypy)
phase "docs" docs_build || FAILED+=(docs)

if [ "${QS_REUSE_SERVICES:-0}" = 1 ]; then
  [ -f "$STATE/env" ] || { echo "QS_REUSE_SERVICES=1 but $STATE/env does not exist" >&2; exit 1; }
  echo "=== services: reusing those in $STATE"
else
  phase "services start" bash "$SERVICES" start || {
    echo "(to run against services you started yourself with scripts/services.sh start," \
      "set QS_REUSE_SERVICES=1 and the same QS_SVC_STATE)" >&2
    exit 1
  }
  SERVICES_UP=1
fi
# shellcheck source=/dev/null
. "$STATE/env"

phase "pytest" run_pytest "$@" || FAILED+=(pytest)

if [ ${#FAILED[@]} -gt 0 ]; then
  echo "=== FAILED: ${FAILED[*]}"
  exit 1
fi
echo "=== all checks passed"
