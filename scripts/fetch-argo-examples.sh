#!/usr/bin/env bash
# Fetch Argo Workflows' own examples/ (the conformance corpus) at a pinned commit.
# Run by people, never by the tests or CI. See --help.
set -euo pipefail

COMMIT=f016ad89eb269d282aec06dc491c29f396a38df4 # v4.1.2
URL="https://codeload.github.com/argoproj/argo-workflows/tar.gz/${COMMIT}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEFAULT_DEST="${EXITFLOW_ARGO_EXAMPLES:-$ROOT/../shared/argo-examples}"

usage() {
  cat <<EOF
usage: scripts/fetch-argo-examples.sh [--force] [DIR]

Download Argo Workflows' examples/ directory at commit ${COMMIT} (v4.1.2)
from ${URL}
and unpack it into DIR (default: \$EXITFLOW_ARGO_EXAMPLES, else ../shared/argo-examples beside
the repository, where the tests look for it: currently ${DEFAULT_DEST}).

  ARGO_TARBALL=FILE   use a local tarball of the repository at that commit instead of the network
                      (codeload's tarball, or: git archive --prefix=argo-workflows-${COMMIT}/ ${COMMIT})
  --force             replace DIR if it already exists (otherwise an existing DIR is an error)

What the tests do with it: tests marked \`corpus\` read these files. Those of
tests/integration/test_docker_e2e.py run Argo examples found here. The conformance tests
(tests/conformance/) and the corpus checks of tests/unit/test_spec_corpus.py and
test_expr_template.py are marked \`corpus(index=True)\`: their expectations are written for the
curated snapshot in ../shared/argo-examples, which has INDEX.md (the expected phases) and e2e/
inputs; Argo's repository has neither, so with a corpus fetched here they skip, each with one
line saying INDEX.md is missing (CI=true makes that a failure too). Without any corpus every
corpus test skips with one line.
EOF
}

force=0
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --force) force=1 ;;
    -*) echo "fetch-argo-examples.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$dest" ] || { echo "fetch-argo-examples.sh: one DIR only" >&2; exit 2; }; dest="$1" ;;
  esac
  shift
done
dest="${dest:-$DEFAULT_DEST}"

if [ -e "$dest" ] && [ "$force" != 1 ]; then
  echo "fetch-argo-examples.sh: $dest already exists (use --force to replace it)" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/argo-examples.XXXXXX")"
trap 'rm -rf "$work"' EXIT

tarball="${ARGO_TARBALL:-}"
if [ -n "$tarball" ]; then
  [ -f "$tarball" ] || { echo "fetch-argo-examples.sh: ARGO_TARBALL=$tarball is not a file" >&2; exit 2; }
else
  tarball="$work/argo.tar.gz"
  echo "fetching $URL" >&2
  if ! curl -fsSL --retry 3 -o "$tarball" "$URL"; then
    echo "fetch-argo-examples.sh: download failed: $URL" >&2
    exit 1
  fi
fi

mkdir "$work/x"
if ! tar -xzf "$tarball" -C "$work/x" --wildcards '*/examples/*'; then
  echo "fetch-argo-examples.sh: $tarball is not a tarball of argo-workflows with examples/" >&2
  exit 1
fi
top="$(find "$work/x" -mindepth 1 -maxdepth 1 -type d)"
if [ "$(printf '%s\n' "$top" | wc -l)" != 1 ] || [ ! -d "$top/examples" ]; then
  echo "fetch-argo-examples.sh: $tarball has no <top>/examples/ directory" >&2
  exit 1
fi
case "$(basename "$top")" in
  *"$COMMIT"*) ;;
  *) echo "fetch-argo-examples.sh: warning: $tarball is $(basename "$top"), not commit $COMMIT" >&2 ;;
esac
printf 'argoproj/argo-workflows examples/ at %s (v4.1.2), fetched by scripts/fetch-argo-examples.sh\n' \
  "$COMMIT" >"$top/examples/SOURCE"

mkdir -p "$(dirname "$dest")"
[ "$force" = 1 ] && rm -rf "$dest"
mv "$top/examples" "$dest"
echo "$(find "$dest" -name '*.yaml' | wc -l) example files in $dest" >&2
