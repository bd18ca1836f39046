#!/usr/bin/env bash
# Install Debian's headless Chromium (and its chromedriver) for the browser tests, when missing.
# Idempotent; run as root. Nothing is downloaded by Playwright itself (`playwright install` is
# never run): the tests drive /usr/bin/chromium through Playwright's executable_path.
#
#   bash .ci/setup-browser.sh      # exit 0 when /usr/bin/chromium works afterwards
set -euo pipefail

say() { echo "setup-browser: $*" >&2; }
die() { say "$*"; exit 1; }

CHROMIUM="${EXITFLOW_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  [ "$(id -u)" = 0 ] || die "$CHROMIUM missing and not root: install the chromium package"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -q >/dev/null || die "apt-get update failed"
  fi
  apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null \
    || die "apt-get install chromium chromium-driver failed"
fi
"$CHROMIUM" --version >/dev/null 2>&1 || die "$CHROMIUM does not start"
python3 -c "import playwright" 2>/dev/null || python3 -m pip install -q 'playwright>=1.40,<2' \
  || die "pip install playwright failed"
say "$("$CHROMIUM" --version)"
