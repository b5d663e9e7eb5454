#!/usr/bin/env bash
# Prepares this machine for `make up` / `make test`: system packages (Debian/Ubuntu), .venv, pinned deps.
# Quick and silent when there is nothing to do. `--test` also installs what only the tests use (the browser
# the console's tests drive, a CJK font so Chinese renders in their screenshots, and Prometheus).
set -euo pipefail

for_tests=0
[ "${1:-}" = "--test" ] && for_tests=1

cd "$(dirname "$0")/.."
root=$(pwd -P)
python=${PYTHON:-python3}
venv=.venv
missing=()

say() { echo "bootstrap: $*"; }

have_initdb() {
    command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# The headers of the very interpreter we use: a wheel-less dependency has to compile against them.
have_python_headers() {
    local include
    include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null) &&
        [ -f "$include/Python.h" ]
}

check_system() {
    command -v "$python" >/dev/null 2>&1 || missing+=(python3 python3-venv python3-dev)
    have_initdb || missing+=(postgresql)
    # Package tools: transfer reads rpm headers with `rpm -qp`; tests build real packages.
    command -v rpm >/dev/null 2>&1 || missing+=(rpm)
    command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
    # Ubuntu compresses .deb members with zstd.
    command -v zstd >/dev/null 2>&1 || missing+=(zstd)
    # End-to-end tests put each test agent in a network namespace of its own.
    command -v ip >/dev/null 2>&1 || [ -x /sbin/ip ] || missing+=(iproute2)
    command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    [ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
    if command -v "$python" >/dev/null 2>&1; then
        have_python_headers || missing+=(python3-dev)
    fi
    # The web console is built with Node.js and npm (frontend/).
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [ "$for_tests" = 1 ]; then
        [ -x /usr/bin/chromium ] || missing+=(chromium)
        [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
        # The agent package's tests verify its unit with systemd-analyze.
        command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
        # The observability tests run a real Prometheus on the stack and promtool on the alert rules.
        { command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
    fi
}

# Vite 8 needs Node.js 20.19 or newer; distributions before Debian 13 / Ubuntu 25.04 ship an older one.
check_node_version() {
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' && return 0
    say "the web console needs Node.js >= 20.19, but node is $(node --version)."
    say "Install a newer Node.js (e.g. from NodeSource or nodejs.org) and run again."
    exit 1
}

check_python_version() {
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        say "Convoy needs Python >= 3.11, but $python is $("$python" -V 2>&1)."
        say "Install a newer Python and run again with PYTHON=/path/to/python3.11 (or newer)."
        exit 1
    }
}

# Debian splits venv/ensurepip off into python3-venv: the only sure test is to try.
try_create_venv() {
    [ -x "$venv/bin/python" ] && return 0
    say "creating $venv"
    "$python" -m venv "$venv" >/dev/null 2>&1 && return 0
    rm -rf "$venv"
    missing+=(python3-venv)
}

install_missing() {
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "missing: ${missing[*]}. Install them, then run again:"
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing: ${missing[*]}, and there is no apt-get here: install them with the system's package manager."
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    missing=()
}

# The deploy tests render the Kubernetes overlays with kubectl's kustomize. Most distributions ship kubectl
# only from the Kubernetes package repository: when apt has no kubectl to install, say so in one line and go
# on (those tests then fail, naming it), without asking the package servers again on every run.
install_kubectl() {
    [ "$for_tests" = 1 ] && ! command -v kubectl >/dev/null 2>&1 || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        # No package lists at all (a fresh container): fetch them once, or apt knows of nothing.
        local lists=
        eval "$(apt-config shell lists Dir::State::lists/d)"
        compgen -G "${lists:-/var/lib/apt/lists/}*_Packages*" >/dev/null || apt-get update -q || true
        if apt_has_candidate kubectl; then
            say "installing kubectl"
            apt-get update -q && apt-get install -y -q --no-install-recommends kubectl && return 0
        fi
    fi
    say "kubectl is missing and apt cannot install it here: see https://kubernetes.io/docs/tasks/tools/"
}

# Whether apt's lists offer a version of the package (`apt-cache policy` names a candidate).
apt_has_candidate() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

install_requirements() {
    "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        say "$venv was made with $("$venv/bin/python" -V 2>&1); Convoy needs >= 3.11. Run 'make clean' and again."
        exit 1
    }
    if [ ! -f "$venv/.installed" ] || [ requirements.lock -nt "$venv/.installed" ]; then
        say "installing requirements.lock into $venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.lock
        touch "$venv/.installed"
    fi
}

# Makes `services`, `devstack` and `convoy` (from gen/) importable by the venv's python from any directory.
write_pth() {
    local site pth content
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    pth="$site/convoy-repo.pth"
    content=$(printf '%s\n%s' "$root" "$root/gen")
    if [ ! -f "$pth" ] || [ "$(cat "$pth")" != "$content" ]; then
        printf '%s\n' "$content" >"$pth"
    fi
}

# The commands pyproject.toml declares (.venv/bin/convoyctl), running the code of this checkout.
write_scripts() {
    "$venv/bin/python" tools/console_scripts.py "$venv/bin"
}

check_system
if command -v "$python" >/dev/null 2>&1; then
    check_python_version # before installing anything for a Python that will not do
    try_create_venv
fi
install_missing
install_kubectl
check_python_version
check_node_version
[ -x "$venv/bin/python" ] || { say "creating $venv"; "$python" -m venv "$venv"; }
install_requirements
write_pth
write_scripts
