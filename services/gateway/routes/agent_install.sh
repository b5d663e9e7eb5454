#!/bin/sh
# Installs the Convoy node agent from the gateway that served this script, then enrolls the node. The
# install command from the console runs it as
#
#   CONVOY_JOIN_TOKEN=cvj_... sh -c 'curl -fsSL <gateway>/api/v1/agent/install.sh |
#       sudo --preserve-env=CONVOY_JOIN_TOKEN sh -s -- --server HOST:PORT --ca-fingerprint sha256:...'
#
# The join token comes in the environment, never on a command line: every user of the node can read
# command lines (ps), but only root and the user themselves can read a process's environment. It picks the
# package for this node's package tool (dpkg or rpm) and machine, checks its SHA-256, installs it unless
# the same or a newer version is installed already (dpkg -i / rpm -Uvh when python3 is installed, else
# apt-get or dnf/yum, which bring python3 along) and runs convoy-agent-enroll, which enables and starts
# convoy-agent.service. --dry-run prints what it would download and run, and changes nothing. The gateway
# fills in the lines marked "filled in". Nothing runs before the last line (main): a download cut short
# runs nothing at all.
set -eu

GATEWAY=@GATEWAY@ # filled in: the gateway as this node reached it
CURL_TLS=@CURL_TLS@ # filled in: how curl trusts the gateway (a pinned public key, or nothing)

# "FAMILY/ARCH" -> "FILE SHA256 VERSION", for the packages the gateway has (filled in).
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
usage: sh install.sh --server HOST:PORT --ca-fingerprint sha256:... [--token-file FILE | --token TOKEN]
                     [--ca-file PEM] [--hostname NAME] [--address IP ...] [--dry-run]
The join token comes from the environment (CONVOY_JOIN_TOKEN; through sudo: sudo
--preserve-env=CONVOY_JOIN_TOKEN) or from --token-file. --token shows it to every user of this machine
(ps) for as long as the install runs.
EOF
}

# The package tool that owns this system: a Debian-like system registers dpkg in its own database, a
# Red Hat-like one rpm in its (either tool may be installed on the other kind of system).
detect_family() {
    case $(dpkg-query -W -f '${Status}' dpkg 2>/dev/null || true) in
        *" installed") echo deb; return ;;
    esac
    if rpm -q --quiet rpm 2>/dev/null; then
        echo rpm
        return
    fi
    die "neither dpkg nor rpm manages this system: no package of the agent fits it"
}

detect_arch() {
    if [ "$1" = deb ]; then
        machine=$(dpkg --print-architecture)
    else
        machine=$(uname -m)
    fi
    case "$1/$machine" in
        deb/amd64|deb/x86_64) echo amd64 ;;
        deb/arm64|deb/aarch64) echo arm64 ;;
        rpm/x86_64|rpm/amd64) echo x86_64 ;;
        rpm/aarch64|rpm/arm64) echo aarch64 ;;
        *) die "no agent package for $machine ($1): there are packages for x86_64 and aarch64" ;;
    esac
}

# The package database's word on python3, which the package depends on: only when it lacks python3 does
# the install need the distribution's repositories (apt-get, dnf or yum bring it along).
choose_installer() {
    if [ "$1" = deb ]; then
        case $(dpkg-query -W -f '${Status}' python3 2>/dev/null || true) in
            *" installed") echo "dpkg -i"; return ;;
        esac
        if command -v apt-get >/dev/null 2>&1; then echo "apt-get install -y"; else echo "dpkg -i"; fi
    elif rpm -q --quiet --whatprovides /usr/bin/python3 2>/dev/null; then
        echo "rpm -Uvh --replacepkgs"
    elif command -v dnf >/dev/null 2>&1; then
        echo "dnf install -y"
    elif command -v yum >/dev/null 2>&1; then
        echo "yum install -y"
    else
        echo "rpm -Uvh --replacepkgs"
    fi
}

