#!/usr/bin/env bash
# Stop the PostgreSQL server .ci/setup-postgres.sh started (its data directory); nothing else.
set -euo pipefail

STATE="${TMPDIR:-/tmp}/exitflow-pg"
DATA="$STATE/data"
say() { echo "stop-postgres: $*" >&2; }

if [ ! -f "$STATE/started-by-us" ] || [ ! -f "$DATA/postmaster.pid" ]; then
    say "no server started by setup-postgres.sh"
    exit 0
fi
BIN=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && BIN=$d; done
[ -n "$BIN" ] || { say "no pg_ctl"; exit 1; }
runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || true
rm -f "$STATE/started-by-us" "$STATE/url"
say "stopped"
