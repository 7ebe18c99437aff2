#!/usr/bin/env bash
# Real services for the tests, all on 127.0.0.1: PostgreSQL (throwaway cluster, trust
# auth), Redis, a MongoDB-wire server (SecantusDB, in memory) and an SMTP sink (aiosmtpd).
#
# usage: scripts/services.sh install|install-system|start|stop|status
#   install-system  apt-get install postgresql redis-server chromium, only those missing
#                   (chromium: the browser tests, tests/browser/)
#   install         install-system, then pip install secantusdb aiosmtpd into $VENV
#   start           refuses, touching nothing, if a port is taken or $STATE still has live
#                   services; else starts all four, writes $STATE/env (source it) and prints
#                   it. If one fails to come up, it stops the others and exits non-zero.
#   stop            stops only what $STATE recorded (its pid files, its own cluster), never
#                   anything found by port; safe twice and after a half-failed start
#   status          lists what $STATE has running; exit 0 only if all four are up
# Env: QS_SVC_STATE (/tmp/qs-services), VENV (.venv), PGPORT (54329), REDIS_PORT (63790),
#      MONGO_PORT (27019), SMTP_PORT (8025).
# As root, PostgreSQL runs as the postgres user (initdb refuses root); as another user,
# everything runs as that user.
set -euo pipefail
STATE=${QS_SVC_STATE:-/tmp/qs-services}
case $STATE in /?*) ;; *) echo "services.sh: QS_SVC_STATE must be an absolute path" >&2; exit 2 ;; esac
VENV=${VENV:-.venv}
PGPORT=${PGPORT:-54329}; REDIS_PORT=${REDIS_PORT:-63790}
MONGO_PORT=${MONGO_PORT:-27019}; SMTP_PORT=${SMTP_PORT:-8025}
# The server binaries (initdb), not just the client that also lives under /usr/lib/postgresql.
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
if [ -x "$PGBIN" ]; then PGBIN=${PGBIN%/initdb}; else PGBIN=""; fi
MARKER=.qs-services   # marks a state directory as ours, so start may clear it

