#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the tests (Debian's packages; run as root).
#
#   bash .ci/setup-postgres.sh     # install if missing, initdb, start, create the database
#   bash .ci/stop-postgres.sh      # stop the server this script started (nothing else)
#
# The server listens on a unix socket in $STATE and on 127.0.0.1 at a free port, runs as the
# `postgres` user, trusts local connections (it is reachable only from this machine), and has a
# database `exitflow_test` plus a password user `exitflow` (for the wrong-credentials tests).
# The URL is written to $STATE/url (tests read it, or $EXITFLOW_TEST_PG_URL when set).
set -euo pipefail

STATE="${TMPDIR:-/tmp}/exitflow-pg"
DATA="$STATE/data"
LOG="$STATE/postgres.log"
PASSWORD=exitflow-test-password
say() { echo "setup-postgres: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

if ! BIN=$(pg_bin); then
    say "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends postgresql >"${TMPDIR:-/tmp}/exitflow-pg-apt.log" 2>&1; then
        say "apt-get install failed; running apt-get update and retrying"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends postgresql \
            >"${TMPDIR:-/tmp}/exitflow-pg-apt.log" 2>&1 \
            || { tail -n 30 "${TMPDIR:-/tmp}/exitflow-pg-apt.log" >&2; die "apt-get install postgresql failed"; }
    fi
    BIN=$(pg_bin) || die "postgresql installed but no pg_ctl under /usr/lib/postgresql/*/bin"
fi

mkdir -p "$STATE"
chown postgres "$STATE"
as_pg() { runuser -u postgres -- "$@"; }

if [ -f "$STATE/url" ] && [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "already running: $(cat "$STATE/url")"
    rm -f "$STATE/started-by-us"  # not ours to stop: whoever started it stops it
    exit 0
fi

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

rm -rf "$DATA"
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$STATE/initdb.log" 2>&1 || { tail -n 20 "$STATE/initdb.log" >&2; die "initdb failed"; }
# Password auth for the `exitflow` user over TCP (so a wrong password is refused); trust else.
cat >"$DATA/pg_hba.conf" <<HBA
local all all trust
host all exitflow 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
PORT=$(free_port)
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $STATE -c fsync=on -c max_connections=200" \
    start >/dev/null || { tail -n 20 "$LOG" >&2; die "pg_ctl start failed"; }
touch "$STATE/started-by-us"
psql_pg() { as_pg psql -h "$STATE" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql_pg -c "CREATE DATABASE exitflow_test"
psql_pg -c "CREATE ROLE exitflow LOGIN CREATEDB PASSWORD '$PASSWORD'"
psql_pg -c "ALTER DATABASE exitflow_test OWNER TO exitflow"
URL="postgresql://exitflow:$PASSWORD@127.0.0.1:$PORT/exitflow_test"
echo "$URL" >"$STATE/url"
echo "$PORT" >"$STATE/port"
echo "postgresql://postgres@127.0.0.1:$PORT/postgres" >"$STATE/admin-url"
say "running on 127.0.0.1:$PORT and $STATE/.s.PGSQL.$PORT (log: $LOG)"
echo "$URL"
