#!/usr/bin/env bash
# Start a local Docker daemon (no bridge, no iptables: containers get NetworkMode none) and build
# the offline stand-in images the Argo examples need. Idempotent; run as root.
#
#   bash .ci/setup-docker.sh     # start dockerd if `docker info` fails, then make sure images exist
#   bash .ci/stop-docker.sh      # stop the dockerd this script started (its pidfile)
#
# No registry is reachable here, so nothing is ever pulled: every image is made with `docker import`
# from a busybox-static root filesystem. They are stand-ins, not the real images:
#   alpine:{latest,3.6,3.7,3.23} busybox:latest debian:{latest,8.9,9.1} ubuntu:{latest,17.10}
#       busybox (sh, cat, sleep, awk, ...; `bash` runs busybox sh), CMD ["sh"]
#   argoproj/argosay:v2          + /argosay: echo [msg] [file] | cat file... | sleep dur | exit [code]
#                                  (a sh port of the Go test binary; ENTRYPOINT ["/argosay"])
#   argoproj/argosay:v1 docker/whalesay:latest
#                                + cowsay (a sh port; CMD ["cowsay"])
#   python:alpine3.23 python:latest   + the host's /usr/bin/python3.11 and its stdlib (if present)
#   node:9.1-alpine node:latest       + the host's /usr/bin/node (if present)
# Every image carries the label exitflow.image-version; bump IMAGE_VERSION to rebuild them.
set -euo pipefail

IMAGE_VERSION=1
STATE="${TMPDIR:-/tmp}/exitflow-docker"
SOCK=/var/run/docker.sock
PIDFILE="$STATE/dockerd.pid"
#: Present while the running dockerd was started by this script's last call (scripts/test.sh
#: stops the daemon after the tests only then); removed when the daemon was already up.
STARTED_MARK="$STATE/started-by-us"
LOG="$STATE/dockerd.log"
WAIT_SECONDS="${EXITFLOW_DOCKERD_WAIT:-60}"
export DOCKER_HOST="unix://$SOCK"