say() { echo "services.sh: $*" >&2; }
die() { say "$*"; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() {  # pid: alive and not a zombie
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

recorded_pid() {  # name pattern: the pid in $STATE/name.pid if that process is still ours
  local pid cmd
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && running "$pid" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$2"* ]] || return 1   # a reused pid is someone else's process: leave it
  echo "$pid"
}

pg_running() {
  [ -n "$PGBIN" ] && [ -f "$STATE/pg/data/postmaster.pid" ] &&
    as_pg "$PGBIN/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1
}

DAEMONS="smtp:aiosmtpd mongo:secantusd redis:redis-server"

live_services() {  # prints the names of the services $STATE has running
  local spec
  for spec in $DAEMONS; do
    recorded_pid "${spec%%:*}" "${spec#*:}" >/dev/null && echo "${spec%%:*}"
  done
  pg_running && echo postgres
  return 0
}

clear_state() {  # removes only what start creates, so a mistyped QS_SVC_STATE loses nothing
  [ -d "$STATE" ] || return 0
  rm -rf "${STATE:?}/pg" "${STATE:?}/env" "${STATE:?}/$MARKER" "${STATE:?}"/*.pid "${STATE:?}"/*.log
  rmdir "$STATE" 2>/dev/null || say "left $STATE in place: it holds files services.sh did not make"
}

install_system() {
  local missing=()
  [ -n "$PGBIN" ] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -gt 0 ] || { say "Debian packages present (postgresql, redis-server, chromium)"; return 0; }
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root to apt-get install ${missing[*]}"
    sudo=(sudo -n)
  fi
  say "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

install() {
  install_system
  "$VENV/bin/python" -m pip install -q secantusdb aiosmtpd
}

spawn() {  # name command...: a background daemon that outlives this script, with a pid file
  local name=$1; shift
  # Its own session: a Ctrl-C meant for the tests must not reach it; stop ends it.
  # (setsid execs in place here, so $! is the daemon's own pid.)
  setsid "$@" </dev/null >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

wait_ready() {  # name port timeout_s: the port answers and the process we started is alive
  local name=$1 port=$2 end=$((SECONDS + $3)) pid
  pid=$(cat "$STATE/$name.pid")
  until port_open "$port"; do
    if ! running "$pid"; then
      say "$name exited before listening on 127.0.0.1:$port; end of $STATE/$name.log:"
      tail -n 20 "$STATE/$name.log" >&2 || true
      return 1
    fi
    (( SECONDS < end )) || { say "$name: timeout waiting for 127.0.0.1:$port"; return 1; }
    sleep 0.05
  done
  running "$pid" || { say "$name died; 127.0.0.1:$port belongs to another process"; return 1; }
}

undo_failed_start() {
  local rc=$?
  [ "$rc" = 0 ] && return 0
  say "start failed, stopping what was started"
  stop
  exit "$rc"
}

start() {
  # Checks first: a refusal must leave everything, including someone else's services, alone.
  [ -n "$PGBIN" ] || die "PostgreSQL server not installed (no /usr/lib/postgresql/*/bin/initdb): run '$0 install'"
  command -v redis-server >/dev/null || die "redis-server not installed: run '$0 install'"
  [ -x "$VENV/bin/secantusd-py" ] || die "no $VENV/bin/secantusd-py: pip install secantusdb into $VENV (or '$0 install')"
  "$VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null || die "aiosmtpd is not installed in $VENV"
  [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 || die "no postgres user (is the postgresql package installed?)"
  local live
  live=$(live_services | tr '\n' ' ')
  [ -z "$live" ] || die "$STATE still has running services ($live); stop them with" \
    "'QS_SVC_STATE=$STATE $0 stop', or use another QS_SVC_STATE and other ports"
  local v busy="" seen=" "
  for v in PGPORT REDIS_PORT MONGO_PORT SMTP_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a port number"
    [[ $seen == *" ${!v} "* ]] && die "$v=${!v}: the same port is given to two services"
    seen+="${!v} "
    if port_open "${!v}"; then busy+=" $v=${!v}"; fi
  done
  [ -z "$busy" ] || die "port already in use on 127.0.0.1:$busy. Another copy of these services" \
    "may be running (the default state dir is /tmp/qs-services): stop it, or set other ports" \
    "(PGPORT, REDIS_PORT, MONGO_PORT, SMTP_PORT) and QS_SVC_STATE"
  if [ -d "$STATE" ] && [ -n "$(ls -A "$STATE")" ] && [ ! -e "$STATE/$MARKER" ] && [ ! -e "$STATE/env" ]; then
    die "$STATE exists and was not made by services.sh: choose another QS_SVC_STATE"
  fi
  clear_state   # leftovers of a dead run
  [ ! -e "$STATE" ] || die "could not clear $STATE"

  # From here on, a failure stops whatever did start.
  trap undo_failed_start EXIT
  mkdir -p "$STATE/pg"; chmod 755 "$STATE"; touch "$STATE/$MARKER"
  [ "$(id -u)" != 0 ] || chown postgres:postgres "$STATE/pg"
  # PostgreSQL: throwaway cluster, trust auth on loopback, no durability (test data only)
  as_pg "$PGBIN/initdb" -D "$STATE/pg/data" -U postgres -A trust --no-sync -E UTF8 \
    --locale=C.UTF-8 >"$STATE/pg/initdb.log" 2>&1 ||
    { say "initdb failed:"; tail -n 20 "$STATE/pg/initdb.log" >&2; exit 1; }
  as_pg "$PGBIN/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/server.log" -w -t 30 start \
    -o "-p $PGPORT -k $STATE/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null || { say "PostgreSQL did not start:"; tail -n 20 "$STATE/pg/server.log" >&2; exit 1; }
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres qs_test
  # Redis in the foreground of its own background process, so its pid is known at once
  spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$STATE" --daemonize no
  # MongoDB-wire-compatible server (SecantusDB, pure Python from PyPI), in memory
  spawn mongo "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$MONGO_PORT" \
    --storage-path :memory: --cache-size 256M --log-level WARNING
  # SMTP sink: accepts everything and prints each message to its log
  spawn smtp "$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT"
  wait_ready redis "$REDIS_PORT" 10
  wait_ready mongo "$MONGO_PORT" 60
  wait_ready smtp "$SMTP_PORT" 20
  cat >"$STATE/env.tmp" <<ENV
export QS_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$PGPORT/qs_test
export QS_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export QS_TEST_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true
export QS_TEST_SMTP=127.0.0.1:$SMTP_PORT
ENV
  mv "$STATE/env.tmp" "$STATE/env"
  trap - EXIT
  cat "$STATE/env"
}

stop() {
  [ -d "$STATE" ] || return 0
  local spec pid pids=()
  for spec in $DAEMONS; do
    if pid=$(recorded_pid "${spec%%:*}" "${spec#*:}"); then
      kill "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  if pg_running; then
    as_pg "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m fast -w -t 30 stop >/dev/null ||
      say "pg_ctl stop failed; see $STATE/pg/server.log"
  fi
  for pid in "${pids[@]}"; do   # SecantusDB takes ~3.5 s to shut down cleanly
    for _ in $(seq 1 150); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then say "pid $pid ignored SIGTERM for 15 s: SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
  done
  clear_state
}

status() {
  local live
  live=$(live_services | tr '\n' ' ')
  echo "running from $STATE: ${live:-nothing}"
  [ "$(wc -w <<<"$live")" = 4 ]
}

case ${1:-} in
  install|install-system|start|stop|status) "${1//-/_}" ;;
  *) echo "usage: $0 install|install-system|start|stop|status" >&2; exit 2 ;;
esac
