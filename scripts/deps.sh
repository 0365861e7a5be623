#!/bin/sh
# Install what `make test` (deps.sh test), `make bench` (deps.sh bench), `make fuzz`
# (deps.sh fuzz) or `make layout` (deps.sh layout) needs on a Debian machine with
# rustup: Debian packages and rustup components/targets. Idempotent: installs only what
# is missing. Needs root (or sudo) for apt-get. (The static build's linker, rust-lld,
# comes with rustup's rustc.)
set -eu
what=${1:-test}

need_pkgs=""
want() { # want COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || need_pkgs="$need_pkgs $2"
}

want mandoc mandoc
want unshare util-linux
want setpriv util-linux
want file file
want python3 python3
want curl curl
case "$what" in
test)
    want podman podman
    want runc runc
    want tmux tmux
    want zsh zsh   # cli_help: the zsh completion parses
    want fish fish # cli_help: the fish completion runs
    [ -x /bin/busybox ] || need_pkgs="$need_pkgs busybox-static"
    ;;
bench)
    want tini tini
    [ -x /usr/bin/tini-static ] || need_pkgs="$need_pkgs tini"
    want dumb-init dumb-init
    want catatonit catatonit
    want supervisord supervisor
    want supervisorctl supervisor
    want s6-svscan s6
    want s6-svstat s6
    want runsvdir runit
    want sv runit
    want hyperfine hyperfine
    want socat socat
    # the ingress row (bench/rows/98-ingress.sh): the load generator and the peer
    want wrk wrk
    [ -x /usr/sbin/nginx ] || need_pkgs="$need_pkgs nginx-light"
    want gcc gcc
    # static helpers: glibc's libc.a (libc6-dev, with gcc) and musl-gcc for the floor of
    # the `tend status` row (bench/src/ctl_once.c), linked against musl as tend is
    want musl-gcc musl-tools
    ;;
fuzz) ;;
layout)
    want valgrind valgrind
    ;;
*) echo "usage: $0 test|bench|fuzz|layout" >&2; exit 2 ;;
esac

if [ -n "$need_pkgs" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "deps: installing Debian packages:$need_pkgs" >&2
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need_pkgs >&2
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
if [ "$what" = fuzz ]; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
fi
exit 0