say() { echo "setup-docker: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$STATE"

# ---------------------------------------------------------------------------------------------
# 1. The daemon
# ---------------------------------------------------------------------------------------------
daemon_up() { docker info >/dev/null 2>&1; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # The postinst cannot start a service here (no init system); that is expected.
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 \
            || { tail -n 30 "$STATE/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    fi
}

start_daemon() {
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        say "dockerd (pid $(cat "$PIDFILE")) is already starting; waiting for it"
    else
        rm -f "$PIDFILE"
        # A socket left by a daemon that died: dockerd would refuse to listen on it.
        [ -S "$SOCK" ] && rm -f "$SOCK"
        say "starting dockerd (log: $LOG)"
        setsid dockerd \
            --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
            --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$PIDFILE" \
            -H "unix://$SOCK" </dev/null >"$LOG" 2>&1 &
        local launcher=$!
        # dockerd writes the pidfile itself soon after starting; until then remember the launcher.
        for _ in $(seq 1 20); do [ -s "$PIDFILE" ] && break; sleep 0.1; done
        [ -s "$PIDFILE" ] || echo "$launcher" >"$PIDFILE"
    fi
    local deadline=$((SECONDS + WAIT_SECONDS))
    until daemon_up; do
        if ! kill -0 "$(cat "$PIDFILE" 2>/dev/null || echo 0)" 2>/dev/null; then
            tail -n 30 "$LOG" >&2 || true
            die "dockerd exited during start-up (log above, full log: $LOG)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$LOG" >&2 || true
            die "dockerd did not answer on $SOCK within ${WAIT_SECONDS}s (log above: $LOG)"
        fi
        sleep 0.25
    done
    say "dockerd is up: $(docker version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}})')"
}

if daemon_up; then
    say "a Docker daemon already answers on $SOCK; not starting one"
    rm -f "$STARTED_MARK"
    dpkg -s busybox-static >/dev/null 2>&1 || install_packages
else
    install_packages
    start_daemon
    touch "$STARTED_MARK"
fi

# ---------------------------------------------------------------------------------------------
# 2. The images
# ---------------------------------------------------------------------------------------------
BASE_TAGS=(alpine:latest alpine:3.6 alpine:3.7 alpine:3.23 busybox:latest
           debian:latest debian:8.9 debian:9.1 ubuntu:latest ubuntu:17.10)
ARGOSAY_TAGS=(argoproj/argosay:v2)
COWSAY_TAGS=(argoproj/argosay:v1 docker/whalesay:latest)
PYTHON_TAGS=(python:alpine3.23 python:latest)
NODE_TAGS=(node:9.1-alpine node:latest)
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

current() {  # are all these tags present and built by this IMAGE_VERSION?
    local tag v
    for tag in "$@"; do
        v=$(docker image inspect -f '{{ index .Config.Labels "exitflow.image-version" }}' "$tag" \
            2>/dev/null) || return 1
        [ "$v" = "$IMAGE_VERSION" ] || return 1
    done
}

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox binary (install busybox-static)"

make_base_rootfs() {  # $1: directory to fill with a busybox root filesystem
    local root=$1 link
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/games,etc,root,tmp,var/tmp,proc,sys,dev}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    cp "$BUSYBOX" "$root/bin/busybox"
    # One symlink per applet at its usual place (bin/sh, usr/bin/env, ...).
    while read -r link; do
        [ -n "$link" ] && [ "$link" != bin/busybox ] || continue
        mkdir -p "$root/$(dirname "$link")"
        ln -sf /bin/busybox "$root/$link"
    done < <("$BUSYBOX" --list-full 2>/dev/null || "$BUSYBOX" --list | sed 's|^|bin/|')
    ln -sf /bin/busybox "$root/usr/bin/busybox"
    if [ ! -e "$root/bin/bash" ]; then
        printf '#!/bin/sh\n# Exitflow stand-in: busybox sh, not GNU bash.\nexec /bin/sh "$@"\n' \
            >"$root/bin/bash"
        chmod 755 "$root/bin/bash"
    fi
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
    cat >"$root/etc/os-release" <<'EOF'
NAME="Exitflow busybox stand-in"
ID=exitflow-busybox
PRETTY_NAME="Exitflow offline stand-in image (busybox-static)"
EOF
}

import_rootfs() {  # $1 rootfs dir, $2 repo:tag to create, then --change lines
    local root=$1 tag=$2; shift 2
    local changes=(--change "LABEL exitflow.image-version=$IMAGE_VERSION" --change "ENV $PATH_ENV")
    local c
    for c in "$@"; do changes+=(--change "$c"); done
    tar -C "$root" -cf "$root.tar" .
    docker import "${changes[@]}" "$root.tar" "$tag" >/dev/null
    rm -f "$root.tar"
}

tag_all() {  # $1 source tag, then the tags to give it
    local src=$1 t; shift
    for t in "$@"; do [ "$t" = "$src" ] || docker tag "$src" "$t"; done
}

libs_of() {  # the shared libraries a host ELF file loads (none for a static one)
    { ldd "$1" 2>/dev/null || true; } | grep -oE '/[^ ]+\.so[^ ]*' || true
}

copy_with_libs() {  # $1 rootfs, then host files: copy them and the shared libraries they load
    local root=$1 f lib; shift
    for f in "$@"; do
        cp -a --parents "$f" "$root/"
        libs_of "$f" | while read -r lib; do
            [ -e "$root$lib" ] || cp -L --parents "$lib" "$root/"
        done
    done
}

WORK="$STATE/rootfs"
mkdir -p "$WORK"
built=()

if ! current "${BASE_TAGS[@]}"; then
    make_base_rootfs "$WORK/base"
    import_rootfs "$WORK/base" "${BASE_TAGS[0]}" 'CMD ["sh"]'
    tag_all "${BASE_TAGS[0]}" "${BASE_TAGS[@]}"
    built+=("${BASE_TAGS[@]}")
fi

if ! current "${ARGOSAY_TAGS[@]}"; then
    make_base_rootfs "$WORK/argosay"
    cat >"$WORK/argosay/argosay" <<'EOF'
#!/bin/sh
# Exitflow stand-in for argoproj/argosay:v2 (a sh port of its Go test binary).
# Like the original, `echo` prints with Go's println, that is to STDERR.
usage() { echo "usage: argosay [cat [file...]|echo [string] [file]|sleep duration|exit [code]]" >&2; exit 2; }
[ $# -eq 0 ] && set -- echo
cmd=$1; shift
case $cmd in
    cat) for f in "$@"; do cat "$f" || exit 2; done ;;
    echo)
        case $# in
            0) echo "hello argo" >&2 ;;
            1) printf '%s\n' "$1" >&2 ;;
            2) mkdir -p "$(dirname "$2")" && printf '%s' "$1" >"$2" || exit 2 ;;
            *) echo "usage: argosay echo [string] [file]" >&2; exit 2 ;;
        esac ;;
    exit)
        [ $# -eq 1 ] || exit 0
        case $1 in ''|*[!0-9-]*) echo "strconv.Atoi: parsing \"$1\": invalid syntax" >&2; exit 2 ;; esac
        exit "$1" ;;
    sleep)
        [ $# -eq 1 ] || { echo "usage: argosay sleep duration" >&2; exit 2; }
        # Go duration (1h2m3.5s, 300ms) -> seconds.
        secs=$(printf '%s\n' "$1" | awk '
            { s = $0; total = 0; ok = 1
              while (length(s) > 0) {
                if (!match(s, /^[0-9.]+(ns|us|µs|ms|s|m|h)/)) { ok = 0; break }
                part = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
                match(part, /^[0-9.]+/); n = substr(part, 1, RLENGTH) + 0; u = substr(part, RLENGTH + 1)
                if (u == "h") n *= 3600; else if (u == "m") n *= 60; else if (u == "ms") n /= 1000
                else if (u == "us" || u == "µs") n /= 1000000; else if (u == "ns") n /= 1000000000
                total += n }
              if (!ok || $0 == "") exit 1
              printf "%.6f\n", total }') || { echo "time: invalid duration \"$1\"" >&2; exit 2; }
        exec sleep "$secs" ;;
    *) usage ;;
esac
EOF
    chmod 755 "$WORK/argosay/argosay"
    import_rootfs "$WORK/argosay" "${ARGOSAY_TAGS[0]}" 'ENTRYPOINT ["/argosay"]' 'CMD []'
    tag_all "${ARGOSAY_TAGS[0]}" "${ARGOSAY_TAGS[@]}"
    built+=("${ARGOSAY_TAGS[@]}")
fi

if ! current "${COWSAY_TAGS[@]}"; then
    make_base_rootfs "$WORK/cowsay"
    cat >"$WORK/cowsay/usr/games/cowsay" <<'EOF'
#!/bin/sh
# Exitflow stand-in for cowsay (one-line balloon, the default cow). Reads stdin without arguments.
if [ $# -gt 0 ]; then msg="$*"; else msg=$(cat); fi
msg=$(printf '%s' "$msg" | tr '\n' ' ' | sed 's/ *$//')
n=${#msg}
line() { printf "%$((n + 2))s" '' | tr ' ' "$1"; }
printf ' %s\n< %s >\n %s\n' "$(line _)" "$msg" "$(line -)"
cat <<'COW'
        \   ^__^
         \  (oo)\_______
            (__)\       )\/\
                ||----w |
                ||     ||
COW
EOF
    chmod 755 "$WORK/cowsay/usr/games/cowsay"
    ln -sf /usr/games/cowsay "$WORK/cowsay/usr/local/bin/cowsay"
    import_rootfs "$WORK/cowsay" "${COWSAY_TAGS[0]}" 'CMD ["cowsay"]'
    tag_all "${COWSAY_TAGS[0]}" "${COWSAY_TAGS[@]}"
    built+=("${COWSAY_TAGS[@]}")
fi

HOST_PY=/usr/bin/python3.11
if [ -x "$HOST_PY" ] && [ -d /usr/lib/python3.11 ]; then
    if ! current "${PYTHON_TAGS[@]}"; then
        make_base_rootfs "$WORK/python"
        copy_with_libs "$WORK/python" "$HOST_PY"
        mkdir -p "$WORK/python/usr/lib"
        (cd /usr/lib && tar --exclude='python3.11/test' --exclude='python3.11/idlelib' \
            --exclude='python3.11/tkinter' --exclude='python3.11/ensurepip' \
            --exclude='__pycache__' -cf - python3.11) | tar -C "$WORK/python/usr/lib" -xf -
        rm -f "$WORK/python/usr/lib/python3.11/EXTERNALLY-MANAGED"
        for so in "$WORK"/python/usr/lib/python3.11/lib-dynload/*.so; do
            libs_of "$so" | while read -r lib; do
                [ -e "$WORK/python$lib" ] || cp -L --parents "$lib" "$WORK/python/"
            done
        done
        ln -sf python3.11 "$WORK/python/usr/bin/python3"
        ln -sf python3.11 "$WORK/python/usr/bin/python"
        import_rootfs "$WORK/python" "${PYTHON_TAGS[0]}" 'CMD ["python3"]' \
            'ENV PYTHONDONTWRITEBYTECODE=1'
        tag_all "${PYTHON_TAGS[0]}" "${PYTHON_TAGS[@]}"
        built+=("${PYTHON_TAGS[@]}")
    fi
else
    say "no host $HOST_PY: python:* images not built"
fi

HOST_NODE=/usr/bin/node
if [ -x "$HOST_NODE" ]; then
    if ! current "${NODE_TAGS[@]}"; then
        make_base_rootfs "$WORK/node"
        copy_with_libs "$WORK/node" "$HOST_NODE"
        import_rootfs "$WORK/node" "${NODE_TAGS[0]}" 'CMD ["node"]'
        tag_all "${NODE_TAGS[0]}" "${NODE_TAGS[@]}"
        built+=("${NODE_TAGS[@]}")
    fi
else
    say "no host $HOST_NODE: node:* images not built"
fi

rm -rf "$WORK"
if [ "${#built[@]}" -gt 0 ]; then
    say "built: ${built[*]}"
else
    say "images already present (exitflow.image-version=$IMAGE_VERSION)"
fi
docker image ls --filter "label=exitflow.image-version" --format '{{.Repository}}:{{.Tag}}' \
    | sort | sed 's/^/setup-docker: image /' >&2