# The version of convoy-agent installed now, empty when none is.
installed_version() {
    if [ "$1" = deb ]; then
        case $(dpkg-query -W -f '${Status} ${Version}' convoy-agent 2>/dev/null || true) in
            "install ok installed "*) dpkg-query -W -f '${Version}' convoy-agent ;;
        esac
    elif rpm -q --quiet convoy-agent 2>/dev/null; then
        rpm -q --qf '%{VERSION}-%{RELEASE}' convoy-agent
    fi
}

# Whether version $2 is at least $3, in the order of the package tool $1: an agent that upgraded itself
# past this gateway's package is left as it is (rpm -U would refuse the older package).
at_least() {
    if [ "$1" = deb ]; then
        dpkg --compare-versions "$2" ge "$3"
    else
        [ "$(printf '%s\n%s\n' "$3" "$2" | sort -V | tail -n 1)" = "$2" ]
    fi
}

main() {
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
    [ -n "$token" ] || [ -n "$token_file" ] ||
        die "no join token: set CONVOY_JOIN_TOKEN (and sudo --preserve-env=CONVOY_JOIN_TOKEN), or give --token-file"

    family=$(detect_family)
    arch=$(detect_arch "$family")
    found=$(package_for "$family/$arch") ||
        die "the gateway has no $family package for $arch: build it there (make agent-packages AGENT_ARCH=all)"
    file=${found%% *}
    version=${found##* }
    sha256=${found#* }
    sha256=${sha256% *}
    url="$GATEWAY/api/v1/agent/packages/$file"
    installer=$(choose_installer "$family")
    installed=$(installed_version "$family")
    if [ -n "$installed" ] && at_least "$family" "$installed" "$version"; then
        installer=
    fi

    if [ "$dry_run" = 1 ]; then
        echo "family: $family"
        echo "arch: $arch"
        echo "download: $url"
        echo "sha256: $sha256"
        if [ -n "$installer" ]; then
            echo "install: $installer $file"
        else
            echo "install: none (convoy-agent $installed is installed; the gateway has $version)"
        fi
        echo "enroll: convoy-agent-enroll --server $server --ca-fingerprint $fingerprint${*:+ $*}"
        exit 0
    fi

    [ "$(id -u)" = 0 ] || die "run it as root: curl ... | sudo --preserve-env=CONVOY_JOIN_TOKEN sh -s -- ..."
    if [ -n "$installer" ]; then
        install_package "$installer" "$file" "$url" "$sha256"
    else
        say "convoy-agent $installed is installed (the gateway has $version): keeping it"
    fi

    say "enrolling with $server"
    # stdin from /dev/null, like the installer's: this script may be arriving on stdin, and a child that
    # reads it would eat the rest of the script. The token goes in the environment, as it came.
    if [ -n "$token_file" ]; then
        convoy-agent-enroll --server "$server" --ca-fingerprint "$fingerprint" --token-file "$token_file" "$@" </dev/null
    else
        CONVOY_JOIN_TOKEN=$token convoy-agent-enroll --server "$server" --ca-fingerprint "$fingerprint" "$@" </dev/null
    fi
}

install_package() {
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    trap 'exit 1' HUP INT TERM
    say "downloading $2"
    # $CURL_TLS is split on purpose: it holds options and no spaces inside any of them.
    curl -fsSL $CURL_TLS -o "$work/$2" "$3" </dev/null || die "could not download $3"
    if command -v sha256sum >/dev/null 2>&1; then
        echo "$4  $work/$2" | sha256sum -c - >/dev/null 2>&1 ||
            die "$2 does not have the SHA-256 the gateway announced: refusing to install it"
    else
        say "no sha256sum here: the download is not checked beyond TLS"
    fi
    say "installing with $1"
    # No question may wait for an answer: stdin is the script, or nothing.
    DEBIAN_FRONTEND=noninteractive $1 "$work/$2" </dev/null
}

main "$@"
