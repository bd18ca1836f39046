#!/usr/bin/env bash
# Stop the dockerd that .ci/setup-docker.sh started (found by its pidfile); leave any other alone.
set -euo pipefail

STATE="${TMPDIR:-/tmp}/exitflow-docker"
PIDFILE="$STATE/dockerd.pid"
rm -f "$STATE/started-by-us"
WAIT_SECONDS="${EXITFLOW_DOCKERD_STOP_WAIT:-30}"

say() { echo "stop-docker: $*" >&2; }

if [ ! -s "$PIDFILE" ]; then
    say "no $PIDFILE: no dockerd was started by setup-docker.sh"
    exit 0
fi
pid=$(cat "$PIDFILE")
if ! kill -0 "$pid" 2>/dev/null; then
    say "dockerd (pid $pid) is not running"
    rm -f "$PIDFILE"
    exit 0
fi
case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
    dockerd) ;;
    *) say "pid $pid is not dockerd; leaving it alone"; rm -f "$PIDFILE"; exit 0 ;;
esac

say "stopping dockerd (pid $pid)"
kill -TERM "$pid"
deadline=$((SECONDS + WAIT_SECONDS))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "dockerd did not stop within ${WAIT_SECONDS}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
rm -f "$PIDFILE"
say "stopped"
