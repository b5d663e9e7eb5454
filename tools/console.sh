#!/usr/bin/env bash
# The web console (frontend/): `build` builds frontend/dist when it is older than its sources (make up, the
# browser tests); `check` runs its lint, type check and unit tests (make test). Both first install the
# exact dependencies of package-lock.json when node_modules does not match it.
set -euo pipefail

cd "$(dirname "$0")/../frontend"

say() { echo "console: $*"; }

deps() {
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        say "installing the dependencies of package-lock.json (npm ci)"
        npm ci --no-audit --no-fund --loglevel=error
    fi
}

# Whether dist/ is missing or any source of it changed since it was built.
stale() {
    [ -f dist/index.html ] || return 0
    [ -n "$(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer dist/index.html -print -quit 2>/dev/null)" ]
}

build() {
    if stale; then
        say "building frontend/dist"
        npm run --silent build
    fi
}

check() {
    say "lint and type check"
    npm run --silent lint
    say "unit tests"
    npm test --silent
}

[ $# -gt 0 ] || { echo "usage: tools/console.sh build|check ..." >&2; exit 2; }
deps
for step in "$@"; do
    case "$step" in
        build) build ;;
        check) check ;;
        *) echo "unknown step: $step" >&2; exit 2 ;;
    esac
done
