#!/usr/bin/env bash
# Debian's Chromium for the web app's end-to-end tests (Playwright drives it; its own
# browser download cannot be used here). Installs it when missing and we are root;
# otherwise prints the command. Exit 0 when /usr/bin/chromium is there, 1 when not.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
cmd="apt-get install -y chromium chromium-driver"
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> chromium: $CHROMIUM is missing: $cmd" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y chromium chromium-driver >/dev/null; then
        apt-get update >/dev/null && apt-get install -y chromium chromium-driver >/dev/null
    fi
    [[ -x "$CHROMIUM" ]] && exit 0
fi
echo "chromium: $CHROMIUM is missing; install it with: sudo $cmd" >&2
exit 1
