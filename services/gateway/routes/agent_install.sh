#!/bin/sh
# Installs the Convoy node agent from the gateway that served this script, then enrolls the node:
#
#   curl -fsSL <gateway>/api/v1/agent/install.sh | sudo sh -s -- --server HOST:PORT --token cvj_... \
#       --ca-fingerprint sha256:...
#
# It picks the package for this node's package tool (dpkg or rpm) and machine, checks its SHA-256,
# installs it (dpkg -i / rpm -Uvh; apt-get or dnf/yum when python3 must come with it) and runs
# convoy-agent-enroll, which enables and starts convoy-agent.service. --dry-run prints what it would
# download and run, and changes nothing. The gateway fills in the lines marked "filled in".
set -eu

GATEWAY=@GATEWAY@ # filled in: the gateway as this node reached it
CURL_TLS=@CURL_TLS@ # filled in: how curl trusts the gateway (a pinned public key, or nothing)

# "FAMILY/ARCH" -> "FILE SHA256", for the packages the gateway has (filled in).
package_for() {
    case "$1" in
@PACKAGES@
        *) return 1 ;;
    esac
}

say() { printf 'convoy-agent install: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    cat <<EOF
usage: sh install.sh --server HOST:PORT --ca-fingerprint sha256:... [--token TOKEN | --token-file FILE]
                     [--ca-file PEM] [--hostname NAME] [--address IP ...] [--dry-run]
The token may also come from the environment (CONVOY_JOIN_TOKEN).
EOF
}

PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin
export PATH

server=
token=${CONVOY_JOIN_TOKEN:-}
token_file=
fingerprint=
dry_run=0
# Options for convoy-agent-enroll that pass through as they are collect at the end of "$@".
count=$#
while [ "$count" -gt 0 ]; do
    arg=$1
    shift
    count=$((count - 1))
    case $arg in
        --dry-run) dry_run=1; continue ;;
        -h|--help) usage; exit 0 ;;
        --server|--token|--token-file|--ca-fingerprint|--ca-file|--hostname|--address)
            [ "$count" -gt 0 ] || die "$arg needs a value"
            value=$1
            shift
            count=$((count - 1)) ;;
        *) die "unknown option: $arg (see --help)" ;;
    esac
    case $arg in
        --server) server=$value ;;
        --token) token=$value ;;
        --token-file) token_file=$value ;;
        --ca-fingerprint) fingerprint=$value ;;
        *) set -- "$@" "$arg" "$value" ;;
    esac
done
[ -n "$server" ] || die "--server HOST:PORT is missing (the join command from the console has it)"
[ -n "$fingerprint" ] || die "--ca-fingerprint is missing (the join command from the console has it)"
[ -n "$token" ] || [ -n "$token_file" ] || die "no join token: give --token, --token-file or CONVOY_JOIN_TOKEN"

# The package tool that owns this system: a Debian-like system registers dpkg in its own database, a
# Red Hat-like one rpm in its (either tool may be installed on the other kind of system).
family=
case $(dpkg-query -W -f '${Status}' dpkg 2>/dev/null || true) in
    *" installed") family=deb ;;
esac
if [ -z "$family" ] && rpm -q --quiet rpm 2>/dev/null; then
    family=rpm
fi
[ -n "$family" ] || die "neither dpkg nor rpm manages this system: no package of the agent fits it"

if [ "$family" = deb ]; then
    machine=$(dpkg --print-architecture)
else
    machine=$(uname -m)
fi
case "$family/$machine" in
    deb/amd64|deb/x86_64) arch=amd64 ;;
    deb/arm64|deb/aarch64) arch=arm64 ;;
    rpm/x86_64|rpm/amd64) arch=x86_64 ;;
    rpm/aarch64|rpm/arm64) arch=aarch64 ;;
    *) die "no agent package for $machine ($family): there are packages for x86_64 and aarch64" ;;
esac

found=$(package_for "$family/$arch") ||
    die "the gateway has no $family package for $arch: build it there (make agent-packages AGENT_ARCH=all)"
file=${found% *}
sha256=${found#* }
url="$GATEWAY/api/v1/agent/packages/$file"

# Only when python3 is missing does the install need the distribution's repositories (to bring it).
if [ "$family" = deb ]; then
    if [ -x /usr/bin/python3 ] || ! command -v apt-get >/dev/null 2>&1; then
        installer="dpkg -i"
    else
        installer="apt-get install -y"
    fi
else
    if [ -x /usr/bin/python3 ]; then
        installer="rpm -Uvh --replacepkgs"
    elif command -v dnf >/dev/null 2>&1; then
        installer="dnf install -y"
    elif command -v yum >/dev/null 2>&1; then
        installer="yum install -y"
    else
        installer="rpm -Uvh --replacepkgs"
    fi
fi

if [ "$dry_run" = 1 ]; then
    echo "family: $family"
    echo "arch: $arch"
    echo "download: $url"
    echo "sha256: $sha256"
    echo "install: $installer $file"
    echo "enroll: convoy-agent-enroll --server $server --ca-fingerprint $fingerprint${*:+ $*}"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "run it as root: curl ... | sudo sh -s -- ..."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

say "downloading $file"
# $CURL_TLS is split on purpose: it holds options and no spaces inside any of them.
curl -fsSL $CURL_TLS -o "$work/$file" "$url" || die "could not download $url"
if command -v sha256sum >/dev/null 2>&1; then
    echo "$sha256  $work/$file" | sha256sum -c - >/dev/null 2>&1 ||
        die "$file does not have the SHA-256 the gateway announced: refusing to install it"
else
    say "no sha256sum here: the download is not checked beyond TLS"
fi

say "installing with $installer"
$installer "$work/$file"

say "enrolling with $server"
if [ -n "$token_file" ]; then
    convoy-agent-enroll --server "$server" --ca-fingerprint "$fingerprint" --token-file "$token_file" "$@"
else
    # In the environment, not on the command line: other users see command lines in ps.
    CONVOY_JOIN_TOKEN=$token convoy-agent-enroll --server "$server" --ca-fingerprint "$fingerprint" "$@"
fi
