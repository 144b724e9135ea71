#!/usr/bin/env bash
# Frontend build hook for `make run`.
# Runs only when frontend/package.json exists AND defines a "build" script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pkg=frontend/package.json
if [[ ! -f "$pkg" ]]; then
    echo "==> frontend: no $pkg, skipping"
    exit 0
fi
if ! .venv/bin/python -c 'import json, sys; sys.exit(0 if "build" in (json.load(open(sys.argv[1])).get("scripts") or {}) else 1)' "$pkg"; then
    echo "==> frontend: $pkg has no build script, skipping"
    exit 0
fi

# ------------------------------------------------------------------------------------
# FRONTEND BUILD HOOK (placeholder, skipped for now; enable with the frontend issue).
# Intended body, Node 20 on PATH:
#
#   echo "==> frontend: npm ci && npm run build"
#   (cd frontend && npm ci --no-audit --no-fund && npm run build)
#
# Skip the rebuild when nothing changed (e.g. a stamp over package-lock.json and the
# sources), and make the web service serve the output (see DESIGN.md section 1).
# ------------------------------------------------------------------------------------
echo "==> frontend: build hook is a placeholder (scripts/frontend_build.sh), skipping"
