#!/usr/bin/env bash
# Install what the tests need (Python deps, a Docker daemon with a busybox image tagged
# alpine:latest, Debian's headless Chromium for the UI tests), run the whole suite, stop the
# Docker daemon this script started.
# pytest exit code 5 (no tests collected) is a failure here, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -e '.[test]' || exit 1

started_docker=0
if bash .ci/setup-docker.sh; then
  [ -f "${TMPDIR:-/tmp}/exitflow-docker/started-by-us" ] && started_docker=1
else
  echo "scripts/test.sh: Docker setup failed" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

if ! bash .ci/setup-browser.sh; then
  echo "scripts/test.sh: browser setup failed" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
fi

python3 -m pytest "$@"
rc=$?

if [ "$started_docker" = 1 ]; then bash .ci/stop-docker.sh || true; fi
if [ "$rc" = 5 ]; then
  echo "scripts/test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
