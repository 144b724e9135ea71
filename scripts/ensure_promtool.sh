#!/usr/bin/env bash
# Debian's Prometheus package, for promtool: the metrics tests check the alert rules, the
# scrape configuration and the dashboard's queries with it (deploy/). Installs it when
# missing and we are root; otherwise prints the command. Exit 0 when promtool is there.
# (The package's service is not started: the tests run promtool only.)
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
cmd="apt-get install -y --no-install-recommends prometheus"
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> promtool is missing: $cmd" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends prometheus >/dev/null; then
        apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null
    fi
    command -v promtool >/dev/null 2>&1 && exit 0
fi
echo "promtool is missing; install it with: sudo $cmd" >&2
exit 1
