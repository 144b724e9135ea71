#!/usr/bin/env bash
# Build the web app (frontend/) for `make run`: Django serves the static export in
# frontend/out/ at / (docs/frontend.md).
#   - npm ci when node_modules is missing or package-lock.json changed since the last install;
#   - `next build` only when the sources (or the lock) changed since the last build: a hash
#     over them is kept in frontend/out/.build-hash.
# FRONTEND_FORCE_BUILD=1 rebuilds anyway. Without Node, it says so and the API still runs
# (/ then redirects to the API docs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../frontend" 2>/dev/null || { echo "==> frontend: no frontend/, skipping"; exit 0; }

if [[ ! -f package.json ]]; then
    echo "==> frontend: no frontend/package.json, skipping"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "==> frontend: Node.js and npm are not installed: the web app is not built" >&2
    echo "    (install Node 20, e.g. apt-get install -y nodejs npm, then run make run again)" >&2
    exit 0
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 18 )); then
    echo "==> frontend: Node $(node -v) is too old (Node 20 wanted): the web app is not built" >&2
    exit 0
fi

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

export NEXT_TELEMETRY_DISABLED=1
lock_hash="$(hash_of package.json package-lock.json)"
if [[ ! -d node_modules || "$(cat node_modules/.lock-hash 2>/dev/null || true)" != "$lock_hash" ]]; then
    echo "==> frontend: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock_hash" > node_modules/.lock-hash
fi

# Everything that goes into the build (not node_modules, .next, out or the tests).
mapfile -t sources < <(find app components lib public next.config.mjs tsconfig.json package.json package-lock.json \
    -type f ! -name '*.test.ts' 2>/dev/null | LC_ALL=C sort)
source_hash="$(hash_of "${sources[@]}")"
if [[ "${FRONTEND_FORCE_BUILD:-0}" != 1 && -f out/index.html \
      && "$(cat out/.build-hash 2>/dev/null || true)" == "$source_hash" ]]; then
    echo "==> frontend: build is up to date (frontend/out/), skipping"
    exit 0
fi
echo "==> frontend: next build (static export to frontend/out/)"
npx --no-install next build
echo "$source_hash" > out/.build-hash
